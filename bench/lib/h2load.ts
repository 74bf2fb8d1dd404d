/** Runs h2load (pinned to core 1) and reads req/s, status counts and latency percentiles. */
import * as fs from "node:fs"
import { pinned, run } from "./proc.ts"
import type { Transport } from "./workloads.ts"

export interface H2loadResult {
  readonly ok: boolean
  readonly error?: string
  readonly reqPerSec: number
  readonly done: number
  readonly succeeded: number
  readonly failed: number
  readonly errored: number
  readonly status: { readonly s2xx: number; readonly s3xx: number; readonly s4xx: number; readonly s5xx: number }
  readonly seconds: number
  readonly p50Us?: number
  readonly p99Us?: number
}

export interface H2loadOptions {
  readonly url: string
  readonly transport: Transport
  readonly headers: Record<string, string>
  readonly bodyFile: string
  readonly durationSec: number
  readonly clients: number
  /** Concurrent streams per connection (h2c only). */
  readonly streams: number
  readonly logFile?: string
}

const percentile = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

export const h2load = async (o: H2loadOptions): Promise<H2loadResult> => {
  const argv = [
    "h2load",
    "-D", `${Math.max(1, Math.round(o.durationSec * 1000))}ms`,
    "-c", String(o.clients),
    "-t", "1",
    "-m", String(o.transport === "h1" ? 1 : o.streams),
    "-d", o.bodyFile,
    ...Object.entries(o.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    ...(o.transport === "h1" ? ["--h1"] : []),
    ...(o.logFile !== undefined ? ["--log-file", o.logFile] : []),
    o.url
  ]
  const r = await run(pinned(1, argv), { timeoutMs: (o.durationSec + 30) * 1000 })
  const out = r.stdout
  const finished = /finished in ([\d.]+)(ms|s|us),\s*([\d.]+) req\/s/.exec(out)
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out)
  const st = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out)
  if (!finished || !req || !st) {
    return {
      ok: false, error: `h2load exited ${r.code}: ${(r.stderr || out).slice(-400)}`, reqPerSec: 0, done: 0, succeeded: 0, failed: 0, errored: 0,
      status: { s2xx: 0, s3xx: 0, s4xx: 0, s5xx: 0 }, seconds: 0
    }
  }
  const unit = finished[2]
  const seconds = Number(finished[1]) / (unit === "ms" ? 1000 : unit === "us" ? 1e6 : 1)
  let p50Us: number | undefined
  let p99Us: number | undefined
  if (o.logFile !== undefined && fs.existsSync(o.logFile)) {
    const lines = fs.readFileSync(o.logFile, "utf8").split("\n")
    const lat = new Float64Array(lines.length)
    let n = 0
    for (const line of lines) {
      const t = line.split("\t")
      if (t.length >= 3) lat[n++] = Number(t[2])
    }
    const sorted = lat.subarray(0, n).sort()
    if (n > 0) {
      p50Us = percentile(sorted, 50)
      p99Us = percentile(sorted, 99)
    }
    fs.rmSync(o.logFile, { force: true })
  }
  return {
    ok: true,
    reqPerSec: Number(finished[3]),
    done: Number(req[3]),
    succeeded: Number(req[4]),
    failed: Number(req[5]),
    errored: Number(req[6]),
    status: { s2xx: Number(st[1]), s3xx: Number(st[2]), s4xx: Number(st[3]), s5xx: Number(st[4]) },
    seconds,
    ...(p50Us !== undefined ? { p50Us } : {}),
    ...(p99Us !== undefined ? { p99Us } : {})
  }
}
