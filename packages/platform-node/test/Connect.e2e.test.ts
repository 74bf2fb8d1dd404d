/**
 * End-to-end: the generated Eliza client against a connect-effect Node server over real
 * sockets, across HTTP/1.1 and h2c × proto and JSON × every compression × POST and GET.
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import * as https from "node:https"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { create } from "@bufbuild/protobuf"
import { StringValueSchema } from "@bufbuild/protobuf/wkt"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import { CurrentCall } from "@connect-effect/core/HandlerContext"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeCompression from "@connect-effect/platform-node/NodeCompression"
import * as Transport from "@connect-effect/core/Transport"
import * as FetchHandler from "@connect-effect/core/FetchHandler"
import * as FetchHttpClient from "@connect-effect/core/FetchHttpClient"
import * as MemoryTransport from "@connect-effect/core/MemoryTransport"
import type { ClientOptions } from "@connect-effect/core/Transport"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { generate } from "./certs.ts"
import { finalizedCount, handlers, router } from "./fixtures/elizaService.ts"
import { ElizaClient } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService as ElizaDescriptor } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"


let scope: Scope.Closeable
let baseUrl = ""
let tlsBaseUrl = ""
const certs = generate()
const clientTls = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const ctx = await Effect.runPromise(Layer.buildWithScope(NodeServer.layerRouter(router, { port: 0 }), scope))
  baseUrl = Context.get(ctx, NodeServer.NodeServer).url
  // the same router behind mutual TLS (h2 and http/1.1 by ALPN)
  const tlsCtx = await Effect.runPromise(Layer.buildWithScope(
    NodeServer.layerRouter(router, {
      port: 0,
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, requestCert: true }
    }),
    scope
  ))
  tlsBaseUrl = Context.get(tlsCtx, NodeServer.NodeServer).url
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

type Protocol = "connect" | "grpc" | "grpc-web"

const transportLayer = (protocol: Protocol, options: NodeTransport.Options) =>
  protocol === "grpc"
    ? NodeTransport.layerGrpc(options)
    : protocol === "grpc-web"
    ? NodeTransport.layerGrpcWeb(options)
    : NodeTransport.layerConnect(options)

/** Where the same cases run: over Node sockets, in memory, or through the fetch handler and fetch client. */
type Runtime = "node" | "memory" | "fetch"

const protocolLayer = (protocol: Protocol, options: ClientOptions) =>
  protocol === "grpc"
    ? Transport.layerGrpc(options)
    : protocol === "grpc-web"
    ? Transport.layerGrpcWeb(options)
    : Transport.layerConnect(options)

// the fetch handler, called in-process by a fetch function: the whole web-standard path
const fetchHandler = Effect.runSync(FetchHandler.fromRouter(router, { compressions: NodeCompression.all }))
const inProcessFetch = ((input: RequestInfo | URL, init?: RequestInit) => fetchHandler(new Request(input, init))) as typeof fetch

const runtimeLayer = (runtime: Runtime, protocol: Protocol, options: ClientOptions) =>
  runtime === "memory"
    ? protocolLayer(protocol, options).pipe(
      Layer.provide(MemoryTransport.layer(router, { compressions: NodeCompression.all })),
      Layer.provide(NodeCompression.layer)
    )
    : protocolLayer(protocol, options).pipe(
      Layer.provide(FetchHttpClient.layer({ fetch: inProcessFetch, transparentDecompression: false })),
      Layer.provide(NodeCompression.layer)
    )

const run = <A, E>(
  effect: Effect.Effect<A, E, ElizaClient>,
  options: Omit<NodeTransport.Options, "baseUrl"> & {
    readonly protocol?: Protocol
    readonly secure?: boolean
    readonly runtime?: Runtime
  }
): Promise<A> =>
  Effect.runPromise(
    effect.pipe(
      Effect.provide(ElizaClient.layer.pipe(
        Layer.provide(options.runtime !== undefined && options.runtime !== "node" ? runtimeLayer(
          options.runtime,
          options.protocol ?? "connect",
          { ...options, baseUrl: "http://in-process" }
        ) : transportLayer(
          options.protocol ?? "connect",
          options.secure === true ? { baseUrl: tlsBaseUrl, tls: clientTls, ...options } : { baseUrl, ...options }
        ))
      ))
    )
  )

const fail = async <A>(p: Promise<A>): Promise<ConnectError.ConnectError> => {
  try {
    await p
  } catch (e) {
    // Effect.runPromise rejects with a FiberFailure-like error whose cause holds the ConnectError
    const found = findConnectError(e)
    if (found) return found
    throw e
  }
  throw new Error("expected a failure")
}

const findConnectError = (e: unknown): ConnectError.ConnectError | undefined => {
  if (ConnectError.isConnectError(e)) return e
  if (typeof e === "object" && e !== null) {
    for (const key of ["cause", "error", "failure"]) {
      const inner = (e as Record<string, unknown>)[key]
      const found = inner !== undefined && inner !== e ? findConnectError(inner) : undefined
      if (found) return found
    }
  }
  return undefined
}

const matrix = (["connect", "grpc", "grpc-web"] as const).flatMap((protocol) =>
  (["1.1", "2"] as const).filter((v) => protocol !== "grpc" || v === "2").flatMap((httpVersion) =>
    (["proto", "json"] as const).flatMap((codec) =>
      ([undefined, "gzip", "br", "zstd"] as const).flatMap((sendCompression) =>
        [false, true].map((secure) => ({ protocol, httpVersion, codec, sendCompression, secure }))
      )
    )
  )
)

// the same cases in memory (all three protocols) and through the fetch handler (no gRPC: fetch has no trailers)
const inProcess = (["memory", "fetch"] as const).flatMap((runtime) =>
  (["connect", "grpc", "grpc-web"] as const).filter((p) => runtime === "memory" || p !== "grpc").flatMap((protocol) =>
    (["proto", "json"] as const).flatMap((codec) =>
      ([undefined, "gzip", "br", "zstd"] as const).map((sendCompression) => ({
        runtime,
        protocol,
        httpVersion: "2" as const,
        codec,
        sendCompression,
        secure: false
      }))
    )
  )
)

describe.each([...matrix.map((m) => ({ ...m, runtime: "node" as const })), ...inProcess])(
  "$runtime $protocol HTTP/$httpVersion $codec $sendCompression tls=$secure",
  (options) => {
    const opts = { ...options, compressMinBytes: 0 }
    it("unary", async () => {
      const res = await run(Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "hi" })), opts)
      expect(res.sentence).toBe("anonymous: hi")
    })
    it("unary with a large compressible response", async () => {
      const res = await run(Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "big" })), opts)
      expect(res.sentence.length).toBe(64 * 1024)
    })
    if (options.protocol === "connect") it("unary over GET", async () => {
      let trailer: string | null = null
      const res = await run(
        Effect.flatMap(Effect.service(ElizaClient), (c) =>
          c.say({ sentence: "headers" }, {
            headers: { "x-request": "r" },
            onTrailers: (t) => {
              trailer = t.get("x-trailer")
            }
          })),
        { ...opts, useHttpGet: true }
      )
      expect(res.sentence).toBe("GET")
      expect(trailer).toBe("r")
    })
    it("headers and trailers", async () => {
      let multi: string | null = null
      let trailer: string | null = null
      const res = await run(
        Effect.flatMap(Effect.service(ElizaClient), (c) =>
          c.say({ sentence: "headers" }, {
            headers: { "x-request": "r" },
            onHeaders: (h) => {
              multi = h.get("x-multi")
            },
            onTrailers: (t) => {
              trailer = t.get("x-trailer")
            }
          })),
        opts
      )
      expect(res.sentence).toBe("POST")
      expect(multi).toBe("a, b")
      expect(trailer).toBe("r")
    })
    it("unary error with details and metadata", async () => {
      const error = await fail(run(Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "error:not_found" })), opts))
      expect(error.code).toBe("not_found")
      expect(error.message).toBe("failed with not_found")
      expect(ConnectError.findDetails(error, StringValueSchema).map((d) => d.value)).toEqual(["detail"])
      expect(error.metadata?.get("x-error-meta")).toBe("m")
      expect(error.metadata?.get("x-on-error")).toBe("h")
      expect(error.metadata?.get("x-trailer-on-error")).toBe("t")
    })
    it("response headers a handler must not send are dropped, the others go out", async () => {
      let headers: Headers | undefined
      const res = await run(
        Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "hop-by-hop" }, { onHeaders: (h) => (headers = h) })),
        opts
      )
      expect(res.sentence).toBe("answered")
      expect(headers?.get("x-kept")).toBe("k")
      // (an HTTP/1.1 server sends its own keep-alive)
      for (const name of ["upgrade", "proxy-connection", "http2-settings", "keep-alive"]) {
        expect(headers?.get(name)?.split(", ") ?? []).not.toContain("x")
      }
    })
    it("unary error whose metadata repeats names of the call's trailers", async () => {
      const error = await fail(run(Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "error-repeated" })), opts))
      expect(error.code).toBe("already_exists")
      expect(error.metadata?.get("location")?.split(", ").sort()).toEqual(["/error", "/trailer"])
      expect(error.metadata?.getSetCookie().sort()).toEqual(["a=1", "b=2"])
    })
    it("server stream", async () => {
      const all = await run(
        Effect.flatMap(Effect.service(ElizaClient), (c) => Stream.runCollect(c.introduce({ name: "n:100" }))),
        opts
      )
      expect(all.map((r) => r.sentence)).toEqual(Array.from({ length: 100 }, (_, i) => `#${i + 1}`))
    })
    it("server stream error after messages, with trailers", async () => {
      const got: Array<string> = []
      let trailer: string | null = null
      const error = await fail(run(
        Effect.flatMap(Effect.service(ElizaClient), (c) =>
          c.introduce({ name: "fail-after:3" }, { onTrailers: (t) => (trailer = t.get("x-stream-trailer")) }).pipe(
            Stream.runForEach((r) => Effect.sync(() => got.push(r.sentence)))
          )),
        opts
      ))
      expect(got).toEqual(["#1", "#2", "#3"])
      expect(error.code).toBe("resource_exhausted")
      expect(trailer).toBe("st")
    })
    it("client stream", async () => {
      const res = await run(
        Effect.flatMap(Effect.service(ElizaClient), (c) =>
          c.reflect(Stream.fromIterable(["a", "b", "c"].map((sentence) => ({ sentence }))))),
        opts
      )
      expect(res.summary).toBe("a|b|c")
    })
    it("bidi stream", async () => {
      const all = await run(
        Effect.flatMap(Effect.service(ElizaClient), (c) =>
          Stream.runCollect(c.converse(Stream.fromIterable(["x", "y"].map((sentence) => ({ sentence })))))),
        opts
      )
      expect(all.map((r) => r.sentence)).toEqual(["echo x", "echo y"])
    })
  }
)

describe.each(["connect", "grpc", "grpc-web"] as const)("behaviour over %s", (protocol) => {
  it("full-duplex bidi over HTTP/2: each response arrives before the next request is sent", async () => {
    const result = await run(
      Effect.gen(function*() {
        const c = yield* ElizaClient
        const Queue = yield* Effect.promise(() => import("effect/Queue"))
        const q = yield* Queue.unbounded<{ sentence: string }, Cause.Done>()
        yield* Queue.offer(q, { sentence: "1" })
        const seen: Array<string> = []
        yield* c.converse(Stream.fromQueue(q)).pipe(
          Stream.runForEach((r) =>
            Effect.gen(function*() {
              seen.push(r.sentence)
              if (seen.length < 3) yield* Queue.offer(q, { sentence: String(seen.length + 1) })
              else yield* Queue.end(q)
            })
          )
        )
        return seen
      }),
      { httpVersion: "2", protocol }
    )
    expect(result).toEqual(["echo 1", "echo 2", "echo 3"])
  })

  it("the interceptor provides the user and rejects bad tokens", async () => {
    const ok = await run(
      Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "hi" }, { headers: { authorization: "Bearer ada" } })),
      { httpVersion: "2", protocol }
    )
    expect(ok.sentence).toBe("ada: hi")
    const error = await fail(run(
      Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "hi" }, { headers: { authorization: "Bearer eve" } })),
      { httpVersion: "2", protocol }
    ))
    expect(error.code).toBe("unauthenticated")
  })

  it("a deadline interrupts the handler and fails with deadline_exceeded", async () => {
    const before = finalizedCount()
    const error = await fail(run(
      Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "sleep:5000" }, { timeoutMs: 100 })),
      { httpVersion: "2", protocol }
    ))
    expect(error.code).toBe("deadline_exceeded")
    await new Promise((r) => setTimeout(r, 200))
    expect(finalizedCount()).toBeGreaterThan(before)
  })

  it("the handler sees the remaining time of the deadline", async () => {
    const res = await run(
      Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "deadline" }, { timeoutMs: 5000 })),
      { httpVersion: "2", protocol }
    )
    const left = Number(res.sentence)
    expect(left).toBeGreaterThan(4000)
    expect(left).toBeLessThanOrEqual(5000)
  })

  it("a client call inside a handler inherits the incoming deadline", async () => {
    const remaining = await Effect.runPromise(
      Effect.gen(function*() {
        const c = yield* ElizaClient
        return (yield* c.say({ sentence: "deadline" })).sentence
      }).pipe(
        Effect.provideService(CurrentCall, {
          method: ElizaDescriptor.method.say,
          protocol: "connect",
          httpMethod: "POST",
          url: "/",
          requestHeaders: new Headers(),
          responseHeaders: new Headers(),
          responseTrailers: new Headers(),
          deadline: Date.now() + 1500,
          timeRemaining: () => 1500
        }),
        Effect.provide(ElizaClient.layer.pipe(Layer.provide(transportLayer(protocol, { baseUrl, httpVersion: "2" }))))
      )
    )
    expect(Number(remaining)).toBeLessThanOrEqual(1500)
    expect(Number(remaining)).toBeGreaterThan(1000)
  })

  it("interrupting a server stream on the client cancels the handler", async () => {
    const before = finalizedCount()
    const first = await run(
      Effect.flatMap(Effect.service(ElizaClient), (c) => Stream.runHead(c.introduce({ name: "forever" }))),
      { httpVersion: "2", protocol }
    )
    expect(first._tag).toBe("Some")
    for (let i = 0; i < 50 && finalizedCount() === before; i++) await new Promise((r) => setTimeout(r, 20))
    expect(finalizedCount()).toBeGreaterThan(before)
  })

  it("a defect in a handler becomes internal, and the server keeps serving", async () => {
    const error = await fail(run(Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "die" })), {}))
    expect(error.code).toBe("internal")
    const ok = await run(Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "still up" })), {})
    expect(ok.sentence).toBe("anonymous: still up")
  })

  it("a response larger than readMaxBytes fails with resource_exhausted", async () => {
    const error = await fail(run(
      Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "big" })),
      { readMaxBytes: 1000, httpVersion: "2", protocol }
    ))
    expect(error.code).toBe("resource_exhausted")
  })

  it("a request larger than writeMaxBytes fails before it is sent", async () => {
    const error = await fail(run(
      Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "y".repeat(5000) })),
      { writeMaxBytes: 1000, httpVersion: "2", protocol }
    ))
    expect(error.code).toBe("resource_exhausted")
  })

  it("an unreachable server fails with unavailable", async () => {
    const error = await fail(Effect.runPromise(
      Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "hi" })).pipe(
        Effect.provide(ElizaClient.layer.pipe(Layer.provide(transportLayer(protocol, { baseUrl: "http://127.0.0.1:1", httpVersion: "2" }))))
      )
    ))
    expect(error.code).toBe("unavailable")
  })
})

// The peer: the handler sees the client end of the connection, compared with the local port of
// the test's own socket (raw node:http / node:http2 clients, so the test knows it)
const sayPath = "/connectrpc.eliza.v1.ElizaService/Say"

/** Calls `say("peer")` over HTTP/1.1: the answer and the client socket's local port. */
const peerOverHttp1 = (url: string, tls?: typeof clientTls) =>
  new Promise<{ sentence: string; localPort: number | undefined }>((resolve, reject) => {
    const body = JSON.stringify({ sentence: "peer" })
    const options = { method: "POST", headers: { "content-type": "application/json", "content-length": body.length }, agent: false as const }
    const req = tls === undefined ? http.request(`${url}${sayPath}`, options) : https.request(`${url}${sayPath}`, { ...options, ...tls })
    let localPort: number | undefined
    req.on("socket", (socket) => socket.once(tls === undefined ? "connect" : "secureConnect", () => (localPort = socket.localPort)))
    req.on("error", reject)
    req.on("response", (res) => {
      let text = ""
      res.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => {
        if (res.statusCode !== 200) return reject(new Error(`${res.statusCode} ${text}`))
        resolve({ sentence: (JSON.parse(text) as { sentence: string }).sentence, localPort })
      })
    })
    req.end(body)
  })

/** Calls `say("peer")` over HTTP/2 (h2c, or TLS by ALPN): the answer and the session socket's local port. */
const peerOverHttp2 = (url: string, tls?: typeof clientTls) =>
  new Promise<{ sentence: string; localPort: number | undefined }>((resolve, reject) => {
    const session = http2.connect(url, tls ?? {})
    session.on("error", reject)
    session.once("connect", () => {
      const localPort = session.socket.localPort
      const stream = session.request({ ":method": "POST", ":path": sayPath, "content-type": "application/json" })
      let text = ""
      let status = 0
      stream.on("response", (headers) => (status = Number(headers[":status"])))
      stream.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => {
        session.close()
        if (status !== 200) return reject(new Error(`${status} ${text}`))
        resolve({ sentence: (JSON.parse(text) as { sentence: string }).sentence, localPort })
      })
      stream.on("error", reject)
      stream.end(JSON.stringify({ sentence: "peer" }))
    })
  })

describe("the handler sees the peer", () => {
  it.each([
    ["HTTP/1.1", peerOverHttp1, false],
    ["HTTP/1.1 over mutual TLS", peerOverHttp1, true],
    ["h2c", peerOverHttp2, false],
    ["HTTP/2 over mutual TLS", peerOverHttp2, true]
  ] as const)("%s: 127.0.0.1 and the client socket's port", async (_, call, secure) => {
    const { localPort, sentence } = secure ? await call(tlsBaseUrl, clientTls) : await call(baseUrl)
    expect(localPort).toBeGreaterThan(0)
    expect(sentence).toBe(`127.0.0.1 ${localPort}`)
  })

  it.each(["1.1", "2"] as const)("through the Node client transport (HTTP/%s)", async (httpVersion) => {
    const { sentence } = await run(Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "peer" })), { httpVersion })
    const [address, port] = sentence.split(" ")
    expect(address).toBe("127.0.0.1")
    expect(Number(port)).toBeGreaterThan(0)
    expect(Number(port)).toBeLessThan(65536)
    expect(Number(port)).not.toBe(Number(new URL(baseUrl).port))
  })

  it.each(["memory", "fetch"] as const)("in %s there is no peer", async (runtime) => {
    const { sentence } = await run(Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "peer" })), { runtime })
    expect(sentence).toBe("none")
  })
})

void create

// Type-level: the handlers require CurrentUser until the auth interceptor provides it.
const withoutAuth = Router.empty.pipe(Router.service(ElizaDescriptor, handlers))
// @ts-expect-error Router<CurrentUser> is not a Router<never>: serving it would lack CurrentUser
const _missing: Router.Router<never> = withoutAuth
const _complete: Router.Router<never> = router
void _missing
void _complete
