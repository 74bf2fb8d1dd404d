/** Processes: running commands, spawning pinned servers, reading CPU time and RSS from /proc. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"

export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "")
export const BENCH = `${ROOT}/bench`
export const NODE = `${ROOT}/node_modules/.bin/node`
export const BUN = `${ROOT}/node_modules/.bin/bun`
export const BUF = `${ROOT}/node_modules/.bin/buf`
/** The export condition that resolves the workspace packages to their TypeScript sources (see .npmrc). */
const SOURCE_CONDITION = "--conditions=@connect-effect/source"

/**
 * The bench measures this repository's packages the way a user's install runs them: from their
 * compiled `dist/` (see `buildPackages`), not from the TypeScript sources that .npmrc's
 * `node-options` resolve for every npm script inside the repository. Loading the sources costs
 * a server about 3.6 MB more heap (the TypeScript text and Node's type stripper), which the
 * installed packages do not carry. Called once at start-up: every process the bench starts
 * inherits the environment.
 */
export const runInstalledPackages = (): void => {
  const options = (process.env["NODE_OPTIONS"] ?? "").split(/\s+/).filter((o) => o !== "" && o !== SOURCE_CONDITION)
  if (options.length === 0) delete process.env["NODE_OPTIONS"]
  else process.env["NODE_OPTIONS"] = options.join(" ")
}

/**
 * `BENCH_TRACE_GC=DIR`: the Node servers run with `--trace-gc-nvp` and every line a server prints
 * is appended, prefixed with the wall-clock milliseconds, to DIR/<impl>.log together with a
 * `### <row> <rep> start|end` mark around each measured window, so a row's collections can be
 * read afterwards (how many, why, what each promoted). Off by default: the traces cost CPU.
 */
export const TRACE_GC_DIR: string | undefined = process.env.BENCH_TRACE_GC || undefined

/** Clock ticks per second of /proc/<pid>/stat (CLK_TCK, 100 on Linux). */
const CLK_TCK = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" })
  const n = Number(r.stdout?.trim())
  return Number.isFinite(n) && n > 0 ? n : 100
})()

/** CPU pinning: servers on core 0, load generators on core 1 (needs ≥ 2 cores and taskset). */
export const pinning = (() => {
  const hasTaskset = spawnSync("taskset", ["--version"]).status === 0
  const cores = os.availableParallelism()
  return { enabled: hasTaskset && cores >= 2, hasTaskset, cores }
})()

export const pinned = (core: number, argv: ReadonlyArray<string>): Array<string> =>
  pinning.enabled ? ["taskset", "-c", String(core), ...argv] : [...argv]

export interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to completion (async, so the harness stays responsive). */
export const run = (
  argv: ReadonlyArray<string>,
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}
): Promise<RunResult> =>
  new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
      stdio: [options.input !== undefined ? "pipe" : "ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    if (options.input !== undefined) child.stdin!.end(options.input)
    const timer = options.timeoutMs !== undefined
      ? setTimeout(() => {
        stderr += `\n[bench] timed out after ${options.timeoutMs} ms`
        child.kill("SIGKILL")
      }, options.timeoutMs)
      : undefined
    child.on("error", (e) => {
      if (timer) clearTimeout(timer)
      resolve({ code: -1, stdout, stderr: stderr + String(e) })
    })
    child.on("close", (code) => {
      if (timer) clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

export const which = (cmd: string): string | undefined => {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" })
  return r.status === 0 ? r.stdout.trim() : undefined
}

const childrenOf = (pid: number): Array<number> => {
  const out: Array<number> = []
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const c = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim()
      if (c !== "") for (const x of c.split(/\s+/)) out.push(Number(x))
    }
  } catch {
    // the process is gone
  }
  return out
}

/** utime + stime of a process and its descendants, in microseconds. */
/** utime + stime in clock ticks from a /proc `stat` file (a process's or one thread's); throws when it is gone. */
const statTicks = (path: string): number => {
  const stat = fs.readFileSync(path, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  // fields[0] is field 3 (state): utime is field 14, stime field 15
  return Number(fields[11]) + Number(fields[12])
}

export const cpuMicros = (pid: number): number => {
  let ticks = 0
  const stack = [pid]
  while (stack.length > 0) {
    const p = stack.pop()!
    try {
      ticks += statTicks(`/proc/${p}/stat`)
    } catch {
      continue
    }
    stack.push(...childrenOf(p))
  }
  return (ticks * 1e6) / CLK_TCK
}

/**
 * CPU (utime + stime, microseconds) of a process's threads other than its main thread: V8's
 * concurrent GC and compiler threads and libuv's pool for a Node server. Telling it apart from
 * the main thread shows where CPU goes that a main-thread profile cannot see (concurrent marking).
 */
export const helperThreadsCpuMicros = (pid: number): number => {
  let ticks = 0
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      if (tid === String(pid)) continue
      try {
        ticks += statTicks(`/proc/${pid}/task/${tid}/stat`)
      } catch {
        // the thread ended
      }
    }
  } catch {
    // the process is gone
  }
  return (ticks * 1e6) / CLK_TCK
}

/** Resident set size of a process and its descendants, in bytes. */
export const rssBytes = (pid: number): number => {
  let kb = 0
  const stack = [pid]
  while (stack.length > 0) {
    const p = stack.pop()!
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, "utf8"))
      if (m) kb += Number(m[1])
    } catch {
      continue
    }
    stack.push(...childrenOf(p))
  }
  return kb * 1024
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A running server process and its stderr lines. */
export interface Proc {
  readonly child: ChildProcess
  readonly pid: number
  readonly log: Array<string>
  /** Resolves with the next stderr line matching `re`. */
  nextLine(re: RegExp, timeoutMs: number): Promise<string | undefined>
  /** Writes a line into the process's trace file (`tee`), if it has one. */
  mark(text: string): void
  exited: boolean
}

export const startProc = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, cwd = ROOT, tee?: string): Proc => {
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
  const log: Array<string> = []
  const waiters: Array<{ re: RegExp; resolve: (l: string | undefined) => void }> = []
  let teeFd = tee === undefined ? undefined : fs.openSync(tee, "a")
  const closeTee = () => {
    if (teeFd !== undefined) fs.closeSync(teeFd)
    teeFd = undefined
  }
  const write = (line: string) => {
    if (teeFd !== undefined) fs.writeSync(teeFd, `${Date.now()} ${line}\n`)
  }
  const onLine = (line: string) => {
    write(line)
    log.push(line)
    if (log.length > 2000) log.splice(0, 1000)
    for (let i = 0; i < waiters.length; i++) {
      if (waiters[i]!.re.test(line)) {
        waiters[i]!.resolve(line)
        waiters.splice(i, 1)
        i--
      }
    }
  }
  const lines = (stream: NodeJS.ReadableStream) => {
    let buf = ""
    stream.setEncoding("utf8")
    stream.on("data", (d: string) => {
      buf += d
      let i: number
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, i))
        buf = buf.slice(i + 1)
      }
    })
  }
  lines(child.stdout!)
  lines(child.stderr!)
  const proc: Proc = {
    child,
    pid: child.pid ?? -1,
    log,
    mark: (text) => write(`### ${text}`),
    exited: false,
    nextLine: (re, timeoutMs) =>
      new Promise((resolve) => {
        const w = { re, resolve }
        waiters.push(w)
        setTimeout(() => {
          const i = waiters.indexOf(w)
          if (i >= 0) {
            waiters.splice(i, 1)
            resolve(undefined)
          }
        }, timeoutMs)
      })
  }
  child.on("exit", () => {
    proc.exited = true
    closeTee()
  })
  child.on("error", (e) => {
    log.push(String(e))
    proc.exited = true
    // a process that could not be spawned never emits "exit"
    closeTee()
  })
  return proc
}
