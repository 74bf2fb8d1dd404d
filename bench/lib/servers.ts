/** The servers under test: how to start each one (pinned to core 0) and what it speaks. */
import * as fs from "node:fs"
import * as net from "node:net"
import { BENCH, BUN, NODE, pinned, sleep, startProc, TRACE_GC_DIR, type Proc } from "./proc.ts"

export type Impl =
  | "ours-node"
  | "ours-node-base"
  | "ours-bun"
  | "connect-node"
  | "grpc-js"
  | "connect-go"
  | "connect-python"
  | "raw-node"
  | "raw-bun"

/** The default implementations (ours-node-base only runs with `--baseline DIR`, see useBaseline). */
export const IMPLS: ReadonlyArray<Impl> = [
  "ours-node", "ours-bun", "connect-node", "grpc-js", "connect-go", "connect-python", "raw-node", "raw-bun"
]

export interface ServerSpec {
  readonly impl: Impl
  readonly label: string
  /** Transports spoken: HTTP/1.1 and/or h2c. */
  readonly h1: boolean
  readonly h2c: boolean
  readonly protocols: ReadonlyArray<"connect" | "grpc" | "grpc-web">
  /** Can run gc() and report heap on SIGUSR2 (BENCH_ADMIN=1). */
  readonly admin: boolean
  readonly argv: (port: number) => Array<string>
  readonly env?: Record<string, string>
  /** Working directory (default: the repository root). */
  readonly cwd?: string | undefined
  /** Set by setup when the peer could not be brought up. */
  readonly requires?: string
}

/** The flags every Node server of the bench runs with (`--trace-gc-nvp` under BENCH_TRACE_GC). */
const NODE_FLAGS: ReadonlyArray<string> = [
  "--expose-gc", "--disable-warning=ExperimentalWarning", ...(TRACE_GC_DIR === undefined ? [] : ["--trace-gc-nvp"])
]
const ts = (file: string) => (port: number) => [NODE, ...NODE_FLAGS, `${BENCH}/servers/${file}`, "--port", String(port)]
const bunTs = (file: string) => (port: number) => [BUN, `${BENCH}/servers/${file}`, "--port", String(port)]

/**
 * A baseline checkout (`--baseline DIR`: another worktree of this repository with its own
 * `npm install`): ours-node-base runs DIR/bench/servers/ours-node.ts with DIR's node binary,
 * compiled packages and node_modules, and the client driver of the `ours-base` client rows is DIR's.
 */
export interface Baseline {
  readonly dir: string
  readonly bench: string
  readonly node: string
}

let baseline: Baseline | undefined

export const useBaseline = (dir: string): Baseline => {
  const node = fs.existsSync(`${dir}/node_modules/.bin/node`) ? `${dir}/node_modules/.bin/node` : NODE
  baseline = { dir, bench: `${dir}/bench`, node }
  return baseline
}

export const getBaseline = (): Baseline | undefined => baseline

export const SPECS: Record<Impl, ServerSpec> = {
  "ours-node": { impl: "ours-node", label: "ours (Node)", h1: true, h2c: true, protocols: ["connect", "grpc", "grpc-web"], admin: true, argv: ts("ours-node.ts"), requires: "build" },
  "ours-node-base": {
    impl: "ours-node-base", label: "ours (Node, baseline)", h1: true, h2c: true, protocols: ["connect", "grpc", "grpc-web"], admin: true,
    argv: (port) => {
      if (baseline === undefined) throw new Error("ours-node-base needs --baseline DIR")
      return [baseline.node, ...NODE_FLAGS, `${baseline.bench}/servers/ours-node.ts`, "--port", String(port)]
    },
    get cwd() {
      return baseline?.dir
    },
    requires: "baseline"
  },
  "ours-bun": { impl: "ours-bun", label: "ours (Bun)", h1: true, h2c: false, protocols: ["connect", "grpc-web"], admin: true, argv: bunTs("ours-bun.ts"), requires: "build" },
  "connect-node": { impl: "connect-node", label: "connect-node", h1: true, h2c: true, protocols: ["connect", "grpc", "grpc-web"], admin: true, argv: ts("connect-node.ts") },
  "grpc-js": { impl: "grpc-js", label: "grpc-js", h1: false, h2c: true, protocols: ["grpc"], admin: true, argv: ts("grpc-js.ts") },
  "connect-go": {
    impl: "connect-go", label: "connect-go", h1: true, h2c: true, protocols: ["connect", "grpc", "grpc-web"], admin: false,
    argv: (port) => [`${BENCH}/.bin/connect-go-server`, "-port", String(port)], env: { GOMAXPROCS: "1" }, requires: "connect-go"
  },
  "connect-python": {
    impl: "connect-python", label: "connect-python", h1: true, h2c: true, protocols: ["connect", "grpc", "grpc-web"], admin: false,
    argv: (port) => [`${BENCH}/.venv/bin/python`, `${BENCH}/peers/connect-python/server.py`, "--port", String(port)], requires: "connect-python"
  },
  "raw-node": { impl: "raw-node", label: "raw node echo", h1: true, h2c: true, protocols: ["connect", "grpc", "grpc-web"], admin: true, argv: ts("raw-node.ts") },
  "raw-bun": { impl: "raw-bun", label: "raw Bun echo", h1: true, h2c: false, protocols: ["connect", "grpc-web"], admin: true, argv: bunTs("raw-bun.ts") }
}

export interface Running {
  readonly spec: ServerSpec
  readonly port: number
  readonly proc: Proc
  readonly url: string
}

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1")
    s.once("connect", () => {
      s.destroy()
      resolve(true)
    })
    s.once("error", () => resolve(false))
  })

/** True when nothing listens on `port` and it can be bound on 127.0.0.1. */
export const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = net.createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/** Starts a server pinned to core 0 and waits until its port accepts connections. */
export const startServer = async (spec: ServerSpec, port: number): Promise<Running | string> => {
  if (TRACE_GC_DIR !== undefined) fs.mkdirSync(TRACE_GC_DIR, { recursive: true })
  const tee = TRACE_GC_DIR === undefined ? undefined : `${TRACE_GC_DIR}/${spec.impl}.log`
  const proc = startProc(pinned(0, spec.argv(port)), { ...process.env, BENCH_ADMIN: "1", ...spec.env }, spec.cwd, tee)
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (proc.exited) return `exited at start: ${proc.log.slice(-5).join(" | ")}`
    if (await portOpen(port)) return { spec, port, proc, url: `http://127.0.0.1:${port}` }
    await sleep(100)
  }
  proc.child.kill("SIGKILL")
  return `did not listen on ${port} within 30 s: ${proc.log.slice(-5).join(" | ")}`
}

export const stopServer = async (r: Running): Promise<void> => {
  if (r.proc.exited) return
  r.proc.child.kill("SIGTERM")
  for (let i = 0; i < 30 && !r.proc.exited; i++) await sleep(100)
  if (!r.proc.exited) r.proc.child.kill("SIGKILL")
}
