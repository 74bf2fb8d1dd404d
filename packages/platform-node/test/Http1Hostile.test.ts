/**
 * Hostile HTTP/1.1 clients over real sockets (raw bytes): header blocks trickled byte by byte
 * (slowloris, on a new connection, on a keep-alive connection, over TLS) are cut off after
 * `headersTimeoutMs` with a 408; unparsable requests (a NUL byte in a header, a malformed request
 * line) are answered 400 and an oversized header block 431, then the connection is closed.
 * Meanwhile ordinary Connect calls on other connections keep succeeding.
 */
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import * as tls from "node:tls"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as Certs from "./certs.ts"
import type { ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const SAY = "/connectrpc.eliza.v1.ElizaService/Say"
const HEADERS_TIMEOUT_MS = 3000
const MAX_HEADER = 4096
/** Bound for a cut: the timeout plus the server's sweep period (≤ 1 s). */
const CUT_BOUND_MS = HEADERS_TIMEOUT_MS + 1000
const SLOW_CONNECTIONS = 20
const DRIP_EVERY_MS = 200

/** The exact answer the server writes before closing (Node's status line, Go's short text body). */
const answer = (status: string) =>
  `HTTP/1.1 ${status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${status.length}\r\nconnection: close\r\n\r\n${status}`
const REQUEST_TIMEOUT = answer("408 Request Timeout")
const BAD_REQUEST = answer("400 Bad Request")
const HEADERS_TOO_LARGE = answer("431 Request Header Fields Too Large")

const handlers: ElizaServiceHandlers = {
  say: (request) => Effect.succeed({ sentence: `echo: ${request.sentence}` }),
  introduce: (request) => Stream.make({ sentence: `hello ${request.name}` }),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: `echo ${r.sentence}` })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: all.map((r) => r.sentence).join("|") }))
}
const router = Router.service(Router.empty, ElizaService, handlers)

const certs = Certs.generate()

let scope: Scope.Closeable
let plain: NodeServer.Info
let secure: NodeServer.Info | undefined
/** `http: "1.1"` (no sniffing: Node's sweep alone bounds the wait for the first bytes too), 1 s header timeout. */
let http11Only: NodeServer.Info
const SHORT_TIMEOUT_MS = 1000

const start = async (options: NodeServer.Options) => {
  const ctx = await Effect.runPromise(Layer.buildWithScope(NodeServer.layerRouter(router, { port: 0, ...options }), scope))
  return Context.get(ctx, NodeServer.NodeServer)
}

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  plain = await start({ headersTimeoutMs: HEADERS_TIMEOUT_MS, maxHeaderSize: MAX_HEADER })
  http11Only = await start({ http: "1.1", headersTimeoutMs: SHORT_TIMEOUT_MS })
  if (certs !== undefined) {
    secure = await start({ headersTimeoutMs: HEADERS_TIMEOUT_MS, maxHeaderSize: MAX_HEADER, tls: { cert: certs.serverCert, key: certs.serverKey } })
  }
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

const withTimeout = <A>(p: Promise<A>, ms: number, what: string): Promise<A> =>
  Promise.race([p, new Promise<A>((_, reject) => setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms))])

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A normal Connect unary call (JSON) on a fresh connection of its own. */
const goodCall = (info: NodeServer.Info, sentence: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const body = JSON.stringify({ sentence })
    const options: https.RequestOptions = {
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json", "connect-protocol-version": "1", "content-length": Buffer.byteLength(body) },
      ...(info.url.startsWith("https:") ? { ca: certs.ca } : {})
    }
    const req = (info.url.startsWith("https:") ? https : http).request(`${info.url}${SAY}`, options, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (d: string) => (text += d))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(body)
  })

const expectGoodCall = async (info: NodeServer.Info, sentence: string) => {
  const r = await withTimeout(goodCall(info, sentence), 3000, `good call ${sentence}`)
  expect(r).toEqual({ status: 200, body: JSON.stringify({ sentence: `echo: ${sentence}` }) })
}

/** A raw connection: what the server sent, whether it closed its side (FIN), and when the socket closed. */
interface Raw {
  readonly socket: net.Socket
  readonly received: () => string
  /** The server's FIN arrived (the client never ends or destroys these sockets itself). */
  readonly serverEnded: () => boolean
  readonly closed: Promise<number>
  readonly ready: Promise<void>
}

const raw = (socket: net.Socket, readyEvent: "connect" | "secureConnect"): Raw => {
  let received = ""
  let serverEnded = false
  socket.on("data", (d: Buffer) => (received += d.toString("latin1")))
  socket.on("end", () => (serverEnded = true))
  socket.on("error", () => {})
  return {
    socket,
    received: () => received,
    serverEnded: () => serverEnded,
    closed: new Promise((resolve) => socket.once("close", () => resolve(performance.now()))),
    ready: new Promise((resolve) => socket.once(readyEvent, () => resolve()))
  }
}

const connectPlain = (info: NodeServer.Info) => raw(net.connect(info.port, info.host), "connect")
const connectTls = (info: NodeServer.Info) =>
  raw(tls.connect({ port: info.port, host: info.host, ca: certs.ca, ALPNProtocols: ["http/1.1"] }), "secureConnect")

/** A header block that never completes, sent one byte every DRIP_EVERY_MS. */
const SLOW_HEAD = `POST ${SAY} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-slow: ${"a".repeat(1000)}`

/** Starts dripping SLOW_HEAD on `c` (first byte now); resolves with the time from that byte to the close. */
const drip = async (c: Raw): Promise<number> => {
  const started = performance.now()
  let i = 0
  const send = () => {
    if (!c.socket.destroyed && c.socket.writable && !c.serverEnded()) c.socket.write(SLOW_HEAD[i++ % SLOW_HEAD.length]!)
  }
  send()
  const timer = setInterval(send, DRIP_EVERY_MS)
  try {
    const closedAt = await withTimeout(c.closed, CUT_BOUND_MS + 3000, "slow connection close")
    return closedAt - started
  } finally {
    clearInterval(timer)
  }
}

/** Sends one complete keep-alive Connect call on `c` and waits for its whole 200 answer. */
const keepAliveCall = async (c: Raw, sentence: string) => {
  const body = JSON.stringify({ sentence })
  c.socket.write(
    `POST ${SAY} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  )
  const answer = JSON.stringify({ sentence: `echo: ${sentence}` })
  for (let i = 0; i < 100 && !c.received().endsWith(answer); i++) await sleep(20)
  expect(c.received()).toMatch(/^HTTP\/1\.1 200 /)
  expect(c.received().endsWith(answer)).toBe(true)
}

/** Waits until the server counts at most `n` open connections. */
const connectionsDropTo = async (info: NodeServer.Info, n: number) => {
  for (let i = 0; i < 50 && info.connections() > n; i++) await sleep(20)
  return info.connections()
}

/** 20 connections drip their headers: each is answered 408 and closed on time; good calls pass meanwhile. */
const slowloris = async (info: NodeServer.Info, connect: (info: NodeServer.Info) => Raw) => {
  const conns = Array.from({ length: SLOW_CONNECTIONS }, () => connect(info))
  await withTimeout(Promise.all(conns.map((c) => c.ready)), 3000, "connect")
  const lifetimes = Promise.all(conns.map(drip))
  await sleep(HEADERS_TIMEOUT_MS / 2)
  // during: a fresh connection is served while the slow ones hold theirs
  expect(info.connections()).toBeGreaterThanOrEqual(SLOW_CONNECTIONS)
  await expectGoodCall(info, "during")
  const times = await lifetimes
  for (const t of times) {
    expect(t).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50)
    expect(t).toBeLessThan(CUT_BOUND_MS)
  }
  expect(conns.map((c) => c.received())).toEqual(conns.map(() => REQUEST_TIMEOUT))
  expect(conns.map((c) => c.serverEnded())).toEqual(conns.map(() => true))
  // after: nothing is left open, and the server still serves
  expect(await connectionsDropTo(info, 0)).toBe(0)
  await expectGoodCall(info, "after")
}

describe("HTTP/1.1 header timeout (slowloris)", () => {
  it("connections trickling their header bytes are answered 408 and closed within headersTimeoutMs (+ one sweep)", async () => {
    await slowloris(plain, connectPlain)
  }, 15_000)

  it("a keep-alive connection whose second request's headers are trickled is closed on time", async () => {
    const c = connectPlain(plain)
    await c.ready
    await keepAliveCall(c, "first")
    expect(c.received()).toMatch(/keep-alive/i)
    const mark = c.received().length
    // idle a while first: the header clock starts with the second request's first byte
    await sleep(500)
    const lifetime = await drip(c)
    expect(lifetime).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50)
    expect(lifetime).toBeLessThan(CUT_BOUND_MS)
    expect(c.received().slice(mark)).toBe(REQUEST_TIMEOUT)
    expect(c.serverEnded()).toBe(true)
  }, 10_000)

  it("http: \"1.1\" (no sniffing): a silent connection and a trickling one are both answered 408 and closed on time", async () => {
    const silent = connectPlain(http11Only)
    const slow = connectPlain(http11Only)
    await Promise.all([silent.ready, slow.ready])
    const started = performance.now()
    const [slowLifetime, silentClosedAt] = await Promise.all([drip(slow), withTimeout(silent.closed, SHORT_TIMEOUT_MS + 3000, "close")])
    for (const lifetime of [slowLifetime, silentClosedAt - started]) {
      expect(lifetime).toBeGreaterThanOrEqual(SHORT_TIMEOUT_MS - 50)
      expect(lifetime).toBeLessThan(SHORT_TIMEOUT_MS + 1000)
    }
    expect([silent.received(), slow.received()]).toEqual([REQUEST_TIMEOUT, REQUEST_TIMEOUT])
    await expectGoodCall(http11Only, "after")
  })
})

describe("HTTP/1.1 keep-alive idle timeout", () => {
  it("a keep-alive connection left idle after its answer is closed by the server after keepAliveTimeoutMs", async () => {
    const KEEP_ALIVE_MS = 1000
    const idle = await start({ keepAliveTimeoutMs: KEEP_ALIVE_MS })
    const c = connectPlain(idle)
    await c.ready
    await keepAliveCall(c, "once")
    const answeredAt = performance.now()
    expect(c.received()).toMatch(/keep-alive: timeout=1\b/i)
    const closedAt = await withTimeout(c.closed, KEEP_ALIVE_MS + 3000, "idle keep-alive close")
    // Node closes an idle keep-alive socket after keepAliveTimeout plus its 1 s buffer at most
    expect(closedAt - answeredAt).toBeGreaterThanOrEqual(KEEP_ALIVE_MS - 50)
    expect(closedAt - answeredAt).toBeLessThan(KEEP_ALIVE_MS + 1500)
    expect(c.serverEnded()).toBe(true)
    expect(await connectionsDropTo(idle, 0)).toBe(0)
  }, 10_000)
})

describe("the first bytes of a connection (HTTP/1.1 or the HTTP/2 preface, sniffed)", () => {
  it("a connection dripping the HTTP/2 preface a byte at a time is closed within headersTimeoutMs of its accept", async () => {
    const c = connectPlain(plain)
    await c.ready
    const started = performance.now()
    const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    let i = 0
    // one byte every 400 ms: each byte comes well within the timeout, the whole preface does not
    const timer = setInterval(() => {
      if (!c.socket.destroyed && i < preface.length) c.socket.write(preface[i++]!)
    }, 400)
    try {
      const closedAt = await withTimeout(c.closed, HEADERS_TIMEOUT_MS + 3000, "preface dripper close")
      expect(closedAt - started).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50)
      expect(closedAt - started).toBeLessThan(HEADERS_TIMEOUT_MS + 1000)
      expect(i).toBeLessThan(preface.length)
      expect(c.received()).toBe("")
    } finally {
      clearInterval(timer)
    }
    await expectGoodCall(plain, "after the preface dripper")
  }, 10_000)

  it("a connection that sends nothing is closed after headersTimeoutMs", async () => {
    const c = connectPlain(plain)
    await c.ready
    const started = performance.now()
    const closedAt = await withTimeout(c.closed, HEADERS_TIMEOUT_MS + 3000, "silent connection close")
    expect(closedAt - started).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50)
    expect(closedAt - started).toBeLessThan(HEADERS_TIMEOUT_MS + 1000)
  }, 10_000)
})

describe("HTTP/1.1 requests Node cannot parse are answered, then the connection closed", () => {
  /** Sends `bytes` at once; resolves with what came back once the server closed. */
  const send = async (bytes: string | Buffer) => {
    const c = connectPlain(plain)
    await c.ready
    const started = performance.now()
    c.socket.write(bytes)
    const closedAt = await withTimeout(c.closed, 2000, "close")
    return { received: c.received(), serverEnded: c.serverEnded(), ms: closedAt - started }
  }

  const cases: ReadonlyArray<readonly [string, string, string | Buffer]> = [
    ["a NUL byte in a header value → 400", BAD_REQUEST, `POST ${SAY} HTTP/1.1\r\nhost: x\r\nx-evil: a\u0000b\r\ncontent-length: 0\r\n\r\n`],
    ["a header block over maxHeaderSize → 431", HEADERS_TOO_LARGE, `POST ${SAY} HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(MAX_HEADER + 100)}\r\ncontent-length: 0\r\n\r\n`],
    ["a malformed request line → 400", BAD_REQUEST, "NOT A REQUEST LINE\r\nhost: x\r\n\r\n"],
    ["an unknown HTTP version → 400", BAD_REQUEST, `POST ${SAY} HTTP/9.9\r\nhost: x\r\n\r\n`],
    ["a header line without a colon → 400", BAD_REQUEST, `POST ${SAY} HTTP/1.1\r\nhost: x\r\nno colon here\r\n\r\n`],
    [
      "a malformed chunked body while the handler reads it → 400",
      BAD_REQUEST,
      `POST ${SAY} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{"\r\nzz\r\n`
    ]
  ]
  for (const [name, expected, bytes] of cases) {
    it(name, async () => {
      const [bad] = await Promise.all([send(bytes), expectGoodCall(plain, "beside")])
      expect(bad.received).toBe(expected)
      expect(bad.serverEnded).toBe(true)
      expect(bad.ms).toBeLessThan(1000)
    })
  }

  it("a second request on a keep-alive connection with a NUL byte → the first answered 200, the second 400", async () => {
    const body = JSON.stringify({ sentence: "ok" })
    const r = await send(
      `POST ${SAY} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}` +
        `GET / HTTP/1.1\r\nhost: x\r\nx-evil: \u0000\r\n\r\n`
    )
    expect(r.received).toMatch(/^HTTP\/1\.1 200 /)
    expect(r.received.endsWith(`${JSON.stringify({ sentence: "echo: ok" })}${BAD_REQUEST}`)).toBe(true)
  })
})

describe("HTTPS (HTTP/1.1 by ALPN) header timeout", () => {
  it("connections trickling their header bytes over TLS are answered 408 and closed on time", async () => {
    await slowloris(secure!, connectTls)
  }, 15_000)

  it("a TLS connection that sends nothing after the handshake is closed after headersTimeoutMs", async () => {
    const c = connectTls(secure!)
    await c.ready
    const started = performance.now()
    const closedAt = await withTimeout(c.closed, CUT_BOUND_MS + 3000, "idle close")
    expect(closedAt - started).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50)
    expect(closedAt - started).toBeLessThan(CUT_BOUND_MS)
    expect(c.received()).toBe(REQUEST_TIMEOUT)
  }, 10_000)
})
