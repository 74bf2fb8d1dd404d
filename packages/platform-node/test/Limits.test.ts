/**
 * Server limits over real sockets: header size (HTTP/1.1 431, HTTP/2), concurrent HTTP/2 streams
 * per connection (the client sees SETTINGS_MAX_CONCURRENT_STREAMS and queues), and the request
 * timeout that cuts off slow clients (slowloris: headers, then a body trickled byte by byte).
 */
import * as http2 from "node:http2"
import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { create, toBinary } from "@bufbuild/protobuf"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Envelope from "@connect-effect/core/Envelope"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import type { ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ConverseRequestSchema, ElizaService, SayRequestSchema } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const SAY = "/connectrpc.eliza.v1.ElizaService/Say"
const CONVERSE = "/connectrpc.eliza.v1.ElizaService/Converse"
const say = (sentence: string) => Buffer.from(toBinary(SayRequestSchema, create(SayRequestSchema, { sentence })))
const converse = (sentence: string) => Buffer.from(Envelope.encode(0, toBinary(ConverseRequestSchema, create(ConverseRequestSchema, { sentence }))))

/** Say handlers block while `gate` is closed; `active` counts the handlers running. */
let active = 0
let maxActive = 0
let gate: Promise<void> = Promise.resolve()
let openGate: () => void = () => {}

const handlers: ElizaServiceHandlers = {
  say: (request) =>
    Effect.gen(function*() {
      active++
      maxActive = Math.max(maxActive, active)
      yield* Effect.promise(() => gate).pipe(Effect.ensuring(Effect.sync(() => active--)))
      return { sentence: `echo: ${request.sentence}` }
    }),
  introduce: (request) => Stream.make({ sentence: `hello ${request.name}` }),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: `echo ${r.sentence}` })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: all.map((r) => r.sentence).join("|") }))
}

const router = Router.service(Router.empty, ElizaService, handlers)

const REQUEST_TIMEOUT_MS = 1500
const MAX_STREAMS = 3
const MAX_HEADER = 4096

let scope: Scope.Closeable
/** Limits set small: header size, concurrent streams, request timeout. */
let small: NodeServer.Info
/** All defaults. */
let defaults: NodeServer.Info

const start = async (options: NodeServer.Options) => {
  const ctx = await Effect.runPromise(Layer.buildWithScope(NodeServer.layerRouter(router, { port: 0, ...options }), scope))
  return Context.get(ctx, NodeServer.NodeServer)
}

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  small = await start({ maxHeaderSize: MAX_HEADER, maxConcurrentStreams: MAX_STREAMS, requestTimeoutMs: REQUEST_TIMEOUT_MS })
  defaults = await start({})
})

afterAll(async () => {
  openGate()
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

/** A raw HTTP/1.1 connection: everything the server sends, and when it closed. */
const rawHttp1 = (info: NodeServer.Info) => {
  const socket = net.connect(info.port, info.host)
  let received = ""
  let closedAt: number | undefined
  socket.on("data", (d) => (received += d.toString("latin1")))
  socket.on("error", () => {})
  const closed = new Promise<number>((resolve) =>
    socket.on("close", () => {
      closedAt = performance.now()
      resolve(closedAt)
    })
  )
  return {
    socket,
    received: () => received,
    closedAt: () => closedAt,
    closed,
    connected: new Promise<void>((resolve) => socket.once("connect", () => resolve()))
  }
}

const withTimeout = <A>(p: Promise<A>, ms: number, what: string): Promise<A> =>
  Promise.race([p, new Promise<A>((_, reject) => setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms))])

interface H2Result {
  readonly status: number
  readonly headers: http2.IncomingHttpHeaders
  readonly body: Buffer
  readonly rstCode: number | undefined
}

const h2request = (
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer
): { stream: http2.ClientHttp2Stream; done: Promise<H2Result> } => {
  const stream = session.request(headers, { endStream: body === undefined })
  const done = new Promise<H2Result>((resolve) => {
    let status = 0
    let h: http2.IncomingHttpHeaders = {}
    const chunks: Array<Buffer> = []
    stream.on("response", (r) => {
      status = Number(r[":status"])
      h = r
    })
    stream.on("data", (c: Buffer) => chunks.push(c))
    stream.on("error", () => {})
    stream.on("close", () => resolve({ status, headers: h, body: Buffer.concat(chunks), rstCode: stream.rstCode }))
  })
  if (body !== undefined) stream.end(body)
  return { stream, done }
}

const connect2 = async (info: NodeServer.Info) => {
  const session = http2.connect(info.url)
  session.on("error", () => {})
  await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()))
  return session
}

describe("limits: header size", () => {
  it("HTTP/1.1: a header block over maxHeaderSize is answered 431 and the connection closed", async () => {
    const c = rawHttp1(small)
    await c.connected
    c.socket.write(`POST ${SAY} HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(MAX_HEADER + 100)}\r\ncontent-length: 0\r\n\r\n`)
    await withTimeout(c.closed, 3000, "close")
    expect(c.received()).toMatch(/^HTTP\/1\.1 431 /)
  })

  it("HTTP/1.1: the default limit is 16 KiB (15 KiB passes, 17 KiB is 431)", async () => {
    for (const [size, expected] of [[15 * 1024, /^HTTP\/1\.1 200 /], [17 * 1024, /^HTTP\/1\.1 431 /]] as const) {
      const c = rawHttp1(defaults)
      await c.connected
      const body = say("x")
      c.socket.write(
        `POST ${SAY} HTTP/1.1\r\nhost: x\r\ncontent-type: application/proto\r\nconnection: close\r\nx-big: ${"a".repeat(size)}\r\ncontent-length: ${body.length}\r\n\r\n`
      )
      c.socket.write(body)
      await withTimeout(c.closed, 3000, "close")
      expect(c.received()).toMatch(expected)
    }
  })

  it("HTTP/2: the server announces maxHeaderListSize; a larger header block is refused, the session survives", async () => {
    const session = await connect2(small)
    expect(session.remoteSettings.maxHeaderListSize).toBe(MAX_HEADER)
    const big = h2request(session, { ":method": "POST", ":path": SAY, "content-type": "application/proto", "x-big": "a".repeat(MAX_HEADER + 100) }, say("x"))
    const r = await withTimeout(big.done, 3000, "oversized request")
    // refused before any handler runs: RST_STREAM(ENHANCE_YOUR_CALM), no response headers
    expect({ status: r.status, rstCode: r.rstCode }).toEqual({ status: 0, rstCode: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM })
    // the connection is still good for normal calls
    const ok = await withTimeout(h2request(session, { ":method": "POST", ":path": SAY, "content-type": "application/proto" }, say("x")).done, 3000, "good request")
    expect(ok.status).toBe(200)
    session.close()
  })
})

describe("limits: concurrent HTTP/2 streams per connection", () => {
  it("the client sees SETTINGS_MAX_CONCURRENT_STREAMS (default 1000)", async () => {
    const session = await connect2(defaults)
    expect(session.remoteSettings.maxConcurrentStreams).toBe(1000)
    session.close()
  })

  it("at most maxConcurrentStreams calls run at once on one connection; the rest queue and complete", async () => {
    const session = await connect2(small)
    expect(session.remoteSettings.maxConcurrentStreams).toBe(MAX_STREAMS)
    gate = new Promise((resolve) => (openGate = resolve))
    active = 0
    maxActive = 0
    const calls = Array.from({ length: MAX_STREAMS * 3 }, (_, i) =>
      h2request(session, { ":method": "POST", ":path": SAY, "content-type": "application/proto" }, say(`c${i}`)).done)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(active).toBe(MAX_STREAMS)
    openGate()
    const results = await withTimeout(Promise.all(calls), 5000, "queued calls")
    expect(results.map((r) => r.status)).toEqual(calls.map(() => 200))
    expect(maxActive).toBe(MAX_STREAMS)
    session.close()
  })
})

describe("limits: request timeout (slowloris)", () => {
  /** Upper bound for the cut: the timeout, the handler's second, and slack. */
  const CUT_BOUND_MS = REQUEST_TIMEOUT_MS + 1000 + 1000

  it("HTTP/1.1: a body trickled one byte per second is cut off after requestTimeoutMs", async () => {
    const c = rawHttp1(small)
    await c.connected
    const started = performance.now()
    c.socket.write(`POST ${SAY} HTTP/1.1\r\nhost: x\r\ncontent-type: application/proto\r\ncontent-length: 100\r\n\r\n`)
    const trickle = setInterval(() => {
      if (!c.socket.destroyed) c.socket.write("a")
    }, 1000)
    try {
      const closedAt = await withTimeout(c.closed, CUT_BOUND_MS + 2000, "cut")
      expect(closedAt - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50)
      expect(closedAt - started).toBeLessThan(CUT_BOUND_MS)
    } finally {
      clearInterval(trickle)
    }
    // the client was told why before the connection went away
    expect(c.received()).toMatch(/^HTTP\/1\.1 504 /)
    expect(c.received()).toContain("\"code\":\"deadline_exceeded\"")
    expect(c.received().toLowerCase()).toContain("connection: close")
  })

  it("HTTP/2: a trickled unary body is answered deadline_exceeded and the stream reset", async () => {
    const session = await connect2(small)
    const started = performance.now()
    const stream = session.request({ ":method": "POST", ":path": SAY, "content-type": "application/proto" })
    let status = 0
    let body = ""
    stream.on("response", (h) => (status = Number(h[":status"])))
    stream.on("data", (d: Buffer) => (body += d.toString()))
    stream.on("error", () => {})
    const closed = new Promise<number>((resolve) => stream.on("close", () => resolve(performance.now())))
    const trickle = setInterval(() => {
      if (!stream.closed && stream.writable) stream.write("a")
    }, 1000)
    try {
      const closedAt = await withTimeout(closed, CUT_BOUND_MS + 2000, "cut")
      expect(closedAt - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50)
      expect(closedAt - started).toBeLessThan(CUT_BOUND_MS)
    } finally {
      clearInterval(trickle)
    }
    expect(status).toBe(504)
    expect(body).toContain("deadline_exceeded")
    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL)
    // other streams on the connection are unaffected
    const ok = await withTimeout(h2request(session, { ":method": "POST", ":path": SAY, "content-type": "application/proto" }, say("x")).done, 3000, "good request")
    expect(ok.status).toBe(200)
    session.close()
  })

  it("a stream the server has answered is not cut: a bidi call outlives requestTimeoutMs", async () => {
    const session = await connect2(small)
    const stream = session.request({ ":method": "POST", ":path": CONVERSE, "content-type": "application/connect+proto" })
    const chunks: Array<Buffer> = []
    stream.on("data", (d: Buffer) => chunks.push(d))
    stream.on("error", () => {})
    const ended = new Promise<void>((resolve) => stream.on("close", () => resolve()))
    stream.write(converse("one"))
    await new Promise((resolve) => setTimeout(resolve, REQUEST_TIMEOUT_MS + 1500))
    stream.end(converse("two"))
    await withTimeout(ended, 3000, "bidi end")
    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR)
    const text = Buffer.concat(chunks).toString()
    expect(text).toContain("echo one")
    expect(text).toContain("echo two")
    session.close()
  }, 10_000)

  it("a slow but complete request within the limit succeeds", async () => {
    const c = rawHttp1(small)
    await c.connected
    const body = say("slow")
    c.socket.write(`POST ${SAY} HTTP/1.1\r\nhost: x\r\ncontent-type: application/proto\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n`)
    for (const byte of body) {
      c.socket.write(Buffer.from([byte]))
      await new Promise((resolve) => setTimeout(resolve, 1000 / body.length))
    }
    await withTimeout(c.closed, 3000, "response")
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 /)
  })
})
