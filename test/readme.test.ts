/**
 * Every TypeScript snippet of the README compiles: the snippets are written out beside the Eliza
 * example's sources (they import its generated code the way a user's project would) and
 * type-checked with the repository's strict settings.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "..")
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)

describe("README", () => {
  it("has TypeScript snippets", () => {
    expect(snippets.length).toBeGreaterThanOrEqual(6)
  })

  it("compiles every snippet", () => {
    const dir = path.join(root, "examples/eliza/readme-snippets")
    fs.rmSync(dir, { recursive: true, force: true })
    fs.mkdirSync(dir, { recursive: true })
    // the snippets import `./ElizaLive.ts` as a user's src folder would
    fs.writeFileSync(path.join(dir, "ElizaLive.ts"), `export { ElizaLive } from "../src/ElizaLive.ts"\n`)
    snippets.forEach((code, i) => fs.writeFileSync(path.join(dir, `snippet${i + 1}.ts`), code))
    fs.writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({ extends: "../../../tsconfig.json", include: ["./*.ts"] })
    )
    let output = ""
    try {
      execFileSync(path.join(root, "node_modules/.bin/tsc"), ["-p", dir], { encoding: "utf8" })
    } catch (e) {
      output = String((e as { stdout?: string }).stdout ?? e)
    }
    expect(output).toBe("")
  }, 120_000)
})
