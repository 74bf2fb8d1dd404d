/**
 * Every TypeScript snippet of the README compiles: the snippets are written out beside the Eliza
 * example's sources (they import its generated code the way a user's project would) and
 * type-checked with the repository's strict settings.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { root, tsBlocks, typecheck } from "./snippets.ts"

const snippets = tsBlocks(fs.readFileSync(path.join(root, "README.md"), "utf8"))

describe("README", () => {
  it("has TypeScript snippets", () => {
    expect(snippets.length).toBeGreaterThanOrEqual(6)
  })

  it("compiles every snippet", () => {
    const files = Object.fromEntries(snippets.map((code, i) => [`snippet${i + 1}.ts`, code]))
    expect(typecheck(path.join(root, "examples/eliza/readme-snippets"), files)).toBe("")
  }, 120_000)
})
