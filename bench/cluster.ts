/**
 * NodeCluster scaling: h2load against the same router served by 1 and by 2 cluster workers
 * (packages/platform-node/test/fixtures/cluster.ts), Connect unary JSON over HTTP/1.1 and h2c,
 * several connections (the primary hands connections out round-robin; a single connection
 * stays on one worker). Prints req/s per worker count, the median of the repetitions (the
 * configurations' runs interleaved).
 *
 *   node bench/cluster.ts [--duration 5] [--reps 3] [--workers 1,2]
 *
 * On a 2-core machine h2load runs on the same cores as the workers, so 2 workers compete with
 * the load generator: the scaling figure is a lower bound of what separate load machines see.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const ROOT = path.resolve(import.meta.dirname, "..")
const FIXTURE = path.join(ROOT, "packages/platform-node/test/fixtures/cluster.ts")

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name)
  return i === -1 ? fallback : process.argv[i + 1]!
}
const duration = Number(arg("--duration", "5"))
const reps = Number(arg("--reps", "3"))
const workerCounts = arg("--workers", "1,2").split(",").map(Number)

const start = (workers: number) =>
  new Promise<{ child: ChildProcess; port: number }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", FIXTURE, String(workers)], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let buffer = ""
    child.stdout!.on("data", (c) => {
      buffer += String(c)
      const m = /READY (\d+)/.exec(buffer)
      if (m) resolve({ child, port: Number(m[1]) })
    })
    child.once("exit", (code) => reject(new Error(`cluster exited ${code}`)))
  })

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })

const h2load = (port: number, transport: "h1" | "h2c", bodyFile: string) =>
  new Promise<number>((resolve, reject) => {
    const argv = [
      "-D", `${duration}`,
      "-c", "32",
      "-t", "1",
      "-m", transport === "h1" ? "1" : "8",
      "-d", bodyFile,
      "-H", "content-type: application/json",
      ...(transport === "h1" ? ["--h1"] : []),
      `http://127.0.0.1:${port}/connectrpc.eliza.v1.ElizaService/Say`
    ]
    const child = spawn("h2load", argv, { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout!.on("data", (c) => (out += String(c)))
    child.stderr!.on("data", (c) => (out += String(c)))
    child.once("error", reject)
    child.once("exit", () => {
      const rate = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)
      const status = /status codes: (\d+) 2xx/.exec(out)
      if (!rate || !status || Number(status[1]) === 0) return reject(new Error(`h2load failed:\n${out}`))
      resolve(Number(rate[1]))
    })
  })

const median = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const main = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-cluster-"))
  const bodyFile = path.join(dir, "body.json")
  fs.writeFileSync(bodyFile, JSON.stringify({ sentence: "hello" }))
  console.log(`cores: ${os.availableParallelism()} (${os.cpus()[0]?.model ?? "?"}), node ${process.version}, ${duration}s × ${reps} reps, 32 connections`)
  // every cluster runs at once (idle ones cost nothing) and the runs are interleaved, so that
  // drifting background load hits every configuration alike
  const clusters = new Map<number, { child: ChildProcess; port: number }>()
  const runs = new Map<string, Array<number>>()
  const key = (workers: number, transport: string) => `${workers}/${transport}`
  try {
    for (const workers of workerCounts) clusters.set(workers, await start(workers))
    for (const [, { port }] of clusters) {
      for (const transport of ["h1", "h2c"] as const) await h2load(port, transport, bodyFile) // warm-up (JIT), not counted
    }
    for (let i = 0; i < reps; i++) {
      for (const [workers, { port }] of clusters) {
        for (const transport of ["h1", "h2c"] as const) {
          const rps = await h2load(port, transport, bodyFile)
          runs.set(key(workers, transport), [...(runs.get(key(workers, transport)) ?? []), rps])
          console.log(`rep ${i + 1}: workers=${workers} ${transport.padEnd(4)} ${Math.round(rps)} req/s  (load average ${os.loadavg()[0]!.toFixed(2)})`)
        }
      }
    }
  } finally {
    for (const [, { child }] of clusters) await stop(child)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const results = [...runs].map(([k, all]) => {
    const [workers, transport] = k.split("/")
    return { workers: Number(workers), transport: transport!, rps: median(all), all }
  })
  console.log("\n| workers | HTTP/1.1 req/s | h2c req/s |\n|---|---|---|")
  for (const workers of workerCounts) {
    const h1 = results.find((r) => r.workers === workers && r.transport === "h1")!
    const h2 = results.find((r) => r.workers === workers && r.transport === "h2c")!
    console.log(`| ${workers} | ${Math.round(h1.rps)} | ${Math.round(h2.rps)} |`)
  }
}

await main()
