/**
 * Bundles the Worker (`src/worker.ts`) into one ES module, `dist/worker.js`, that workerd runs
 * (`config.capnp`) or wrangler uploads as is (`wrangler.toml`). `node:` imports stay imports:
 * the `nodejs_compat` flag provides them.
 *
 *   node src/build.ts
 */
import * as path from "node:path"
import * as esbuild from "esbuild"

const dir = path.resolve(import.meta.dirname, "..")

/** The bundle's path. */
export const outfile = path.join(dir, "dist/worker.js")

/** Writes `dist/worker.js`. */
export const build = async (): Promise<string> => {
  await esbuild.build({
    entryPoints: [path.join(dir, "src/worker.ts")],
    outfile,
    bundle: true,
    format: "esm",
    // Workers are neither Node nor a browser: resolve packages by their ES module entries
    platform: "neutral",
    mainFields: ["module", "main"],
    // this repository runs the packages from their sources (see .npmrc); an app that installed
    // them from npm leaves this out and gets their compiled dist/
    conditions: ["workerd", "worker", "@connect-effect/source"],
    external: ["node:*"],
    target: "es2022",
    minify: true,
    sourcemap: false,
    logLevel: "warning"
  })
  return outfile
}

if (import.meta.main) {
  await build()
  console.log(`wrote ${path.relative(process.cwd(), outfile)}`)
}
