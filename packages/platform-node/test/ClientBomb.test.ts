/**
 * A misbehaving server against our client: compressed unary responses that inflate far past
 * `readMaxBytes` (success and error statuses alike), and compressed bodies far larger than any
 * message the client accepts. Every call must fail with `resource_exhausted` naming the configured
 * limit, without inflating the bomb, over Connect, gRPC and gRPC-Web.
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import * as zlib from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { makeClient, messageOf, outcomeOf } from "./fixtures/reliability.ts"

const READ_MAX = 64 * 1024
/** 64 MiB of zeros, gzipped: about 64 KiB on the wire. */
const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 })
/** 8 MiB of noise labelled gzip: larger than any message the client accepts, compressed or not. */
const noise = Buffer.from(Array.from({ length: 8 * 1024 * 1024 }, (_, i) => (i * 2654435761) >>> 24))

const envelope = (payload: Uint8Array, flags: number) => {
  const out = Buffer.alloc(5 + payload.length)
  out[0] = flags
  out.writeUInt32BE(payload.length, 1)
  out.set(payload, 5)
  return out
}

type Mode = "bomb-200" | "bomb-error" | "noise"
let mode: Mode = "bomb-200"

/** The part of Node's HTTP/1.1 and HTTP/2 compatibility responses used here. */
interface Response {
  writeHead(status: number, headers: Record<string, string>): unknown
  write(chunk: Uint8Array): unknown
  end(chunk: Uint8Array): unknown
  end(): unknown
  addTrailers(trailers: Record<string, string>): void
}

/** Answers every request the way the current mode says; one handler for HTTP/1.1 and h2c. */
const respond = (req: http.IncomingMessage | http2.Http2ServerRequest, res: Response) => {
  req.resume()
  req.on("end", () => {
    const ct = String(req.headers["content-type"] ?? "")
    const body = mode === "noise" ? noise : bomb
    if (ct.startsWith("application/grpc")) {
      // gRPC / gRPC-Web: a compressed envelope; gRPC-Web adds its trailer frame
      const web = ct.startsWith("application/grpc-web")
      res.writeHead(200, { "content-type": web ? "application/grpc-web+proto" : "application/grpc+proto", "grpc-encoding": "gzip" })
      res.write(envelope(body, 1))
      if (web) {
        res.end(envelope(Buffer.from("grpc-status: 0\r\n"), 0x80))
      } else {
        res.addTrailers({ "grpc-status": "0" })
        res.end()
      }
      return
    }
    res.writeHead(mode === "bomb-error" ? 500 : 200, {
      "content-type": mode === "bomb-error" ? "application/json" : "application/proto",
      "content-encoding": "gzip"
    })
    res.end(body)
  })
}

const scope = Effect.runSync(Scope.make())
const h1 = http.createServer((req, res) => respond(req, res))
const h2 = http2.createServer((req, res) => respond(req, res))
let h1Url = ""
let h2Url = ""

beforeAll(async () => {
  await new Promise<void>((r) => h1.listen(0, "127.0.0.1", r))
  await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r))
  h1Url = `http://127.0.0.1:${(h1.address() as { port: number }).port}`
  h2Url = `http://127.0.0.1:${(h2.address() as { port: number }).port}`
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  h1.close()
  h2.close()
})

const combos = [
  { protocol: "connect", httpVersion: "1.1" },
  { protocol: "connect", httpVersion: "2" },
  { protocol: "grpc", httpVersion: "2" },
  { protocol: "grpc-web", httpVersion: "1.1" }
] as const

describe("client against a compression bomb", () => {
  for (const m of ["bomb-200", "bomb-error", "noise"] as const) {
    for (const c of combos) {
      if (m === "bomb-error" && c.protocol !== "connect") continue // gRPC errors travel in trailers, not bodies
      it(`${m}: ${c.protocol} over HTTP/${c.httpVersion} → resource_exhausted naming readMaxBytes`, async () => {
        mode = m
        const client = await makeClient(scope, c.httpVersion === "2" ? h2Url : h1Url, c.protocol, c.httpVersion, { readMaxBytes: READ_MAX })
        // the client must refuse without inflating: buffers stay far below the bomb's 64 MiB
        const before = process.memoryUsage().arrayBuffers
        const exit = await Effect.runPromiseExit(client.say({ sentence: "hi" }, { timeoutMs: 10_000 }))
        const grew = process.memoryUsage().arrayBuffers - before
        expect(outcomeOf(exit)).toBe("resource_exhausted")
        expect(messageOf(exit)).toContain(`configured max ${READ_MAX} bytes`)
        expect(grew).toBeLessThan(32 * 1024 * 1024)
      }, 30_000)
    }
  }
})
