/**
 * Memory per idle connection / stream: heap and RSS after gc() (servers with the admin hook:
 * SIGUSR2 → gc() → `BENCH_MEM {…}` on stderr), or RSS only from /proc for the others.
 */
import * as http2 from "node:http2"
import * as net from "node:net"
import { rssBytes, sleep } from "./proc.ts"
import type { Running } from "./servers.ts"

export interface Snapshot {
  readonly heapUsed?: number
  readonly rss: number
}

export interface MemoryResult {
  readonly impl: string
  readonly gc: boolean
  readonly h1Conns?: number
  readonly heapPerH1Conn?: number
  readonly rssPerH1Conn?: number
  readonly h2Streams?: number
  readonly heapPerH2Stream?: number
  readonly rssPerH2Stream?: number
  /** heapUsed (or RSS without gc) after each open/close cycle of the idle streams. */
  readonly afterCycles: Array<number>
  /** afterCycles[last] − afterCycles[growthFrom], bytes. */
  readonly growth?: number
  /** The cycle growth is measured from: the middle one with ≥ 6 cycles, else the second (the first with two). */
  readonly growthFrom?: number
  readonly note?: string
}

export const snapshot = async (r: Running): Promise<Snapshot> => {
  if (r.spec.admin) {
    const line = r.proc.nextLine(/^BENCH_MEM /, 10_000)
    process.kill(r.proc.pid, "SIGUSR2")
    const l = await line
    if (l !== undefined) {
      const m = JSON.parse(l.slice("BENCH_MEM ".length)) as { heapUsed: number; rss: number }
      return { heapUsed: m.heapUsed, rss: m.rss }
    }
  }
  return { rss: rssBytes(r.proc.pid) }
}

const pingBody = Buffer.from([0x08, 0x2a, 0x12, 0x05, ...Buffer.from("hello")])

/** Opens `n` HTTP/1.1 keep-alive connections, each after one Ping, and leaves them idle. */
const openH1 = async (port: number, n: number): Promise<Array<net.Socket>> => {
  const sockets: Array<net.Socket> = []
  const one = () =>
    new Promise<void>((resolve) => {
      const s = net.connect(port, "127.0.0.1")
      sockets.push(s)
      s.on("error", () => resolve())
      s.once("data", () => resolve())
      s.write(
        `POST /bench.v1.PingService/Ping HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/proto\r\nContent-Length: ${pingBody.length}\r\n\r\n`
      )
      s.write(pingBody)
    })
  for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, one))
  return sockets
}

const connectSession = (url: string): Promise<http2.ClientHttp2Session> =>
  new Promise((resolve, reject) => {
    const s = http2.connect(url)
    s.once("connect", () => resolve(s))
    s.once("error", reject)
  })

const h2Headers = (grpc: boolean) =>
  grpc
    ? { "content-type": "application/grpc", "te": "trailers" }
    : { "content-type": "application/connect+proto", "connect-protocol-version": "1" }

export const measureMemory = async (
  r: Running,
  options: { h1Conns: number; h2Streams: number; cycles: number; settleMs: number }
): Promise<MemoryResult> => {
  const grpcOnly = !r.spec.protocols.includes("connect")
  const key = (s: Snapshot) => s.heapUsed ?? s.rss
  const result: { -readonly [K in keyof MemoryResult]: MemoryResult[K] } = { impl: r.spec.impl, gc: r.spec.admin, afterCycles: [] }
  try {
    await snapshot(r) // settle: the first collection after load frees more than later ones
    if (r.spec.h1) {
      const a = await snapshot(r)
      const sockets = await openH1(r.port, options.h1Conns)
      await sleep(options.settleMs)
      const b = await snapshot(r)
      result.h1Conns = options.h1Conns
      if (a.heapUsed !== undefined && b.heapUsed !== undefined) result.heapPerH1Conn = (b.heapUsed - a.heapUsed) / options.h1Conns
      result.rssPerH1Conn = (b.rss - a.rss) / options.h1Conns
      for (const s of sockets) s.destroy()
      await sleep(options.settleMs)
    }
    if (r.spec.h2c) {
      const perSession = 100
      const sessions = Math.ceil(options.h2Streams / perSession)
      for (let cycle = 0; cycle < options.cycles; cycle++) {
        const open: Array<http2.ClientHttp2Session> = []
        for (let i = 0; i < sessions; i++) open.push(await connectSession(r.url))
        await sleep(options.settleMs / 2)
        const a = await snapshot(r)
        for (const s of open) {
          for (let i = 0; i < perSession; i++) {
            const st = s.request({ ":method": "POST", ":path": "/bench.v1.PingService/CumSum", ...h2Headers(grpcOnly) })
            st.on("error", () => {})
          }
        }
        await sleep(options.settleMs)
        const b = await snapshot(r)
        if (cycle === 0) {
          result.h2Streams = sessions * perSession
          if (a.heapUsed !== undefined && b.heapUsed !== undefined) result.heapPerH2Stream = (b.heapUsed - a.heapUsed) / (sessions * perSession)
          result.rssPerH2Stream = (b.rss - a.rss) / (sessions * perSession)
        }
        for (const s of open) s.destroy()
        await sleep(options.settleMs)
        result.afterCycles.push(key(await snapshot(r)))
      }
      // A Node heap keeps rising for the first few thousand streams (optimised code, feedback
      // vectors, internal caches) and then levels off; a leak keeps rising. With ≥ 6 cycles the
      // growth is taken over the second half (last − middle), else from the second cycle on.
      const c = result.afterCycles
      if (c.length > 1) {
        result.growthFrom = c.length >= 6 ? Math.floor(c.length / 2) : c.length > 2 ? 1 : 0
        result.growth = c[c.length - 1]! - c[result.growthFrom]!
      }
    }
  } catch (e) {
    result.note = e instanceof Error ? e.message : String(e)
  }
  return result
}
