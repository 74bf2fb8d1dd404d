/**
 * The published shape of every package stays what users are promised: each top-level module of
 * `src/` is a public entry in `exports` (with the sources condition for this repository, and
 * compiled `types`/`default` for users), `internal/*` stays private, and no package depends on
 * something it does not import.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"

const ROOT = path.resolve(import.meta.dirname, "..")
const PACKAGES = ["core", "platform-node", "platform-bun", "codegen"]

interface Manifest {
  readonly name: string
  readonly type?: string
  readonly sideEffects?: boolean | ReadonlyArray<string>
  readonly engines?: Record<string, string>
  readonly files?: ReadonlyArray<string>
  readonly exports: Record<string, unknown>
  readonly dependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
}

const manifest = (p: string): Manifest => JSON.parse(fs.readFileSync(path.join(ROOT, "packages", p, "package.json"), "utf8"))

/** Packages a package's sources import (bare specifiers, reduced to the package name). */
const importedPackages = (p: string): Set<string> => {
  const names = new Set<string>()
  const dir = path.join(ROOT, "packages", p, "src")
  for (const f of fs.readdirSync(dir, { recursive: true }) as Array<string>) {
    if (!f.endsWith(".ts")) continue
    for (const m of fs.readFileSync(path.join(dir, f), "utf8").matchAll(/^(?:(?:import|export|\})[^\n"]*?\bfrom\s+|import\s+)"([^".][^"]*)"/gm)) {
      const spec = m[1]!
      if (spec.startsWith("node:") || spec.startsWith("#")) continue
      names.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!)
    }
  }
  return names
}

/** Folders of src/ whose capitalised modules are public entries. */
const PUBLIC_DIRS = ["", "adapters", "extensions"]

describe.each(PACKAGES)("packages/%s/package.json", (p) => {
  const pkg = manifest(p)

  it("is an ESM package without side effects, with engines and a files whitelist (no tests)", () => {
    expect(pkg.type).toBe("module")
    // the plugin's entry point runs the plugin when imported; every library module is pure
    expect(pkg.sideEffects).toEqual(p === "codegen" ? ["./bin/protoc-gen-connect-effect.js", "./dist/main.js", "./src/main.ts"] : false)
    expect(pkg.engines?.node).toMatch(/^>=\d+/)
    expect(pkg.files?.some((f) => f.startsWith("test"))).toBe(false)
    expect(pkg.files).toContain("dist/**/*.js")
    expect(fs.existsSync(path.join(ROOT, "packages", p, "README.md"))).toBe(true)
    expect(fs.existsSync(path.join(ROOT, "packages", p, "LICENSE"))).toBe(true)
  })

  it("exports every public module of src/ (sources, types, default) and nothing else", () => {
    // public modules: the capitalised files at the top of src/ and in the public folders
    // (adapters/, extensions/); protocol*/ and internal/ are implementation
    const modules = PUBLIC_DIRS.flatMap((dir) => {
      const full = path.join(ROOT, "packages", p, "src", dir)
      if (!fs.existsSync(full)) return []
      return fs.readdirSync(full)
        .filter((f) => f.endsWith(".ts") && /^[A-Z]/.test(f))
        .map((f) => ({ name: f.slice(0, -3), file: dir === "" ? f.slice(0, -3) : `${dir}/${f.slice(0, -3)}` }))
    })
    const expected = ["./package.json", ".", ...modules.map((m) => `./${m.name}`), "./internal/*"]
    expect(Object.keys(pkg.exports).sort()).toEqual(expected.sort())
    expect(pkg.exports["./internal/*"]).toBeNull()
    for (const m of [{ name: "index", file: "index" }, ...modules]) {
      expect(pkg.exports[m.name === "index" ? "." : `./${m.name}`]).toEqual({
        "@connect-effect/source": `./src/${m.file}.ts`,
        types: `./dist/${m.file}.d.ts`,
        default: `./dist/${m.file}.js`
      })
    }
  })

  it("index re-exports every public module", () => {
    const index = fs.readFileSync(path.join(ROOT, "packages", p, "src/index.ts"), "utf8")
    for (const key of Object.keys(pkg.exports)) {
      if (key === "." || key === "./package.json" || key === "./internal/*") continue
      const source = (pkg.exports[key] as Record<string, string>)["@connect-effect/source"]!.replace("./src/", "./")
      expect(index).toContain(`export * as ${key.slice(2)} from "${source}"`)
    }
  })

  it("declares exactly the packages its sources import (peers for effect, protobuf and core)", () => {
    const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})])
    const imported = importedPackages(p)
    imported.delete(pkg.name)
    expect([...declared].sort()).toEqual([...imported].sort())
    for (const peer of ["effect", "@bufbuild/protobuf", "@connect-effect/core"]) {
      if (p !== "codegen") expect(pkg.dependencies?.[peer]).toBeUndefined()
    }
  })
})
