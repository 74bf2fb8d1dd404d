/**
 * NodeCluster: two worker processes serving one router on one shared port. Calls on fresh
 * connections reach both workers (answers carry the worker's pid); a killed worker is replaced;
 * SIGTERM to the primary lets an in-flight call finish and stops every worker.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as http from "node:http"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"

const fixture = path.join(import.meta.dirname, "fixtures/cluster.ts")
const children: Array<ChildProcess> = []

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})

/** Starts the clustered server; resolves with its port and worker pids once READY. */
const start = (workers: number) =>
  new Promise<{ child: ChildProcess; port: number; pids: Array<number>; lines: Array<string> }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", fixture, String(workers)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    children.push(child)
    const lines: Array<string> = []
    let buffer = ""
    let stderr = ""
    child.stderr!.on("data", (c) => (stderr += String(c)))
    child.stdout!.on("data", (c) => {
      buffer += String(c)
      let i: number
      while ((i = buffer.indexOf("\n")) !== -1) {
        const line = buffer.slice(0, i)
        buffer = buffer.slice(i + 1)
        lines.push(line)
        const m = /^READY (\d+) ([\d,]+)$/.exec(line)
        if (m) resolve({ child, port: Number(m[1]), pids: m[2]!.split(",").map(Number), lines })
      }
    })
    child.once("exit", (code) => reject(new Error(`cluster exited ${code} before READY: ${stderr}`)))
  })

/** One Connect JSON call on a fresh connection (so that the primary hands it to the next worker). */
const say = (port: number, sentence = "pid") =>
  new Promise<number>((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/connectrpc.eliza.v1.ElizaService/Say",
      headers: { "content-type": "application/json" },
      agent: false
    }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (c) => (body += c))
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}: ${body}`))
        resolve(Number((JSON.parse(body) as { sentence: string }).sentence))
      })
    })
    req.on("error", reject)
    req.end(JSON.stringify({ sentence }))
  })

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Resolves with the first line at or after `from` matching `pattern`. */
const waitForLine = (lines: Array<string>, from: number, child: ChildProcess, pattern: RegExp) =>
  new Promise<string>((resolve, reject) => {
    const onExit = () => reject(new Error(`exited before ${pattern}`))
    const check = () => {
      const found = lines.slice(from).find((l) => pattern.test(l))
      if (found === undefined) return
      child.stdout!.off("data", onData)
      child.off("exit", onExit)
      resolve(found)
    }
    const onData = () => setImmediate(check)
    child.stdout!.on("data", onData)
    child.once("exit", onExit)
    check()
  })

describe("NodeCluster with 2 workers", () => {
  it("serves from both worker pids on one port, replaces a dead worker, shuts down gracefully", async () => {
    const { child, lines, pids, port } = await start(2)
    expect(pids).toHaveLength(2)
    expect(new Set(pids).size).toBe(2)
    expect(pids).not.toContain(child.pid)

    // calls on fresh connections are spread over both workers
    const seen = new Set<number>()
    for (let i = 0; i < 40 && seen.size < 2; i++) seen.add(await say(port))
    expect([...seen].sort()).toEqual([...pids].sort())

    // a worker killed hard is replaced by a new one on the same port
    process.kill(pids[0]!, "SIGKILL")
    await expect.poll(async () => {
      const from = lines.length
      child.kill("SIGUSR2")
      const line = await waitForLine(lines, from, child, /^WORKERS /)
      const now = line.slice(8).split(",").filter((s) => s.length > 0).map(Number)
      return now.length === 2 && !now.includes(pids[0]!)
    }, { timeout: 30_000, interval: 200 }).toBe(true)
    const afterRespawn = new Set<number>()
    for (let i = 0; i < 40 && afterRespawn.size < 2; i++) afterRespawn.add(await say(port))
    expect(afterRespawn.size).toBe(2)
    expect(afterRespawn.has(pids[0]!)).toBe(false)

    // graceful shutdown: an in-flight call finishes, then every process exits
    const from = lines.length
    const inflight = say(port, "sleep:500")
    await waitForLine(lines, from, child, /^STARTED /)
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
    child.kill("SIGTERM")
    const answeredBy = await inflight
    expect(afterRespawn.has(answeredBy)).toBe(true)
    expect(await exited).toBe(0)
    expect(lines).toContain("CLOSED")
    for (const pid of afterRespawn) await expect.poll(() => alive(pid), { timeout: 10_000 }).toBe(false)
  }, 90_000)
})
