/**
 * Builds every publishable package from a clean `dist/` and packs it as npm would publish it.
 * Afterwards `dist/` is removed again (the tarballs hold it), so nothing in the repository can
 * come to depend on a build by accident: here the packages run from their sources.
 *
 *   node scripts/pack.ts [--out <dir>] [--keep-dist]      (default out: ./.packs)
 *
 * Prints one JSON line: `{ "<package name>": { "file": <tarball path>, "size": <bytes>, "unpackedSize": <bytes>, "entryCount": <n> } }`.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const ROOT = path.resolve(import.meta.dirname, "..")
/** The published packages, in build order (core first: the others compile against its declarations). */
export const PACKAGES = ["core", "codegen", "platform-node", "platform-bun"] as const

const outArg = process.argv.indexOf("--out")
const out = path.resolve(outArg === -1 ? path.join(ROOT, ".packs") : process.argv[outArg + 1]!)
fs.mkdirSync(out, { recursive: true })

const bin = (name: string) => path.join(ROOT, "node_modules/.bin", name)

for (const p of PACKAGES) fs.rmSync(path.join(ROOT, "packages", p, "dist"), { recursive: true, force: true })
execFileSync(bin("tsc"), ["-b", ...PACKAGES.map((p) => `packages/${p}/tsconfig.build.json`)], { cwd: ROOT, stdio: "inherit" })

const result: Record<string, { file: string; size: number; unpackedSize: number; entryCount: number }> = {}
for (const p of PACKAGES) {
  // --ignore-scripts: dist was just built; prepack would only rebuild it
  const json = execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", out], {
    cwd: path.join(ROOT, "packages", p),
    encoding: "utf8"
  })
  const [info] = JSON.parse(json) as Array<{ name: string; filename: string; size: number; unpackedSize: number; entryCount: number }>
  if (info === undefined) throw new Error(`npm pack printed nothing for ${p}`)
  result[info.name] = { file: path.join(out, info.filename), size: info.size, unpackedSize: info.unpackedSize, entryCount: info.entryCount }
}
if (!process.argv.includes("--keep-dist")) {
  for (const p of PACKAGES) fs.rmSync(path.join(ROOT, "packages", p, "dist"), { recursive: true, force: true })
}
console.log(JSON.stringify(result))
