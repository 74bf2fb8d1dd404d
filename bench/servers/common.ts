/**
 * Helpers shared by the benchmark servers written in TypeScript (Node and Bun):
 * the port argument, the memory and GC admin hook, and the one-port HTTP/1.1 + h2c listener.
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import * as net from "node:net"
import * as v8 from "node:v8"
import { constants as perfConstants, PerformanceObserver } from "node:perf_hooks"

/** `--port N` from the command line (default 8080). */
export const portArg = (): number => {
  const i = process.argv.indexOf("--port")
  return i === -1 ? 8080 : Number(process.argv[i + 1])
}

/** Prints `BENCH_READY <port>` on stderr; the harness waits for it. */
export const ready = (port: number): void => {
  process.stderr.write(`BENCH_READY ${port}\n`)
}

declare const Bun: { gc(force: boolean): void } | undefined

/**
 * With `BENCH_ADMIN=1`: on SIGUSR2, runs a full GC (needs `--expose-gc` on Node) and prints
 * `BENCH_MEM {"heapUsed":…,"rss":…,…}` on stderr. On Node it also counts the collections V8
 * makes (perf_hooks 'gc' entries) and prints the totals so far on SIGWINCH:
 * `BENCH_GC {"minor":…,"major":…,"ms":…,"newSpace":…,"oldSpace":…}` (scavenges, mark-compacts, time
 * spent in both; the new space's size and the old space's used bytes now).
 */
export const installAdminHook = (): void => {
  if (process.env["BENCH_ADMIN"] !== "1") return
  if (typeof Bun === "undefined") {
    const gc = { minor: 0, major: 0, ms: 0 }
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0
        if ((kind & perfConstants.NODE_PERFORMANCE_GC_MINOR) !== 0) gc.minor++
        if ((kind & perfConstants.NODE_PERFORMANCE_GC_MAJOR) !== 0) gc.major++
        gc.ms += e.duration
      }
    }).observe({ entryTypes: ["gc"] })
    process.on("SIGWINCH", () => {
      const spaces = v8.getHeapSpaceStatistics()
      const newSpace = spaces.find((s) => s.space_name === "new_space")?.space_size ?? 0
      const oldSpace = spaces.find((s) => s.space_name === "old_space")?.space_used_size ?? 0
      process.stderr.write(`BENCH_GC ${JSON.stringify({ ...gc, newSpace, oldSpace })}\n`)
    })
  }
  process.on("SIGUSR2", () => {
    const g = (globalThis as { gc?: () => void }).gc
    if (typeof Bun !== "undefined") Bun.gc(true)
    else if (g !== undefined) {
      g()
      g()
    }
    const m = process.memoryUsage()
    process.stderr.write(
      `BENCH_MEM ${JSON.stringify({ heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss, gc: g !== undefined || typeof Bun !== "undefined" })}\n`
    )
  })
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1")

/**
 * Serves HTTP/1.1 and h2c (prior knowledge) on one port: the first bytes of each connection
 * decide which of the two Node servers gets the socket.
 */
export const listenDual = (
  h1: http.Server,
  h2: http2.Http2Server,
  port: number,
  onListening: () => void
): net.Server => {
  const server = net.createServer((socket) => {
    let seen: Buffer | undefined
    const onData = (chunk: Buffer) => {
      const buf: Buffer = seen === undefined ? chunk : Buffer.concat([seen, chunk])
      const n = Math.min(buf.length, PREFACE.length)
      const isH2 = buf.compare(PREFACE, 0, n, 0, n) === 0
      if (isH2 && buf.length < PREFACE.length) {
        seen = buf
        return
      }
      socket.removeListener("data", onData)
      socket.pause()
      socket.unshift(buf)
      if (isH2) h2.emit("connection", socket)
      else {
        h1.emit("connection", socket)
        socket.resume()
      }
    }
    socket.on("error", () => {})
    socket.on("data", onData)
  })
  server.listen(port, "127.0.0.1", onListening)
  return server
}
