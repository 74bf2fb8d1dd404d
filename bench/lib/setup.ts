/**
 * Brings up what the benchmark needs on a fresh clone: h2load (apt), generated TypeScript,
 * the connect-go peer (go build), the connect-python peer (venv + pip). Every step records a
 * note instead of throwing, so a missing peer becomes a line in RESULTS.md.
 */
import * as fs from "node:fs"
import { BENCH, BUF, ROOT, run, which } from "./proc.ts"

export interface SetupNote {
  readonly step: string
  readonly ok: boolean
  readonly note: string
}

const tail = (s: string, n = 600) => (s.length > n ? "…" + s.slice(-n) : s).trim()

const step = async (notes: Array<SetupNote>, name: string, f: () => Promise<string>): Promise<boolean> => {
  const t0 = Date.now()
  process.stderr.write(`[bench] setup: ${name} … `)
  try {
    const note = await f()
    process.stderr.write(`ok (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`)
    notes.push({ step: name, ok: true, note })
    return true
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e)
    process.stderr.write(`FAILED: ${msg}\n`)
    notes.push({ step: name, ok: false, note: msg })
    return false
  }
}

const must = async (argv: ReadonlyArray<string>, cwd: string, timeoutMs = 600_000, env?: NodeJS.ProcessEnv) => {
  const r = await run(argv, { cwd, timeoutMs, ...(env ? { env } : {}) })
  if (r.code !== 0) throw new Error(`\`${argv.join(" ")}\` exited ${r.code}: ${tail(r.stderr || r.stdout)}`)
  return r
}

export const setup = async (): Promise<Array<SetupNote>> => {
  const notes: Array<SetupNote> = []

  await step(notes, "h2load", async () => {
    if (which("h2load") !== undefined) return "present"
    if (process.getuid?.() !== 0) throw new Error("h2load is missing and this is not root: apt-get install nghttp2-client")
    await must(["apt-get", "update", "-qq"], ROOT)
    await must(["apt-get", "install", "-y", "-qq", "nghttp2-client"], ROOT, 600_000, { ...process.env, DEBIAN_FRONTEND: "noninteractive" })
    return "installed nghttp2-client with apt-get"
  })

  await step(notes, "npm peers", async () => {
    for (const p of ["@connectrpc/connect", "@connectrpc/connect-node", "@grpc/grpc-js"]) {
      if (!fs.existsSync(`${ROOT}/node_modules/${p}/package.json`)) throw new Error(`${p} is not installed: run npm install`)
    }
    const v = (p: string) => JSON.parse(fs.readFileSync(`${ROOT}/node_modules/${p}/package.json`, "utf8")).version
    return `@connectrpc/connect-node ${v("@connectrpc/connect-node")}, @grpc/grpc-js ${v("@grpc/grpc-js")}`
  })

  await step(notes, "codegen (TypeScript)", async () => {
    await must([BUF, "generate"], BENCH)
    return "bench/gen from protoc-gen-es + protoc-gen-connect-effect"
  })

  await step(notes, "connect-go", async () => {
    const go = which("go")
    if (go === undefined) throw new Error("go is not installed")
    const dir = `${BENCH}/peers/connect-go`
    const bin = `${BENCH}/.bin`
    fs.mkdirSync(bin, { recursive: true })
    await must(["go", "build", "-o", `${bin}/protoc-gen-go`, "google.golang.org/protobuf/cmd/protoc-gen-go"], dir)
    await must(["go", "build", "-o", `${bin}/protoc-gen-connect-go`, "connectrpc.com/connect/cmd/protoc-gen-connect-go"], dir)
    await must([BUF, "generate"], dir)
    await must(["go", "build", "-o", `${bin}/connect-go-server`, "."], dir)
    const v = await run(["go", "list", "-m", "-f", "{{.Version}}", "connectrpc.com/connect"], { cwd: dir })
    const gv = await run(["go", "version"], { cwd: dir })
    return `connectrpc.com/connect ${v.stdout.trim()}, ${gv.stdout.trim()}`
  })

  await step(notes, "connect-python", async () => {
    const py = which("python3")
    if (py === undefined) throw new Error("python3 is not installed")
    const venv = `${BENCH}/.venv`
    const req = fs.readFileSync(`${BENCH}/peers/connect-python/requirements.txt`, "utf8")
    const marker = `${venv}/.bench-requirements`
    if (!fs.existsSync(`${venv}/bin/python`)) await must([py, "-m", "venv", venv], BENCH)
    if (!fs.existsSync(marker) || fs.readFileSync(marker, "utf8") !== req) {
      await must([`${venv}/bin/pip`, "install", "-q", "--disable-pip-version-check", "-r", `${BENCH}/peers/connect-python/requirements.txt`], BENCH)
      fs.writeFileSync(marker, req)
    }
    await must([BUF, "generate"], `${BENCH}/peers/connect-python`)
    const v = await run([`${venv}/bin/python`, "-c", "import sys, importlib.metadata as m; print('connectrpc', m.version('connectrpc'), 'hypercorn', m.version('hypercorn'), 'python', sys.version.split()[0])"])
    return v.stdout.trim()
  })

  return notes
}

/**
 * `npm run build` in DIR (`tsc -b` of the packages): the bench runs the compiled packages, as a
 * user's install does (see runInstalledPackages). Runs even with --skip-setup, so a server never
 * loads a dist/ older than the sources; up to date, it takes a few seconds.
 */
export const buildPackages = async (dir: string = ROOT): Promise<SetupNote> => {
  const notes: Array<SetupNote> = []
  await step(notes, "build", async () => {
    await must(["npm", "run", "--silent", "build"], dir)
    return `${dir === ROOT ? "the working tree's" : `${dir}'s`} packages compiled to dist/`
  })
  return notes[0]!
}

/**
 * Checks a `--baseline DIR` checkout (another worktree of this repository with its own
 * `npm install`), compiles its packages (the baseline server runs them as installed, like ours)
 * and generates DIR/bench/gen with DIR's own buf and plugins when it is missing, as the
 * "codegen (TypeScript)" step does for the working tree. Runs even with --skip-setup.
 */
export const setupBaseline = async (dir: string): Promise<SetupNote> => {
  const notes: Array<SetupNote> = []
  await step(notes, "baseline", async () => {
    for (const f of ["bench/servers/ours-node.ts", "bench/driver/client.ts", "bench/buf.gen.yaml", "node_modules/@connect-effect/core"]) {
      if (!fs.existsSync(`${dir}/${f}`)) throw new Error(`${dir}/${f} is missing: --baseline wants a checkout of this repository with npm install done`)
    }
    await must(["npm", "run", "--silent", "build"], dir)
    let gen = "its bench/gen as checked out"
    if (!fs.existsSync(`${dir}/bench/gen/bench/v1/ping_connect.ts`)) {
      const buf = fs.existsSync(`${dir}/node_modules/.bin/buf`) ? `${dir}/node_modules/.bin/buf` : BUF
      // the plugins are `#!/usr/bin/env node` scripts: DIR's node first on PATH, as npm run does for the working tree
      await must([buf, "generate"], `${dir}/bench`, 600_000, { ...process.env, PATH: `${dir}/node_modules/.bin:${process.env["PATH"] ?? ""}` })
      gen = "bench/gen generated with its own buf generate"
    }
    const head = await run(["git", "-C", dir, "rev-parse", "HEAD"])
    // npm install rewrites package-lock.json in an older checkout: that alone is not a change
    const dirty = await run(["git", "-C", dir, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!package-lock.json"])
    const commit = head.code === 0 ? `${head.stdout.trim()}${dirty.stdout.trim() ? " (with uncommitted changes)" : ""}` : "unknown commit"
    return `${commit}; packages compiled; ${gen}`
  })
  return notes[0]!
}
