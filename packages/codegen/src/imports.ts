/**
 * A small import manager for generated files. protoplugin's own import handling only
 * knows named imports; generated connect-effect code also needs namespace imports
 * (`import * as Layer from "effect/Layer"`) and readable aliases
 * (`ElizaService as ElizaServiceDescriptor`), so imports are collected and rendered here.
 *
 * @since 0.1.0
 */
import type { EcmaScriptPluginOptions } from "@bufbuild/protoplugin"

/**
 * How the import paths of a file are rewritten (plugin options `rewrite_imports` and `import_extension`).
 *
 * @category options
 * @since 0.1.0
 */
export interface ImportPathOptions {
  readonly rewriteImports: EcmaScriptPluginOptions["rewriteImports"]
  readonly importExtension: EcmaScriptPluginOptions["importExtension"]
}

interface NamedEntry {
  readonly name: string
  readonly local: string
  value: boolean
}

interface ModuleEntry {
  readonly from: string
  namespace: { local: string; value: boolean } | undefined
  readonly named: Array<NamedEntry>
}

const relativePath = /^\.{1,2}\//

/**
 * Collects the imports of one generated file. Local identifiers are allocated on first
 * request; a name that is already taken (by an export of the file or an earlier import)
 * gets a `$1`, `$2`, … suffix (`$` cannot appear in protobuf names, so this never clashes).
 *
 * @category utils
 * @since 0.1.0
 */
export class ImportManager {
  readonly #taken: Set<string>
  readonly #modules = new Map<string, ModuleEntry>()
  /** @param taken identifiers declared by the file itself */
  constructor(taken: Iterable<string>) {
    this.#taken = new Set(taken)
  }

  /** Reserves a name declared by the file itself (an export). */
  reserve(name: string): void {
    this.#taken.add(name)
  }

  /** Whether an identifier is already in use. */
  isTaken(name: string): boolean {
    return this.#taken.has(name)
  }

  /** `import * as <local> from "<from>"`; returns the local identifier. */
  namespace(preferred: string, from: string, typeOnly: boolean): string {
    const m = this.#module(from)
    if (m.namespace === undefined) {
      m.namespace = { local: this.#allocate(preferred), value: !typeOnly }
    } else if (!typeOnly) {
      m.namespace.value = true
    }
    return m.namespace.local
  }

  /** `import { <name> as <local> } from "<from>"`; returns the local identifier. */
  named(name: string, from: string, typeOnly: boolean, preferredLocal: string = name): string {
    const m = this.#module(from)
    const existing = m.named.find((n) => n.name === name)
    if (existing !== undefined) {
      if (!typeOnly) existing.value = true
      return existing.local
    }
    const entry: NamedEntry = { name, local: this.#allocate(preferredLocal), value: !typeOnly }
    m.named.push(entry)
    return entry.local
  }

  /**
   * Renders the import statements, in the order modules were first requested. `importer`
   * is the project-relative path of the generated file (e.g. `./foo/bar_connect.ts`).
   */
  render(importer: string, options: ImportPathOptions): Array<string> {
    const lines: Array<string> = []
    for (const m of this.#modules.values()) {
      const from = JSON.stringify(makeRelative(importer, rewriteImportPath(m.from, options)))
      if (m.namespace !== undefined) {
        lines.push(`import ${m.namespace.value ? "" : "type "}* as ${m.namespace.local} from ${from};`)
      }
      const values = m.named.filter((n) => n.value)
      const types = m.named.filter((n) => !n.value)
      if (values.length > 0) lines.push(`import { ${values.map(specifier).join(", ")} } from ${from};`)
      if (types.length > 0) lines.push(`import type { ${types.map(specifier).join(", ")} } from ${from};`)
    }
    return lines
  }

  #module(from: string): ModuleEntry {
    let m = this.#modules.get(from)
    if (m === undefined) {
      m = { from, namespace: undefined, named: [] }
      this.#modules.set(from, m)
    }
    return m
  }

  #allocate(preferred: string): string {
    let local = preferred
    for (let i = 1; this.#taken.has(local); i++) local = `${preferred}$${i}`
    this.#taken.add(local)
    return local
  }
}

const specifier = (n: NamedEntry): string => (n.name === n.local ? n.name : `${n.name} as ${n.local}`)

/**
 * Applies `rewrite_imports` (first matching pattern wins) and `import_extension` to an
 * import path, with the same semantics as protoc-gen-es: relative paths are given as
 * project-relative `./…/x.js` and get their extension replaced (or removed).
 *
 * @category utils
 * @since 0.1.0
 */
export const rewriteImportPath = (importPath: string, options: ImportPathOptions): string => {
  let path = importPath
  for (const { pattern, target } of options.rewriteImports) {
    if (globToRegExp(pattern).test(path)) {
      path = relativePath.test(path) ? target.replace(/\/$/, "") + path.replace(relativePath, "/") : target
      break
    }
  }
  if (relativePath.test(path) && path.endsWith(".js")) {
    const base = path.slice(0, -3)
    switch (options.importExtension) {
      case "none":
        return base
      case "js":
      case "ts":
        return `${base}.${options.importExtension}`
    }
  }
  return path
}

/** `*` matches within one path segment, `**\/` any number of segments. */
const globToRegExp = (glob: string): RegExp => {
  let source = "^"
  for (let i = 0; i < glob.length; i++) {
    const c = glob.charAt(i)
    if (c === "*") {
      if (glob.startsWith("**/", i)) {
        source += "([^/]+/)*"
        i += 2
      } else {
        source += "[^/]*"
      }
    } else {
      source += c.replace(/[.+?^${}()|[\]\\]/g, "\\$&")
    }
  }
  return new RegExp(source + "$")
}

/**
 * Makes a project-relative import path relative to the importing file; package
 * imports (`effect/Layer`) are returned unchanged.
 *
 * @category utils
 * @since 0.1.0
 */
export const makeRelative = (importer: string, importPath: string): string => {
  if (!relativePath.test(importPath)) return importPath
  const segments = (p: string) => p.replace(/^\.\//, "").split("/").filter((s) => s.length > 0)
  const from = segments(importer).slice(0, -1)
  const to = segments(importPath)
  let common = 0
  while (common < from.length && common < to.length - 1 && from[common] === to[common]) common++
  const up = from.slice(common).map(() => "..")
  const rel = [...up, ...to.slice(common)].join("/")
  return relativePath.test(rel) ? rel : `./${rel}`
}
