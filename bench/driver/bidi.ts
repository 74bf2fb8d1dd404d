/**
 * Bidi ping-pong driver: over one h2c session, `--streams` concurrent CumSum calls, each
 * doing `--roundtrips` round trips (send one message, wait for its answer, send the next),
 * repeated until `--duration` seconds have passed. A raw node:http2 client (no RPC library),
 * so every server is measured with the same client. Prints one JSON line.
 *
 *   node bench/driver/bidi.ts --url http://127.0.0.1:8080 --protocol connect|grpc
 *        [--streams 8] [--roundtrips 1000] [--duration 3]
 */
import * as http2 from "node:http2"
import { readNumber, splitEnvelopes, concat, envelope, writeMessage } from "../servers/rawproto.ts"

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? def : process.argv[i + 1]!
}
const url = arg("url", "http://127.0.0.1:8080")
const protocol = arg("protocol", "connect")
const streams = Number(arg("streams", "8"))
const roundtrips = Number(arg("roundtrips", "1000"))
const duration = Number(arg("duration", "3")) * 1000
const warmup = Number(arg("warmup", "0.5")) * 1000

const text = new TextEncoder().encode("hello, benchmark")
const headers = protocol === "grpc"
  ? { "content-type": "application/grpc", "te": "trailers" }
  : { "content-type": "application/connect+proto", "connect-protocol-version": "1" }

const session = http2.connect(url)
session.on("error", (e) => fail(`session: ${e.message}`))

const fail = (msg: string) => {
  process.stdout.write(JSON.stringify({ ok: false, error: msg }) + "\n")
  process.exit(0)
}

/** One CumSum call of `roundtrips` round trips; resolves with per-round-trip latencies (µs). */
const call = (lat: Array<number> | undefined): Promise<void> =>
  new Promise((resolve, reject) => {
    const s = session.request({ ":method": "POST", ":path": "/bench.v1.PingService/CumSum", ...headers })
    let i = 0
    let sum = 0n
    let rest: Uint8Array = new Uint8Array(0)
    let sentAt = 0
    let status = 0
    let endSeen = false
    const sendNext = () => {
      i++
      sentAt = performance.now()
      s.write(envelope(0, writeMessage(BigInt(i), text)))
    }
    s.on("response", (h) => (status = Number(h[":status"])))
    s.on("data", (chunk: Buffer) => {
      const split = splitEnvelopes(concat(rest, chunk))
      rest = split.rest
      for (const m of split.messages) {
        if ((m.flags & 2) !== 0) {
          endSeen = true
          continue
        }
        const n = readNumber(m.data)
        sum += BigInt(i)
        if (n !== sum) {
          reject(new Error(`round trip ${i}: got ${n}, expected ${sum}`))
          s.close()
          return
        }
        if (lat !== undefined) lat.push((performance.now() - sentAt) * 1000)
        if (i < roundtrips) sendNext()
        else s.end()
      }
    })
    s.on("trailers", (t) => {
      if (protocol === "grpc" && t["grpc-status"] !== "0") reject(new Error(`grpc-status ${t["grpc-status"]} ${t["grpc-message"] ?? ""}`))
    })
    s.on("error", reject)
    s.on("close", () => {
      if (status !== 200) reject(new Error(`HTTP ${status}`))
      else if (i < roundtrips) reject(new Error(`stream closed after ${i} round trips`))
      else if (protocol === "connect" && !endSeen) reject(new Error("no end-stream message"))
      else resolve()
    })
    sendNext()
  })

const loop = async (until: number, lat: Array<number> | undefined, counter: { calls: number }) => {
  while (performance.now() < until) {
    await call(lat)
    counter.calls++
  }
}

const main = async () => {
  const w = { calls: 0 }
  const warmEnd = performance.now() + warmup
  await Promise.all(Array.from({ length: streams }, () => loop(warmEnd, undefined, w)))
  process.stderr.write("BENCH_MEASURE_START\n")
  const lat: Array<number> = []
  const counter = { calls: 0 }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: streams }, () => loop(t0 + duration, lat, counter)))
  const seconds = (performance.now() - t0) / 1000
  lat.sort((a, b) => a - b)
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? 0
  process.stdout.write(JSON.stringify({
    ok: true, calls: counter.calls, roundtrips: counter.calls * roundtrips, seconds,
    msgsPerSec: (counter.calls * roundtrips) / seconds, callsPerSec: counter.calls / seconds, p50Us: pct(50), p99Us: pct(99)
  }) + "\n")
  session.close()
}

main().catch((e) => fail(e instanceof Error ? e.message : String(e)))
