/**
 * HTTP/2 idle timeout over real sockets (`http2IdleTimeoutMs`): a session without an open stream
 * is closed with GOAWAY(NO_ERROR) and its socket closed, on h2c and TLS; a session holding a
 * quiet long-lived stream, or kept busy with calls, is not; PINGs alone do not keep a session.
 */
import * as http2 from "node:http2"
import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { HttpClient } from "@connect-effect/core/Http"
import * as NodeHttpClient from "@connect-effect/platform-node/NodeHttpClient"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import { generate } from "./certs.ts"

const IDLE_MS = 1000
/** The close comes at most two sweeps (1/8 of the timeout each) late; the test allows a whole second. */
const CLOSE_BOUND_MS = IDLE_MS + 1000

const enc = new TextEncoder()

/** `/unary` echoes the body; `/hold?ms=N` sends nothing at all for N ms, then answers "late". */
const handler: NodeServer.Handler<never> = (req, w) =>
  Effect.gen(function*() {
    const url = new URL(req.url, "http://x")
    const body = yield* Effect.orDie(req.readAll(1 << 20))
    if (url.pathname === "/hold") yield* Effect.sleep(Number(url.searchParams.get("ms")))
    w.head(200, new Headers(), url.pathname === "/hold" ? enc.encode("late") : body)
  })

let scope: Scope.Closeable
let h2c: NodeServer.Info
let secure: NodeServer.Info
const certs = generate()

const start = (options: NodeServer.Options) => Effect.runPromise(Scope.provide(NodeServer.make(handler, options), scope))

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  h2c = await start({ http2IdleTimeoutMs: IDLE_MS })
  secure = await start({ http2IdleTimeoutMs: IDLE_MS, tls: { cert: certs.serverCert, key: certs.serverKey } })
})

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const withTimeout = <A>(p: Promise<A>, ms: number, what: string): Promise<A> =>
  Promise.race([p, new Promise<A>((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms))])

/** A client session with what happened to it: the GOAWAY code received, and when it closed. */
const connect = async (url: string, options: http2.SecureClientSessionOptions = {}) => {
  const session = http2.connect(url, options)
  const record = {
    session,
    goaway: undefined as number | undefined,
    closedAt: undefined as number | undefined,
    closed: new Promise<number>((resolve) =>
      session.once("close", () => {
        record.closedAt = performance.now()
        resolve(record.closedAt)
      })
    )
  }
  session.on("error", () => {})
  session.on("goaway", (code) => (record.goaway = code))
  await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()))
  return record
}

/** One call; resolves with the status and body once the stream closed. */
const call = (session: http2.ClientHttp2Session, path = "/unary") =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": path })
    let status = 0
    let body = ""
    stream.on("response", (h) => (status = Number(h[":status"])))
    stream.setEncoding("utf8")
    stream.on("data", (d: string) => (body += d))
    stream.on("error", reject)
    stream.on("close", () => resolve({ status, body }))
    stream.end("ping")
  })

/** Waits until the server counts no connection any more (false after `ms`). */
const serverDrained = async (info: NodeServer.Info, ms = 3000) => {
  const deadline = performance.now() + ms
  while (info.connections() > 0 && performance.now() < deadline) await sleep(20)
  return info.connections() === 0
}

describe("HTTP/2 idle timeout (http2IdleTimeoutMs)", () => {
  it("5 idle h2c sessions each receive GOAWAY(NO_ERROR) and close within the timeout + 1 s", async () => {
    const sessions = await Promise.all(Array.from({ length: 5 }, () => connect(h2c.url)))
    const ends = await Promise.all(sessions.map(async (s) => {
      expect(await call(s.session)).toEqual({ status: 200, body: "ping" })
      return performance.now()
    }))
    const closedAt = await withTimeout(Promise.all(sessions.map((s) => s.closed)), CLOSE_BOUND_MS + 2000, "idle close")
    for (let i = 0; i < sessions.length; i++) {
      expect(sessions[i]!.goaway).toBe(http2.constants.NGHTTP2_NO_ERROR)
      expect(closedAt[i]! - ends[i]!).toBeGreaterThanOrEqual(IDLE_MS - 50)
      expect(closedAt[i]! - ends[i]!).toBeLessThan(CLOSE_BOUND_MS)
    }
    expect(await serverDrained(h2c)).toBe(true)
  })

  it("a client that ignores the GOAWAY is disconnected all the same; a session with no stream at all is idle too", async () => {
    const socket = net.connect(h2c.port, h2c.host)
    const received: Array<Buffer> = []
    socket.on("data", (d: Buffer) => received.push(d))
    socket.on("error", () => {})
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()))
    // the preface and an empty SETTINGS frame, then nothing (no ACK, no close)
    socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]))
    const started = performance.now()
    const closedAt = await withTimeout(
      new Promise<number>((resolve) => socket.once("close", () => resolve(performance.now()))),
      CLOSE_BOUND_MS + 2000,
      "server close"
    )
    expect(closedAt - started).toBeGreaterThanOrEqual(IDLE_MS - 50)
    expect(closedAt - started).toBeLessThan(CLOSE_BOUND_MS)
    // the frames the server sent: SETTINGS, ..., GOAWAY with error code 0 (NO_ERROR)
    const bytes = Buffer.concat(received)
    const frames: Array<{ type: number; payload: Buffer }> = []
    for (let o = 0; o + 9 <= bytes.length;) {
      const length = bytes.readUIntBE(o, 3)
      frames.push({ type: bytes[o + 3]!, payload: bytes.subarray(o + 9, o + 9 + length) })
      o += 9 + length
    }
    const goaway = frames.find((f) => f.type === 0x7)
    expect(goaway).toBeDefined()
    expect(goaway!.payload.readUInt32BE(4)).toBe(http2.constants.NGHTTP2_NO_ERROR)
  })

  it("PINGs alone do not keep a session open", async () => {
    const s = await connect(h2c.url)
    const started = performance.now()
    const pinger = setInterval(() => {
      if (!s.session.closed && !s.session.destroyed) s.session.ping(() => {})
    }, 150)
    try {
      const closedAt = await withTimeout(s.closed, CLOSE_BOUND_MS + 2000, "idle close")
      expect(s.goaway).toBe(http2.constants.NGHTTP2_NO_ERROR)
      expect(closedAt - started).toBeLessThan(CLOSE_BOUND_MS)
    } finally {
      clearInterval(pinger)
    }
  })

  it("a session holding a stream that sends nothing for longer than the timeout stays open; the stream completes", async () => {
    const s = await connect(h2c.url)
    const held = call(s.session, `/hold?ms=${IDLE_MS * 2 + 500}`)
    const result = await withTimeout(held, IDLE_MS * 2 + 3000, "held stream")
    const endedAt = performance.now()
    expect(result).toEqual({ status: 200, body: "late" })
    expect(s.goaway).toBeUndefined()
    expect(s.closedAt).toBeUndefined()
    // the session is usable, and once idle it times out as any other
    expect(await call(s.session)).toEqual({ status: 200, body: "ping" })
    const closedAt = await withTimeout(s.closed, CLOSE_BOUND_MS + 2000, "idle close")
    expect(s.goaway).toBe(http2.constants.NGHTTP2_NO_ERROR)
    expect(closedAt - endedAt).toBeLessThan(CLOSE_BOUND_MS + 200)
  })

  it("a session kept busy with calls is not closed", async () => {
    const s = await connect(h2c.url)
    const until = performance.now() + IDLE_MS * 3
    let calls = 0
    while (performance.now() < until) {
      expect(await call(s.session)).toEqual({ status: 200, body: "ping" })
      calls++
      await sleep(IDLE_MS / 4)
    }
    expect(calls).toBeGreaterThan(8)
    expect(s.goaway).toBeUndefined()
    expect(s.closedAt).toBeUndefined()
    await withTimeout(s.closed, CLOSE_BOUND_MS + 2000, "idle close after the calls")
    expect(s.goaway).toBe(http2.constants.NGHTTP2_NO_ERROR)
  })

  it("TLS (h2 by ALPN): an idle session receives GOAWAY(NO_ERROR) and closes", async () => {
    const s = await connect(secure.url, { ca: certs.ca })
    expect(s.session.alpnProtocol).toBe("h2")
    expect(await call(s.session)).toEqual({ status: 200, body: "ping" })
    const endedAt = performance.now()
    const closedAt = await withTimeout(s.closed, CLOSE_BOUND_MS + 2000, "idle close")
    expect(s.goaway).toBe(http2.constants.NGHTTP2_NO_ERROR)
    expect(closedAt - endedAt).toBeGreaterThanOrEqual(IDLE_MS - 50)
    expect(closedAt - endedAt).toBeLessThan(CLOSE_BOUND_MS)
    expect(await serverDrained(secure)).toBe(true)
  })

  it("the default follows keepAliveTimeoutMs; 0 keeps idle sessions open", async () => {
    const inherited = await start({ keepAliveTimeoutMs: IDLE_MS })
    const disabled = await start({ keepAliveTimeoutMs: IDLE_MS, http2IdleTimeoutMs: 0 })
    const [a, b] = await Promise.all([connect(inherited.url), connect(disabled.url)])
    await Promise.all([call(a.session), call(b.session)])
    await withTimeout(a.closed, CLOSE_BOUND_MS + 2000, "idle close")
    expect(a.goaway).toBe(http2.constants.NGHTTP2_NO_ERROR)
    await sleep(IDLE_MS)
    expect(b.goaway).toBeUndefined()
    expect(b.closedAt).toBeUndefined()
    expect(await call(b.session)).toEqual({ status: 200, body: "ping" })
    b.session.close()
  })

  it("the Node client transport reconnects after the server closed its idle session", async () => {
    let opened = 0
    const post = Effect.scoped(Effect.gen(function*() {
      const transport = yield* HttpClient
      const res = yield* transport.request({ method: "POST", url: `${h2c.url}/unary`, headers: new Headers(), body: enc.encode("again") })
      const chunks = yield* Stream.runCollect(res.body)
      return { status: res.status, body: Buffer.concat(Array.from(chunks)).toString() }
    }))
    const program = Effect.gen(function*() {
      const first = yield* post
      yield* Effect.sleep(CLOSE_BOUND_MS + 200)
      const second = yield* post
      return [first, second]
    }).pipe(Effect.provide(NodeHttpClient.layerHttp2({ onSession: () => opened++ })))
    expect(await Effect.runPromise(program)).toEqual([{ status: 200, body: "again" }, { status: 200, body: "again" }])
    expect(opened).toBe(2)
  })
})
