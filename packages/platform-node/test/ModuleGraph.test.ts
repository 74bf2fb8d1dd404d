import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

const fixture = fileURLToPath(new URL("./fixtures/moduleGraph.ts", import.meta.url))
const packagesDir = fileURLToPath(new URL("../../", import.meta.url))

/** The module URLs a fresh Node process loads for these imports (the library's TypeScript sources). */
const loadedBy = (specifiers: ReadonlyArray<string>): Array<string> => {
  const r = spawnSync(
    process.execPath,
    ["--conditions=@connect-effect/source", "--disable-warning=ExperimentalWarning", fixture, ...specifiers],
    { encoding: "utf8", timeout: 60_000 }
  )
  expect(r.stderr).toBe("")
  expect(r.status).toBe(0)
  return JSON.parse(r.stdout) as Array<string>
}

/** Every entry point a package exports (`@connect-effect/core/Router`, ...). */
const entryPoints = (pkg: string): Array<string> => {
  const json = JSON.parse(fs.readFileSync(`${packagesDir}/${pkg}/package.json`, "utf8")) as { exports: Record<string, unknown> }
  return Object.keys(json.exports)
    .filter((k) => k !== "./package.json" && !k.includes("*"))
    .map((k) => `@connect-effect/${pkg}${k === "." ? "" : k.slice(1)}`)
}

/** The entry points that load `effect/Schema` on purpose: the schema itself and the `effect/http` adapter (and the index, which re-exports both). */
const loadsSchema = new Set(["@connect-effect/core", "@connect-effect/core/ConnectErrorSchema", "@connect-effect/core/HttpApp"])

const schemaModules = (urls: ReadonlyArray<string>) => urls.filter((u) => /\/effect\/dist\/Schema[A-Za-z]*\.js$/.test(u))

describe("module graph", () => {
  it("no server, client or extension entry point loads effect/Schema (its graph costs about 6 MB of heap per process)", () => {
    // platform-bun's modules import only types from Bun, so Node loads them too
    const specifiers = [...entryPoints("core"), ...entryPoints("platform-node"), ...entryPoints("platform-bun")]
      .filter((s) => !loadsSchema.has(s))
    expect(specifiers).toContain("@connect-effect/core/Router")
    expect(specifiers).toContain("@connect-effect/platform-node/NodeServer")
    expect(specifiers).toContain("@connect-effect/platform-bun/BunServer")
    const urls = loadedBy(specifiers)
    // the imports did load: the library's own modules and Effect's are in the list
    expect(urls.some((u) => u.endsWith("/packages/core/src/ConnectError.ts"))).toBe(true)
    expect(urls.some((u) => u.endsWith("/packages/platform-node/src/NodeServer.ts"))).toBe(true)
    expect(urls.some((u) => u.endsWith("/packages/platform-bun/src/BunServer.ts"))).toBe(true)
    expect(urls.some((u) => /\/effect\/dist\/Effect\.js$/.test(u))).toBe(true)
    expect(schemaModules(urls)).toEqual([])
  })

  it("ConnectErrorSchema, imported on purpose, does load it", () => {
    const urls = loadedBy(["@connect-effect/core/ConnectErrorSchema"])
    expect(urls.some((u) => /\/effect\/dist\/Schema\.js$/.test(u))).toBe(true)
  })
})
