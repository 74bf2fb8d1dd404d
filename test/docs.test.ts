/**
 * Every ```ts block of every docs/*.md page compiles under the repository's strict settings
 * (the mechanism of the README test, see ./snippets.ts). Blocks fenced as ```ts fragment are
 * skipped. One `tsc` run checks all pages; each page is its own test case. A deliberately broken
 * canary file in the same run proves that errors are reported.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { root, tsBlocks, typecheck } from "./snippets.ts"

const docsDir = path.join(root, "docs")
const pages = fs.readdirSync(docsDir).filter((f) => f.endsWith(".md")).sort()
const blocks = pages.map((page) => ({ page, snippets: tsBlocks(fs.readFileSync(path.join(docsDir, page), "utf8")) }))
const fileName = (page: string, i: number) => `${page.replace(/\.md$/, "").replace(/[^a-zA-Z0-9]/g, "_")}_${i + 1}.ts`

let output = ""

beforeAll(() => {
  const files: Record<string, string> = { "canary_broken.ts": `export const broken: number = "not a number"\n` }
  for (const { page, snippets } of blocks) snippets.forEach((code, i) => (files[fileName(page, i)] = code))
  output = typecheck(path.join(root, "examples/eliza/docs-snippets"), files)
}, 300_000)

/** The compiler's lines about one file (each error starts with the file name). */
const errorsOf = (file: string) =>
  output.split("\n").filter((line) => line.startsWith(`${file}(`) || line.includes(`/${file}(`))

describe("docs", () => {
  it("the type-check catches a broken snippet (canary)", () => {
    expect(errorsOf("canary_broken.ts").join("\n")).toContain("error TS2322")
  })

  it("reports no error outside the snippet files (configuration, shared imports)", () => {
    const known = ["canary_broken.ts", ...blocks.flatMap(({ page, snippets }) => snippets.map((_, i) => fileName(page, i)))]
    const stray = output.split("\n").filter((line) => line.includes("error TS") && !known.some((f) => line.includes(`/${f}(`) || line.startsWith(`${f}(`)))
    expect(stray.join("\n")).toBe("")
  })

  it("has guides with TypeScript snippets", () => {
    expect(blocks.reduce((n, b) => n + b.snippets.length, 0)).toBeGreaterThanOrEqual(20)
  })

  for (const { page, snippets } of blocks) {
    it(`${page}: every ts block compiles (${snippets.length})`, () => {
      const errors = snippets.flatMap((_, i) => errorsOf(fileName(page, i)))
      expect(errors.join("\n")).toBe("")
    })
  }
})
