import { describe, expect, it } from "@effect/vitest"
import * as net from "node:net"
import * as http2 from "node:http2"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import type { ClientRequest } from "@connect-effect/core/Http"
import { HttpClient } from "@connect-effect/core/Http"
import * as NodeHttpClient from "../src/NodeHttpClient.ts"
import * as NodeServer from "../src/NodeServer.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()

/** Echo: streams the request body back chunk by chunk, with a trailer; `/unary` uses readAll. */
const echo: NodeServer.Handler<never> = (req, w) =>
  Effect.gen(function*() {
    if (req.url.startsWith("/unary")) {
      const max = Number(new URL(req.url, "http://x").searchParams.get("max") ?? 1 << 20)
      const body = yield* Effect.result(req.readAll(max))
      if (body._tag === "Failure") {
        w.head(429, new Headers({ "x-code": body.failure.code }), enc.encode(body.failure.message))
        return
      }
      w.head(200, new Headers({ "x-http": req.httpVersion, "x-echo": req.headers.get("x-echo") ?? "" }), body.success)
      return
    }
    w.head(200, new Headers({ "x-http": req.httpVersion, "content-type": "application/octet-stream" }))
    const result = yield* Effect.result(Stream.runForEach(req.body, (chunk) => w.write(chunk)))
    w.end(new Headers({ "x-trailer": result._tag === "Success" ? "done" : result.failure.code }))
  })

const collect = (stream: Stream.Stream<Uint8Array, ConnectError.ConnectError>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => dec.decode(Buffer.concat(Array.from(chunks))))

const post = (url: string, body: ClientRequest["body"], headers?: HeadersInit) =>
  Effect.scoped(Effect.gen(function*() {
    const transport = yield* HttpClient
    const res = yield* transport.request({ method: "POST", url, headers: new Headers(headers), body })
    const text = yield* collect(res.body)
    const trailers = yield* res.trailers
    return { status: res.status, headers: res.headers, text, trailers }
  }))

const transports = [
  ["http/1.1", NodeHttpClient.layerHttp1()],
  ["http/2", NodeHttpClient.layerHttp2()]
] as const

/** Starts a server in its own scope, so that tests can shut it down. */
const startServer = <R>(handler: NodeServer.Handler<R>, options?: NodeServer.Options) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const info = yield* Scope.provide(NodeServer.make(handler, options), scope)
    return { info, scope }
  })

describe("NodeServer + NodeHttpClient", () => {
  for (const [name, transport] of transports) {
    describe(name, () => {
      it.live("unary echo over a shared HTTP/1.1 + h2c port", () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make(echo)
          const res = yield* post(`${server.url}/unary`, enc.encode("hello"), { "x-echo": "a" })
          expect(res.status).toBe(200)
          expect(res.text).toBe("hello")
          expect(res.headers.get("x-echo")).toBe("a")
          expect(res.headers.get("x-http")).toBe(name === "http/2" ? "2" : "1.1")
        }).pipe(Effect.provide(transport)))

      it.live("response headers keep every value: two set-cookie headers and an appended header", () =>
        Effect.gen(function*() {
          const headers = () => {
            const h = new Headers({ "x-http": "any" })
            h.append("set-cookie", "a=1; Path=/")
            h.append("set-cookie", "b=2; Path=/")
            h.append("x-multi", "one")
            h.append("x-multi", "two")
            return h
          }
          const server = yield* NodeServer.make((req, w) =>
            Effect.gen(function*() {
              // `/whole`: status, headers and body at once; else headers first, then body and trailers
              if (req.url === "/whole") return w.head(201, headers(), enc.encode("whole"))
              w.head(202, headers())
              yield* w.write(enc.encode("streamed"))
              w.end(new Headers({ "x-trailer": "t" }))
            }))
          for (const [path, status, text] of [["/whole", 201, "whole"], ["/streamed", 202, "streamed"]] as const) {
            const res = yield* post(`${server.url}${path}`, enc.encode("x"))
            expect(res.status).toBe(status)
            expect(res.text).toBe(text)
            expect(res.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"])
            expect(res.headers.get("x-multi")).toBe("one, two")
          }
        }).pipe(Effect.provide(transport)))

      it.live("streaming echo with trailers", () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make(echo)
          const parts = Array.from({ length: 50 }, (_, i) => enc.encode(`part-${i};`))
          const res = yield* post(`${server.url}/stream`, Stream.fromIterable(parts))
          expect(res.status).toBe(200)
          expect(res.text).toBe(parts.map((p) => dec.decode(p)).join(""))
          expect(res.trailers.get("x-trailer")).toBe("done")
        }).pipe(Effect.provide(transport)))

      it.live("large streaming echo with backpressure", () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make(echo)
          const chunk = new Uint8Array(64 * 1024).fill(120)
          const res = yield* post(`${server.url}/stream`, Stream.fromIterable(Array.from({ length: 128 }, () => chunk)))
          expect(res.text.length).toBe(128 * 64 * 1024)
          expect(res.trailers.get("x-trailer")).toBe("done")
        }).pipe(Effect.provide(transport)))

      it.live("readAll past the limit fails with resource_exhausted", () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make(echo)
          const res = yield* post(`${server.url}/unary?max=1000`, new Uint8Array(200_000))
          expect(res.status).toBe(429)
          expect(res.headers.get("x-code")).toBe("resource_exhausted")
          expect(res.text).toContain("1000")
          // the server stays usable
          expect((yield* post(`${server.url}/unary`, enc.encode("again"))).text).toBe("again")
        }).pipe(Effect.provide(transport)))

      it.live("closing the client scope mid-stream interrupts the server handler", () =>
        Effect.gen(function*() {
          const started = yield* Deferred.make<void>()
          const finalized = yield* Deferred.make<void>()
          const server = yield* NodeServer.make((_req, w) =>
            Effect.gen(function*() {
              w.head(200, new Headers())
              yield* w.write(enc.encode("first"))
              yield* Deferred.succeed(started, undefined)
              yield* Effect.never
            }).pipe(Effect.onInterrupt(() => Deferred.succeed(finalized, undefined)))
          )
          const transport = yield* HttpClient
          yield* Effect.scoped(Effect.gen(function*() {
            const res = yield* transport.request({
              method: "POST",
              url: `${server.url}/hang`,
              headers: new Headers(),
              body: Stream.never
            })
            expect(res.status).toBe(200)
            yield* Deferred.await(started)
          }))
          yield* Deferred.await(finalized).pipe(Effect.timeout("3 seconds"))
        }).pipe(Effect.provide(transport)))

      it.live("shutdown lets an in-flight call finish", () =>
        Effect.gen(function*() {
          const started = yield* Deferred.make<void>()
          const { info, scope } = yield* startServer((req, w) =>
            Effect.gen(function*() {
              const body = yield* Effect.orDie(req.readAll(1024))
              yield* Deferred.succeed(started, undefined)
              yield* Effect.sleep("300 millis")
              w.head(200, new Headers(), body)
            })
          )
          const call = yield* Effect.forkChild(post(`${info.url}/slow`, enc.encode("slow")))
          yield* Deferred.await(started)
          const t0 = Date.now()
          yield* Scope.close(scope, Exit.void)
          const elapsed = Date.now() - t0
          const res = yield* Fiber.join(call)
          expect(res.text).toBe("slow")
          expect(elapsed).toBeLessThan(3000)
          // the port is closed now
          const error = yield* Effect.flip(post(`${info.url}/unary`, enc.encode("x")))
          expect(error.code).toBe("unavailable")
        }).pipe(Effect.provide(transport)))

      it.live("shutdown interrupts handlers still running after the grace period", () =>
        Effect.gen(function*() {
          const started = yield* Deferred.make<void>()
          const finalized = yield* Deferred.make<void>()
          const { info, scope } = yield* startServer(
            (_req, w) =>
              Effect.gen(function*() {
                w.head(200, new Headers())
                yield* Deferred.succeed(started, undefined)
                yield* Effect.never
              }).pipe(Effect.onInterrupt(() => Deferred.succeed(finalized, undefined))),
            { gracePeriodMs: 100 }
          )
          const call = yield* Effect.forkChild(Effect.result(post(`${info.url}/never`, enc.encode("x"))))
          yield* Deferred.await(started)
          yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("3 seconds"))
          yield* Deferred.await(finalized).pipe(Effect.timeout("1 second"))
          const result = yield* Fiber.join(call).pipe(Effect.timeout("3 seconds"))
          expect(result._tag).toBe("Failure")
        }).pipe(Effect.provide(transport)))

      it.live("a dying handler yields 500, and the server keeps serving", () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make((req) =>
            req.url === "/die" ? Effect.die(new Error("boom")) : echo(req, undefined as never), { onDefect: () => {} })
          const res = yield* post(`${server.url}/die`, enc.encode("x"))
          expect(res.status).toBe(500)
          const again = yield* post(`${server.url}/die`, enc.encode("x"))
          expect(again.status).toBe(500)
        }).pipe(Effect.provide(transport)))

      it.live("without onDefect, a dying handler is logged with the Effect logger of the server's context", () => {
        const logged: Array<{ level: string; message: unknown; defect: unknown }> = []
        const logger = Logger.make((options) => {
          const defect = Cause.findDefect(options.cause)
          logged.push({ level: options.logLevel, message: options.message, defect: defect._tag === "Success" ? defect.success : undefined })
        })
        return Effect.gen(function*() {
          const server = yield* NodeServer.make((req, w) => req.url === "/die" ? Effect.die(new Error("boom")) : echo(req, w))
          const res = yield* post(`${server.url}/die`, enc.encode("x"))
          expect(res.status).toBe(500)
          expect(logged).toHaveLength(1)
          expect(logged[0]!.level).toBe("Error")
          expect(logged[0]!.message).toEqual(["[connect-effect] handler defect"])
          expect((logged[0]!.defect as Error).message).toBe("boom")
          const ok = yield* post(`${server.url}/unary`, enc.encode("x"))
          expect(ok.status).toBe(200)
          expect(logged).toHaveLength(1)
        }).pipe(Effect.provide(Layer.merge(transport, Logger.layer([logger]))))
      })

      it.live("a dying handler after the headers resets the exchange", () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make((_req, w) =>
            Effect.gen(function*() {
              w.head(200, new Headers())
              yield* w.write(enc.encode("partial"))
              yield* Effect.sleep("20 millis")
              return yield* Effect.die(new Error("boom"))
            }), { onDefect: () => {} })
          const error = yield* Effect.flip(post(`${server.url}/x`, Stream.empty))
          expect(["unavailable", "internal", "canceled"]).toContain(error.code)
        }).pipe(Effect.provide(transport)))

      it.live("connection refused is unavailable", () =>
        Effect.gen(function*() {
          const port = yield* freePort
          const error = yield* Effect.flip(post(`http://127.0.0.1:${port}/x`, enc.encode("x")))
          expect(error.code).toBe("unavailable")
        }).pipe(Effect.provide(transport)))
    })
  }

  it.live("server-side body fails with canceled (or the handler is interrupted) when the client resets mid-body (h2)", () =>
    Effect.gen(function*() {
      const outcome = yield* Deferred.make<string>()
      const server = yield* NodeServer.make((req, w) =>
        Effect.gen(function*() {
          const result = yield* Effect.result(Stream.runDrain(req.body))
          yield* Deferred.succeed(outcome, result._tag === "Success" ? "ok" : result.failure.code)
          w.end()
        }).pipe(Effect.onInterrupt(() => Deferred.succeed(outcome, "interrupted")))
      )
      const session = http2.connect(server.url)
      // waitForTrailers: canceling then sends RST_STREAM without a premature END_STREAM
      const stream = session.request({ ":method": "POST", ":path": "/x" }, { waitForTrailers: true })
      stream.on("error", () => {})
      stream.write("some bytes")
      yield* Effect.sleep("50 millis")
      stream.close(http2.constants.NGHTTP2_CANCEL)
      expect(["canceled", "interrupted"]).toContain(yield* Deferred.await(outcome).pipe(Effect.timeout("3 seconds")))
      session.destroy()
    }))

  it.live("server-side body fails with canceled (or the handler is interrupted) when the client disconnects mid-body (http/1.1)", () =>
    Effect.gen(function*() {
      const outcome = yield* Deferred.make<string>()
      const server = yield* NodeServer.make((req, w) =>
        Effect.gen(function*() {
          const result = yield* Effect.result(req.readAll(1 << 20))
          yield* Deferred.succeed(outcome, result._tag === "Success" ? "ok" : result.failure.code)
          w.end()
        }).pipe(Effect.onInterrupt(() => Deferred.succeed(outcome, "interrupted")))
      )
      const socket = net.connect(server.port, "127.0.0.1")
      socket.on("error", () => {})
      socket.write("POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\npartial")
      yield* Effect.sleep("50 millis")
      socket.destroy()
      expect(["canceled", "interrupted"]).toContain(yield* Deferred.await(outcome).pipe(Effect.timeout("3 seconds")))
    }))

  /**
   * Answers with what the handler sees of the request headers, through `header` (read first: it
   * answers from the raw list until the `Headers` exist) and through `headers`.
   */
  const seenHeaders: NodeServer.Handler<never> = (req, w) =>
    Effect.sync(() => {
      const fields = ["cookie", "x-multi", "x-spaced", "x-missing"]
      const singles = fields.map((name) => req.header?.(name) ?? "(none)")
      const names: Array<string> = []
      req.headers.forEach((_, name) => names.push(name))
      const seen: Record<string, unknown> = { names }
      fields.forEach((name, i) => seen[name] = [req.headers.get(name), singles[i]])
      w.head(200, new Headers({ "content-type": "application/json" }), enc.encode(JSON.stringify(seen)))
    })
  const expectSeen = (body: string, http: "1.1" | "2") => {
    const seen = JSON.parse(body)
    // cookie fields joined with "; " (RFC 9113 §8.2.3), other repeated names with ", ", values trimmed
    expect(seen["cookie"]).toEqual(["a=1; b=2", "a=1; b=2"])
    expect(seen["x-multi"]).toEqual(["one, two", "one, two"])
    expect(seen["x-spaced"]).toEqual(["padded", "padded"])
    expect(seen["x-missing"]).toEqual([null, "(none)"])
    // no pseudo-header reaches the handler's Headers
    expect(seen.names.filter((n: string) => n.startsWith(":"))).toEqual([])
    expect(seen.names).toEqual(expect.arrayContaining(["cookie", "x-multi", "x-spaced", ...(http === "1.1" ? ["host"] : [])]))
  }

  it.live("request headers as the handler sees them over HTTP/2: separate cookie fields, repeated names, no pseudo-headers", () =>
    Effect.gen(function*() {
      const server = yield* NodeServer.make(seenHeaders)
      const session = http2.connect(server.url)
      const body = yield* Effect.callback<string>((resume) => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/headers",
          "cookie": ["a=1", "b=2"],
          "x-multi": ["one", "two"],
          // HTTP/2 field values cannot start or end with whitespace (RFC 9113 §8.2.1)
          "x-spaced": "padded"
        })
        let text = ""
        stream.setEncoding("utf8")
        stream.on("data", (d: string) => text += d)
        stream.on("end", () => resume(Effect.succeed(text)))
        stream.on("error", (e) => resume(Effect.die(e)))
        stream.end()
      }).pipe(Effect.timeout("3 seconds"), Effect.ensuring(Effect.sync(() => session.destroy())))
      expectSeen(body, "2")
    }))

  it.live("request headers as the handler sees them over HTTP/1.1: two Cookie lines, repeated names", () =>
    Effect.gen(function*() {
      const server = yield* NodeServer.make(seenHeaders)
      const response = yield* Effect.callback<string>((resume) => {
        const socket = net.connect(server.port, "127.0.0.1")
        let text = ""
        socket.setEncoding("utf8")
        socket.on("data", (d: string) => text += d)
        socket.on("end", () => resume(Effect.succeed(text)))
        socket.on("error", (e) => resume(Effect.die(e)))
        socket.write(
          "POST /headers HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nX-Multi: one\r\nCookie: b=2\r\nX-Multi: two\r\n" +
            "X-Spaced:   padded\t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
      }).pipe(Effect.timeout("3 seconds"))
      expect(response.startsWith("HTTP/1.1 200")).toBe(true)
      // the JSON body (with or without chunked framing around it; no header holds a brace)
      expectSeen(response.slice(response.indexOf("{"), response.lastIndexOf("}") + 1), "1.1")
    }))

  it.live("http/2 session is reused across calls and re-established after a restart", () =>
    Effect.gen(function*() {
      const first = yield* startServer(echo)
      const url = first.info.url
      for (let i = 0; i < 3; i++) {
        expect((yield* post(`${url}/unary`, enc.encode(`call ${i}`))).text).toBe(`call ${i}`)
      }
      // concurrent calls share the session too
      yield* Effect.all(Array.from({ length: 10 }, (_, i) => post(`${url}/stream`, Stream.make(enc.encode(`${i}`)))), {
        concurrency: "unbounded"
      })
      expect(first.info.connections()).toBe(1)
      yield* Scope.close(first.scope, Exit.void)
      // let the client see the GOAWAY / connection close
      yield* Effect.sleep("50 millis")
      const second = yield* startServer(echo, { port: first.info.port })
      expect((yield* post(`${url}/unary`, enc.encode("after restart"))).text).toBe("after restart")
      expect(second.info.connections()).toBe(1)
      yield* Scope.close(second.scope, Exit.void)
    }).pipe(Effect.provide(NodeHttpClient.layerHttp2())))

  it.live("http/1.1 keep-alive reuses connections", () =>
    Effect.gen(function*() {
      const server = yield* NodeServer.make(echo)
      for (let i = 0; i < 5; i++) {
        expect((yield* post(`${server.url}/unary`, enc.encode(`call ${i}`))).text).toBe(`call ${i}`)
      }
      expect(server.connections()).toBe(1)
    }).pipe(Effect.provide(NodeHttpClient.layerHttp1())))

  it.live("http: '1.1' and http: '2' servers", () =>
    Effect.gen(function*() {
      const s1 = yield* NodeServer.make(echo, { http: "1.1" })
      const s2 = yield* NodeServer.make(echo, { http: "2" })
      const r1 = yield* post(`${s1.url}/unary`, enc.encode("one")).pipe(Effect.provide(NodeHttpClient.layerHttp1()))
      const r2 = yield* post(`${s2.url}/unary`, enc.encode("two")).pipe(Effect.provide(NodeHttpClient.layerHttp2()))
      expect([r1.text, r1.headers.get("x-http"), r2.text, r2.headers.get("x-http")]).toEqual(["one", "1.1", "two", "2"])
    }))

  it.live("layer exposes the bound address", () =>
    Effect.gen(function*() {
      const info = yield* NodeServer.NodeServer
      const res = yield* post(`${info.url}/unary`, enc.encode("via layer"))
      expect(res.text).toBe("via layer")
    }).pipe(Effect.provide(Layer.merge(NodeServer.layer(echo), NodeHttpClient.layer({ httpVersion: "2" })))))
})

const freePort = Effect.callback<number>((resume) => {
  const s = net.createServer()
  s.listen(0, "127.0.0.1", () => {
    const port = (s.address() as net.AddressInfo).port
    s.close(() => resume(Effect.succeed(port)))
  })
})
