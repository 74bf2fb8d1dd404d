/**
 * Drives real external clients (grpcurl, buf curl) from tests: one-shot runs with a generous
 * timeout, and long-running streaming calls whose stdout is read as a sequence of JSON values.
 * Every process started here is killed when the test ends (see {@link ProcessTracker}).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "../../..")

/** grpcurl, installed by scripts/setup-system.sh. */
export const grpcurlPath = path.join(root, ".bin/grpcurl")
/**
 * buf, from the npm package @bufbuild/buf: the native binary of this platform's package, not the
 * `node_modules/.bin/buf` Node shim — killing the shim would leave the real buf (and its
 * connection) running.
 */
export const bufPath = (() => {
  const native = path.join(
    root,
    `node_modules/@bufbuild/buf-${process.platform === "win32" ? "win32" : process.platform}-${process.arch}/bin/buf`
  )
  return fs.existsSync(native) ? native : path.join(root, "node_modules/.bin/buf")
})()

/** Fails with a helpful message when an external client is missing. */
export const requireExecutable = (file: string): void => {
  try {
    fs.accessSync(file, fs.constants.X_OK)
  } catch {
    throw new Error(`${file} is missing: run \`bash scripts/setup-system.sh\` (grpcurl) or \`npm install\` (buf)`)
  }
}

/** How a one-shot run ended. */
export interface Result {
  /** The exit code, or `undefined` when the process was killed by a signal. */
  readonly code: number | undefined
  readonly stdout: string
  readonly stderr: string
}

/** Generous: the test machine may be busy with the rest of the suite. */
const defaultTimeoutMs = 60_000

/** Runs a program to completion; never rejects for a non-zero exit (the caller asserts on it). */
export const run = (file: string, args: ReadonlyArray<string>, timeoutMs = defaultTimeoutMs): Promise<Result> =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== "number") {
        if (error.killed) {
          reject(new Error(`${path.basename(file)} ${args.join(" ")} timed out after ${timeoutMs} ms\n${stderr}`))
        } else {
          reject(error)
        }
        return
      }
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr })
    })
  })

/** `grpcurl <args>`. */
export const grpcurl = (...args: ReadonlyArray<string>): Promise<Result> => run(grpcurlPath, args)

/** `buf curl <args>`. */
export const bufCurl = (...args: ReadonlyArray<string>): Promise<Result> => run(bufPath, ["curl", ...args])

/** Parses the output of a one-shot run as one JSON value, with the whole output in the error. */
export const parseJson = (result: Result): unknown => {
  try {
    return JSON.parse(result.stdout)
  } catch (e) {
    throw new Error(`not JSON (exit ${result.code}):\nstdout: ${result.stdout}\nstderr: ${result.stderr}`, { cause: e })
  }
}

/**
 * Splits concatenated JSON texts (as grpcurl and buf curl print one pretty-printed message
 * after another) into complete top-level values; returns them and the unfinished rest.
 */
export const splitJsonValues = (text: string): { readonly values: Array<unknown>; readonly rest: string } => {
  const values: Array<unknown> = []
  let depth = 0
  let inString = false
  let escaped = false
  let start = -1
  let consumed = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (escaped) escaped = false
      else if (c === "\\") escaped = true
      else if (c === "\"") inString = false
      continue
    }
    if (c === "\"") inString = true
    else if (c === "{" || c === "[") {
      if (depth === 0) start = i
      depth++
    } else if (c === "}" || c === "]") {
      depth--
      if (depth === 0) {
        values.push(JSON.parse(text.slice(start, i + 1)))
        consumed = i + 1
      }
    }
  }
  return { values, rest: text.slice(consumed) }
}

/** A running streaming call whose stdout is a sequence of JSON messages. */
export interface JsonStream {
  /** The next message; rejects if the process exits first or none arrives within `timeoutMs`. */
  readonly next: (timeoutMs?: number) => Promise<unknown>
  /** Kills the process and waits for it to be gone. */
  readonly kill: () => Promise<void>
  /** Everything written to stderr so far. */
  readonly stderr: () => string
}

/** Kills a child started with `detached: true` together with its process group. */
const killGroup = (child: ChildProcess): void => {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL")
    else child.kill("SIGKILL")
  } catch {
    child.kill("SIGKILL")
  }
}

/** Keeps the processes a test file starts, so that `afterEach` can kill any left over. */
export class ProcessTracker {
  readonly #children = new Set<ChildProcess>()

  /** Starts a streaming call. */
  spawnJsonStream(file: string, args: ReadonlyArray<string>): JsonStream {
    // its own process group, so that kill() also ends any process it started
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], detached: true })
    this.#children.add(child)
    const queue: Array<unknown> = []
    const waiters: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = []
    let buffer = ""
    let stderr = ""
    let exited: Error | undefined
    const exitedPromise = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        exited = new Error(`${path.basename(file)} exited (code ${code}, signal ${signal}) before the next message\n${stderr}`)
        this.#children.delete(child)
        for (const w of waiters.splice(0)) w.reject(exited)
        resolve()
      })
      child.once("error", (e) => {
        exited = e
        this.#children.delete(child)
        for (const w of waiters.splice(0)) w.reject(e)
        resolve()
      })
    })
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      const { rest, values } = splitJsonValues(buffer + chunk)
      buffer = rest
      for (const v of values) {
        const w = waiters.shift()
        if (w !== undefined) w.resolve(v)
        else queue.push(v)
      }
    })
    return {
      next: (timeoutMs = defaultTimeoutMs) => {
        if (queue.length > 0) return Promise.resolve(queue.shift())
        if (exited !== undefined) return Promise.reject(exited)
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => {
            const i = waiters.indexOf(waiter)
            if (i !== -1) waiters.splice(i, 1)
            reject(new Error(`no message from ${path.basename(file)} within ${timeoutMs} ms\n${stderr}`))
          }, timeoutMs)
          const waiter = {
            resolve: (v: unknown) => {
              clearTimeout(timer)
              resolve(v)
            },
            reject: (e: Error) => {
              clearTimeout(timer)
              reject(e)
            }
          }
          waiters.push(waiter)
        })
      },
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) killGroup(child)
        return exitedPromise
      },
      stderr: () => stderr
    }
  }

  /** Kills every process still running. */
  async killAll(): Promise<void> {
    const pending = [...this.#children].map((child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("exit", () => resolve())
        killGroup(child)
      })
    )
    this.#children.clear()
    await Promise.all(pending)
  }
}
