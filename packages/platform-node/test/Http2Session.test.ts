import { describe, expect, it } from "@effect/vitest"
import * as http from "node:http"
import * as http2 from "node:http2"
import * as net from "node:net"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import type { ClientRequest } from "@connect-effect/core/Http"
import { HttpClient } from "@connect-effect/core/Http"
import * as NodeHttpClient from "../src/NodeHttpClient.ts"
import * as NodeServer from "../src/NodeServer.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()

/** Calls to `/long` and `/hang` the server has taken in (read the body / sent the first chunk). */
let slowCallsStarted = 0

/** `/unary` echoes; `/long?ms=N` answers after N ms; `/hang` sends headers and a chunk, then never ends. */
const handler: NodeServer.Handler<never> = (req, w) =>
  Effect.gen(function*() {
    const url = new URL(req.url, "http://x")
    if (url.pathname === "/long") {
      const body = yield* Effect.orDie(req.readAll(1 << 20))
      slowCallsStarted++
      yield* Effect.sleep(Number(url.searchParams.get("ms") ?? 500))
      w.head(200, new Headers(), body)
      return
    }
    if (url.pathname === "/hang") {
      w.head(200, new Headers())
      yield* w.write(enc.encode("first"))
      slowCallsStarted++
      return yield* Effect.never
    }
    const body = yield* Effect.orDie(req.readAll(1 << 20))
    w.head(200, new Headers(), body)
  })

const collect = (stream: Stream.Stream<Uint8Array, ConnectError.ConnectError>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => dec.decode(Buffer.concat(Array.from(chunks))))

/** One exchange, bounded far below vitest's timeout so that a hang fails the test clearly. */
const post = (url: string, body: ClientRequest["body"] = enc.encode("x"), bound: "4 seconds" | "10 seconds" = "4 seconds") =>
  Effect.scoped(Effect.gen(function*() {
    const transport = yield* HttpClient
    const res = yield* transport.request({ method: "POST", url, headers: new Headers(), body })
    const text = yield* collect(res.body)
    return { status: res.status, text }
  })).pipe(Effect.timeout(bound))

/** "ok" for a 200, `http <status>` otherwise, or the ConnectError code; a timeout (a hang) is "hang". */
const outcome = <E>(effect: Effect.Effect<{ readonly status: number }, E, HttpClient>) =>
  Effect.map(Effect.result(effect), (r) =>
    r._tag === "Success"
      ? (r.success.status === 200 ? "ok" : `http ${r.success.status}`)
      : ConnectError.isConnectError(r.failure)
      ? r.failure.code
      : "hang")

const startServer = (options?: NodeServer.Options) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const info = yield* Scope.provide(NodeServer.make(handler, options), scope)
    return { info, scope }
  })

/** Polls `f` until it holds, for up to `ms`. */
const eventually = (f: () => boolean, ms = 2000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!f() && Date.now() < deadline) yield* Effect.sleep("10 millis")
    return f()
  })

/** A raw HTTP/2 server whose sessions the test controls (for GOAWAY). */
const rawHttp2Server = Effect.acquireRelease(
  Effect.callback<{ server: http2.Http2Server; sessions: Array<http2.ServerHttp2Session>; url: string }>((resume) => {
    const sessions: Array<http2.ServerHttp2Session> = []
    const server = http2.createServer()
    server.on("session", (s) => {
      sessions.push(s)
      s.on("error", () => {})
    })
    server.on("stream", (stream, headers) => {
      stream.on("error", () => {})
      const path = headers[":path"] ?? "/"
      const ms = path.startsWith("/long") ? 400 : 0
      stream.resume()
      stream.on("end", () => {
        setTimeout(() => {
          if (stream.destroyed) return
          stream.respond({ ":status": 200 })
          stream.end(`done ${path}`)
        }, ms)
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      resume(Effect.succeed({ server, sessions, url: `http://127.0.0.1:${port}` }))
    })
  }),
  ({ server, sessions }) =>
    Effect.callback<void>((resume) => {
      for (const s of sessions) s.destroy()
      server.close(() => resume(Effect.void))
    })
)

/** A TCP proxy whose current connections can be stalled (bytes are dropped in both directions). */
const stallableProxy = (targetPort: number) =>
  Effect.acquireRelease(
    Effect.callback<
      { url: string; stallAll: () => void; dropAll: () => void; connections: () => number; close: () => void }
    >((resume) => {
      const pairs = new Set<{ a: net.Socket; b: net.Socket; stalled: boolean }>()
      const server = net.createServer((a) => {
        const b = net.connect(targetPort, "127.0.0.1")
        const pair = { a, b, stalled: false }
        pairs.add(pair)
        const close = () => {
          pairs.delete(pair)
          a.destroy()
          b.destroy()
        }
        a.on("data", (d) => pair.stalled || b.write(d))
        b.on("data", (d) => pair.stalled || a.write(d))
        for (const s of [a, b]) {
          s.on("error", close)
          s.on("close", close)
        }
      })
      const closeAll = () => {
        for (const p of pairs) {
          p.a.destroy()
          p.b.destroy()
        }
      }
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port
        resume(Effect.succeed({
          url: `http://127.0.0.1:${port}`,
          stallAll: () => {
            for (const p of pairs) p.stalled = true
          },
          dropAll: closeAll,
          connections: () => pairs.size,
          close: () => {
            closeAll()
            server.close()
          }
        }))
      })
    }),
    (proxy) => Effect.sync(proxy.close)
  )

const tcpSockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length

describe("HTTP/2 client session manager", () => {
  it.live("server restart mid-traffic: in-flight calls end, later calls reconnect", () =>
    Effect.gen(function*() {
      // the grace period is far above the short calls' 100 ms and far below the long calls' 6 s
      const first = yield* startServer({ gracePeriodMs: 1000 })
      slowCallsStarted = 0
      const url = first.info.url
      expect((yield* post(`${url}/unary`)).text).toBe("x")
      // long calls that outlive the grace period, short ones that finish within it
      const long = yield* Effect.forkChild(
        Effect.all(Array.from({ length: 5 }, () => outcome(post(`${url}/long?ms=6000`, undefined, "10 seconds"))), { concurrency: "unbounded" })
      )
      // responses under way (headers and a first chunk sent) when the server goes
      const midBody = yield* Effect.forkChild(
        Effect.all(Array.from({ length: 3 }, () => outcome(post(`${url}/hang`, Stream.never))), { concurrency: "unbounded" })
      )
      const short = yield* Effect.forkChild(
        Effect.all(Array.from({ length: 5 }, () => outcome(post(`${url}/long?ms=100`))), { concurrency: "unbounded" })
      )
      // steady traffic across the restart
      let stop = false
      const traffic: Array<string> = []
      const loop = yield* Effect.forkChild(Effect.gen(function*() {
        while (!stop) {
          traffic.push(yield* outcome(post(`${url}/unary`)))
          yield* Effect.sleep("5 millis")
        }
      }))
      // every slow call has reached its handler (a fixed sleep is not enough on a loaded machine)
      expect(yield* eventually(() => slowCallsStarted >= 13, 10_000)).toBe(true)
      yield* Effect.sleep("20 millis") // some steady traffic before the restart
      yield* Scope.close(first.scope, Exit.void)
      const second = yield* startServer({ port: first.info.port })
      // the first call on the restarted server succeeds
      expect(yield* outcome(post(`${url}/unary`))).toBe("ok")
      expect(yield* outcome(post(`${url}/long?ms=10`))).toBe("ok")
      yield* Effect.sleep("50 millis")
      stop = true
      yield* Fiber.join(loop)
      const longResults = yield* Fiber.join(long)
      const shortResults = yield* Fiber.join(short)
      expect(shortResults).toEqual(["ok", "ok", "ok", "ok", "ok"])
      expect(longResults).toEqual(["unavailable", "unavailable", "unavailable", "unavailable", "unavailable"])
      expect(yield* Fiber.join(midBody)).toEqual(["unavailable", "unavailable", "unavailable"])
      expect(traffic.length).toBeGreaterThan(0)
      for (const r of traffic) expect(["ok", "unavailable"]).toContain(r)
      expect(traffic[traffic.length - 1]).toBe("ok")
      expect(second.info.connections()).toBe(1)
      yield* Scope.close(second.scope, Exit.void)
    }).pipe(Effect.provide(NodeHttpClient.layerHttp2())))

  it.live("GOAWAY (graceful close): the in-flight call completes, the next call opens a new session", () =>
    Effect.gen(function*() {
      const server = yield* rawHttp2Server
      expect((yield* post(`${server.url}/a`)).text).toBe("done /a")
      expect(server.sessions.length).toBe(1)
      const call = yield* Effect.forkChild(post(`${server.url}/long`))
      yield* Effect.sleep("100 millis")
      server.sessions[0]!.close() // GOAWAY NO_ERROR with the last stream id; in-flight streams finish
      const res = yield* Fiber.join(call)
      expect(res.text).toBe("done /long")
      expect((yield* post(`${server.url}/b`)).text).toBe("done /b")
      expect(server.sessions.length).toBe(2)
      // the old session went away
      expect(yield* eventually(() => server.sessions[0]!.destroyed)).toBe(true)
    }).pipe(Effect.provide(NodeHttpClient.layerHttp2())))

  it.live("GOAWAY (explicit, last stream id = in-flight stream): the call completes, the next call reconnects", () =>
    Effect.gen(function*() {
      const server = yield* rawHttp2Server
      const streams: Array<number> = []
      server.server.on("stream", (stream) => streams.push(stream.id!))
      const call = yield* Effect.forkChild(post(`${server.url}/long`))
      yield* Effect.sleep("100 millis")
      server.sessions[0]!.goaway(http2.constants.NGHTTP2_NO_ERROR, streams[streams.length - 1]!)
      expect((yield* Fiber.join(call)).text).toBe("done /long")
      expect((yield* post(`${server.url}/c`)).text).toBe("done /c")
      expect(server.sessions.length).toBe(2)
    }).pipe(Effect.provide(NodeHttpClient.layerHttp2())))

  it.live("idle timeout closes the session; the next call reconnects", () => {
    const sessions: Array<http2.ClientHttp2Session> = []
    return Effect.gen(function*() {
      const server = yield* NodeServer.make(handler)
      expect((yield* post(`${server.url}/unary`)).text).toBe("x")
      expect((yield* post(`${server.url}/unary`)).text).toBe("x")
      expect(server.connections()).toBe(1)
      expect(sessions.length).toBe(1)
      // not closed while a call is running longer than the idle timeout
      expect((yield* post(`${server.url}/long?ms=400`)).text).toBe("x")
      expect(sessions.length).toBe(1)
      expect(yield* eventually(() => server.connections() === 0, 1500)).toBe(true)
      expect(sessions[0]!.destroyed).toBe(true)
      expect((yield* post(`${server.url}/unary`)).text).toBe("x")
      expect(sessions.length).toBe(2)
      expect(server.connections()).toBe(1)
    }).pipe(Effect.provide(NodeHttpClient.layerHttp2({ idleTimeoutMs: 200, onSession: (s) => sessions.push(s) })))
  })

  it.live("responses whose body is never read do not pin the session (idle close, graceful shutdown)", () => {
    const sessions: Array<http2.ClientHttp2Session> = []
    return Effect.gen(function*() {
      const { info, scope } = yield* startServer()
      const transport = yield* HttpClient
      // only the headers are looked at: complete responses, and one that never ends
      for (const path of ["/unary", "/unary", "/hang", "/unary"]) {
        const status = yield* Effect.scoped(Effect.map(
          transport.request({ method: "POST", url: `${info.url}${path}`, headers: new Headers(), body: enc.encode("x") }),
          (res) => res.status
        ))
        expect(status).toBe(200)
      }
      expect(sessions.length).toBe(1)
      expect(yield* eventually(() => info.connections() === 0, 1500)).toBe(true)
      expect(sessions[0]!.destroyed).toBe(true)
      // with a session open again, the server's graceful shutdown (GOAWAY) completes at once
      expect((yield* post(`${info.url}/unary`)).text).toBe("x")
      yield* Effect.scoped(transport.request({ method: "POST", url: `${info.url}/unary`, headers: new Headers(), body: enc.encode("x") }))
      const t0 = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(Date.now() - t0).toBeLessThan(1000)
      expect(yield* eventually(() => sessions[1]!.destroyed, 1000)).toBe(true)
    }).pipe(Effect.provide(NodeHttpClient.layerHttp2({ idleTimeoutMs: 200, onSession: (s) => sessions.push(s) })))
  })

  it.live("PING timeout tears down a silent session: in-flight calls fail with unavailable within ~1 s", () =>
    Effect.gen(function*() {
      const server = yield* NodeServer.make(handler)
      const proxy = yield* stallableProxy(server.port)
      const transport = yield* HttpClient
      expect((yield* post(`${proxy.url}/unary`)).text).toBe("x")
      // a call with its response under way, and one still waiting for its headers
      const streaming = yield* Effect.forkChild(Effect.scoped(Effect.gen(function*() {
        const res = yield* transport.request({ method: "POST", url: `${proxy.url}/hang`, headers: new Headers(), body: Stream.never })
        const started = yield* Deferred.make<void>()
        return yield* Stream.runForEach(res.body, () => Deferred.succeed(started, undefined).pipe(Effect.asVoid))
      })).pipe(Effect.timeout("4 seconds"), Effect.flip))
      const waiting = yield* Effect.forkChild(Effect.flip(post(`${proxy.url}/long?ms=10000`)))
      yield* Effect.sleep("150 millis")
      const t0 = Date.now()
      proxy.stallAll()
      const e1 = yield* Fiber.join(streaming)
      const e2 = yield* Fiber.join(waiting)
      const elapsed = Date.now() - t0
      expect(ConnectError.isConnectError(e1) && e1.code).toBe("unavailable")
      expect(ConnectError.isConnectError(e2) && e2.code).toBe("unavailable")
      expect(e1.message).toContain("ping")
      expect(elapsed).toBeLessThan(1000)
      // a new connection is healthy
      expect((yield* post(`${proxy.url}/unary`)).text).toBe("x")
    }).pipe(Effect.provide(NodeHttpClient.layerHttp2({ pingIntervalMs: 100, pingTimeoutMs: 200 }))))

  it.live("a connection dropping mid-response fails the body with unavailable (not a clean end)", () =>
    Effect.gen(function*() {
      const server = yield* NodeServer.make(handler)
      const proxy = yield* stallableProxy(server.port)
      const transport = yield* HttpClient
      for (const body of [enc.encode("x"), Stream.never]) {
        const error = yield* Effect.scoped(Effect.gen(function*() {
          const res = yield* transport.request({ method: "POST", url: `${proxy.url}/hang`, headers: new Headers(), body })
          return yield* Stream.runForEach(res.body, () => Effect.sync(proxy.dropAll))
        })).pipe(Effect.timeout("4 seconds"), Effect.flip)
        expect(ConnectError.isConnectError(error) && error.code).toBe("unavailable")
      }
      expect((yield* post(`${proxy.url}/unary`)).text).toBe("x")
    }).pipe(Effect.provide(NodeHttpClient.layerHttp2())))

  it.live("healthy sessions survive keepalive pings", () =>
    Effect.gen(function*() {
      const server = yield* NodeServer.make(handler)
      expect((yield* post(`${server.url}/long?ms=600`)).text).toBe("x")
      yield* Effect.sleep("300 millis")
      expect((yield* post(`${server.url}/unary`)).text).toBe("x")
      expect(server.connections()).toBe(1)
    }).pipe(Effect.provide(NodeHttpClient.layerHttp2({ pingIntervalMs: 50, pingTimeoutMs: 200 }))))

  it.live("no leaks: listeners stay constant over 100 calls; nothing is left open once the layer is released", () =>
    Effect.gen(function*() {
      const server = yield* NodeServer.make(handler)
      const baseline = tcpSockets()
      const sessions: Array<http2.ClientHttp2Session> = []
      const events = ["close", "goaway", "error", "connect", "ping", "frameError", "timeout"] as const
      const counts = (s: http2.ClientHttp2Session) => events.map((e) => s.listenerCount(e))
      const clientScope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        NodeHttpClient.layerHttp2({ pingIntervalMs: 20, onSession: (s) => sessions.push(s) }),
        clientScope
      )
      const run = <A, E>(effect: Effect.Effect<A, E, HttpClient>) => Effect.provide(effect, context)
      expect((yield* run(post(`${server.url}/unary`))).text).toBe("x")
      const session = sessions[0]!
      const before = counts(session)
      for (let i = 0; i < 100; i++) {
        const body = i % 2 === 0 ? enc.encode(`${i}`) : Stream.make(enc.encode(`${i}`))
        expect((yield* run(post(`${server.url}/unary`, body))).text).toBe(`${i}`)
      }
      // concurrent and canceled calls too
      yield* run(Effect.all(Array.from({ length: 20 }, () => post(`${server.url}/unary`)), { concurrency: "unbounded" }))
      yield* run(Effect.all(
        Array.from({ length: 10 }, () => Effect.timeout(post(`${server.url}/hang`, Stream.never), "30 millis").pipe(Effect.ignore)),
        { concurrency: "unbounded" }
      ))
      expect(sessions.length).toBe(1)
      expect(counts(session)).toEqual(before)
      expect(server.connections()).toBe(1)
      yield* Scope.close(clientScope, Exit.void)
      expect(session.destroyed).toBe(true)
      expect(yield* eventually(() => server.connections() === 0)).toBe(true)
      expect(yield* eventually(() => tcpSockets() <= baseline)).toBe(true)
    }))
})

describe("NodeServer HTTP/2 writer", () => {
  it.live("head with an empty body sends HEADERS with END_STREAM and no DATA frame (trailers-only)", () =>
    Effect.gen(function*() {
      const server = yield* NodeServer.make((_req, w) =>
        Effect.sync(() => w.head(200, new Headers({ "grpc-status": "5", "grpc-message": "nope" }), new Uint8Array(0)))
      )
      const result = yield* Effect.callback<{ endStream: boolean; dataFrames: number; status: unknown; grpc: unknown }>(
        (resume) => {
          const session = http2.connect(server.url)
          const stream = session.request({ ":method": "POST", ":path": "/x" }, { endStream: true })
          let endStream = false
          let dataFrames = 0
          let status: unknown
          let grpc: unknown
          stream.on("response", (headers, flags) => {
            status = headers[":status"]
            grpc = headers["grpc-status"]
            endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0
          })
          stream.on("data", () => dataFrames++)
          stream.on("close", () => {
            session.close()
            resume(Effect.succeed({ endStream, dataFrames, status, grpc }))
          })
        }
      ).pipe(Effect.timeout("3 seconds"))
      expect(result).toEqual({ endStream: true, dataFrames: 0, status: 200, grpc: "5" })
    }))

  it.live("HTTP/1.1 keeps sending content-length: 0 for an empty body", () =>
    Effect.gen(function*() {
      const server = yield* NodeServer.make((_req, w) => Effect.sync(() => w.head(200, new Headers(), new Uint8Array(0))))
      const headers = yield* Effect.callback<http.IncomingHttpHeaders>((resume) => {
        http.request(`${server.url}/x`, { method: "POST", agent: false }, (res) => {
          res.resume()
          res.on("end", () => resume(Effect.succeed(res.headers)))
        }).end()
      }).pipe(Effect.timeout("3 seconds"))
      expect(headers["content-length"]).toBe("0")
    }))
})
