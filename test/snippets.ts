/**
 * Shared by the README and docs tests: extracts the TypeScript blocks of a Markdown page and
 * type-checks them with the repository's strict settings.
 *
 * A block fenced as ```ts is compiled as a standalone module. A block that is genuinely not
 * standalone (a fragment of a larger program) is fenced as ```ts fragment and skipped.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

export const root = path.resolve(import.meta.dirname, "..")

/** The ```ts blocks of a Markdown text, also indented ones (in list items), dedented; ```ts fragment blocks excluded. */
export const tsBlocks = (markdown: string): Array<string> =>
  [...markdown.matchAll(/^([ \t]*)```ts\n([\s\S]*?)^\1```/gm)].map((m) => {
    const indent = m[1]!
    return m[2]!.split("\n").map((line) => line.startsWith(indent) ? line.slice(indent.length) : line).join("\n")
  })

/**
 * Writes `files` into `dir` (beside the Eliza example's sources: snippets import its generated
 * code as `../gen/…` and its implementation as `./ElizaLive.ts`, the way a user's project would)
 * and runs `tsc` on them. Returns the compiler output: empty when everything compiles.
 */
export const typecheck = (dir: string, files: Record<string, string>): string => {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, "ElizaLive.ts"), `export { ElizaLive } from "../src/ElizaLive.ts"\n`)
  for (const [name, code] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), code)
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({ extends: path.relative(dir, path.join(root, "tsconfig.json")), include: ["./*.ts"] })
  )
  try {
    execFileSync(path.join(root, "node_modules/.bin/tsc"), ["-p", dir], { encoding: "utf8" })
    return ""
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e)
  }
}
