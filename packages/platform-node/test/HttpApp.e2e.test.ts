/**
 * End-to-end: RPC routes mounted with `HttpApp.layer` in an `effect/http` application served by
 * `@effect/platform-node`'s NodeHttpServer (HTTP/1.1 on `node:http`, h2c on `node:http2`), next to
 * a REST route, called over real sockets with `fetch` and the NodeTransport clients; and the same
 * app through effect/http's web handler (`HttpRouter.toWebHandler`).
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { StringValueSchema } from "@bufbuild/protobuf/wkt"
import { NodeHttpServer, NodeHttpServerRequest } from "@effect/platform-node"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServer from "effect/http/HttpServer"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Transport from "@connect-effect/core/Transport"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as FetchHttpClient from "@connect-effect/core/FetchHttpClient"
import * as HttpApp from "@connect-effect/core/HttpApp"
import * as Router from "@connect-effect/core/Router"
import * as NodeCompression from "@connect-effect/platform-node/NodeCompression"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService as ElizaDescriptor } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

/** Opened by the client once it has received the first streamed message (proves the response streams). */
let gate = Effect.runSync(Deferred.make<void>())
/** Completed by a handler's finalizer when a call is interrupted. */
let interrupted = Effect.runSync(Deferred.make<void>())
let started = Effect.runSync(Deferred.make<void>())

const handlers: ElizaServiceHandlers = {
  say: (request, call) => {
    if (request.sentence === "fail") {
      return Effect.fail(ConnectError.make("invalid_argument", "say something else", {
        metadata: { "x-reason": "fail" },
        details: [ConnectError.detail(StringValueSchema, { value: "not 'fail'" })]
      }))
    }
    if (request.sentence === "hang") {
      return Deferred.succeed(started, undefined).pipe(
        Effect.andThen(Effect.never),
        Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
      )
    }
    call.responseHeaders.set("x-protocol", call.protocol)
    return Effect.succeed({ sentence: `echo: ${request.sentence}` })
  },
  introduce: (request) =>
    request.name === "gated"
      ? Stream.concat(
        Stream.make({ sentence: "first" }),
        Stream.fromEffect(Effect.as(Deferred.await(gate), { sentence: "second" }))
      )
      : Stream.range(1, 3).pipe(Stream.map((i) => ({ sentence: `${request.name} #${i}` }))),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: `pong ${r.sentence}` })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: `${all.length}` }))
}

const router = Router.service(Router.empty, ElizaDescriptor, handlers)

/** gRPC needs HTTP trailers; effect/http has none, so they are written on Node's response object. */
const trailers = (request: HttpServerRequest.HttpServerRequest, headers: Headers) => {
  NodeHttpServerRequest.toServerResponse(request).addTrailers(Object.fromEntries(headers))
}

const App = Layer.mergeAll(
  HttpRouter.add("GET", "/health", HttpServerResponse.json({ status: "ok" })),
  HttpApp.layer(router, { trailers, readMaxBytes: 1024 }),
  HttpApp.layer(router, { prefix: "/rpc" })
).pipe(Layer.provide(NodeCompression.layer))

const serve = (createServer: () => http.Server | http2.Http2Server) =>
  HttpRouter.serve(App, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )

let scope: Scope.Closeable
let url1 = ""
let url2 = ""

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const urlOf = (ctx: Context.Context<HttpServer.HttpServer>) =>
    HttpServer.formatAddress(Context.get(ctx, HttpServer.HttpServer).address)
  url1 = urlOf(await Effect.runPromise(Layer.buildWithScope(serve(() => http.createServer()), scope)))
  url2 = urlOf(await Effect.runPromise(Layer.buildWithScope(serve(() => http2.createServer()), scope)))
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

type Protocol = "connect" | "grpc-web" | "grpc"

const clientLayer = (protocol: Protocol, options: NodeTransport.Options) =>
  ElizaClient.layer.pipe(Layer.provide(
    protocol === "grpc"
      ? NodeTransport.layerGrpc(options)
      : protocol === "grpc-web"
      ? NodeTransport.layerGrpcWeb(options)
      : NodeTransport.layerConnect(options)
  ))

const run = <A, E>(
  effect: Effect.Effect<A, E, ElizaClient>,
  protocol: Protocol,
  options: Partial<NodeTransport.Options> = {}
): Promise<Exit.Exit<A, E>> => {
  const httpVersion = protocol === "grpc" ? "2" : options.httpVersion ?? "1.1"
  const baseUrl = options.baseUrl ?? (httpVersion === "2" ? url2 : url1)
  return Effect.runPromiseExit(effect.pipe(Effect.provide(Layer.orDie(clientLayer(protocol, { ...options, baseUrl, httpVersion })))))
}

const value = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw new Error(`expected success, got ${String(exit.cause)}`)
}

const failure = <A>(exit: Exit.Exit<A, ConnectError.ConnectError>): ConnectError.ConnectError => {
  if (Exit.isFailure(exit)) {
    const error = exit.cause.reasons.find((r) => r._tag === "Fail")
    if (error !== undefined && error._tag === "Fail") return error.error
  }
  throw new Error(`expected a ConnectError, got ${String(exit)}`)
}

describe("HttpApp in an effect/http app on NodeHttpServer", () => {
  it("serves the REST route next to the RPC routes", async () => {
    const response = await fetch(`${url1}/health`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: "ok" })
    // paths that are not routes are the effect/http router's 404
    expect((await fetch(`${url1}/nope`)).status).toBe(404)
    expect((await fetch(`${url1}/connectrpc.eliza.v1.ElizaService/Nope`, { method: "POST" })).status).toBe(404)
  })

  it("answers Connect unary with curl-style JSON through fetch", async () => {
    const response = await fetch(`${url1}/connectrpc.eliza.v1.ElizaService/Say`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sentence: "hi" })
    })
    expect(response.status).toBe(200)
    expect(response.headers.get("x-protocol")).toBe("connect")
    expect(await response.json()).toEqual({ sentence: "echo: hi" })
  })

  for (const protocol of ["connect", "grpc-web"] as const) {
    for (const httpVersion of ["1.1", "2"] as const) {
      for (const codec of ["proto", "json"] as const) {
        it(`${protocol} over HTTP/${httpVersion} (${codec}): unary, server stream, client stream`, async () => {
          const result = value(
            await run(
              Effect.gen(function*() {
                const eliza = yield* ElizaClient
                let protocolHeader: string | null = null
                const said = yield* eliza.say({ sentence: "hello" }, { onHeaders: (h) => (protocolHeader = h.get("x-protocol")) })
                const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
                const reflected = yield* eliza.reflect(Stream.make({ sentence: "a" }, { sentence: "b" }))
                return { said: said.sentence, protocolHeader, intro: intro.map((r) => r.sentence), summary: reflected.summary }
              }),
              protocol,
              { httpVersion, codec }
            )
          )
          expect(result).toEqual({
            said: "echo: hello",
            protocolHeader: protocol,
            intro: ["Ada #1", "Ada #2", "Ada #3"],
            summary: "2"
          })
        })
      }
    }
  }

  it("gRPC over h2c with the trailers hook: unary, stream, error details", async () => {
    const exit = await run(
      Effect.gen(function*() {
        const eliza = yield* ElizaClient
        const said = yield* eliza.say({ sentence: "grpc" })
        const intro = yield* Stream.runCollect(eliza.introduce({ name: "Bo" }))
        const error = yield* Effect.flip(eliza.say({ sentence: "fail" }))
        return { said: said.sentence, intro: intro.map((r) => r.sentence), error }
      }),
      "grpc"
    )
    const result = value(exit)
    expect(result.said).toBe("echo: grpc")
    expect(result.intro).toEqual(["Bo #1", "Bo #2", "Bo #3"])
    expect(result.error.code).toBe("invalid_argument")
    expect(ConnectError.findDetails(result.error, StringValueSchema).map((d) => d.value)).toEqual(["not 'fail'"])
  })

  it("answers gRPC 415 when no trailers hook is given", async () => {
    const exit = await run(Effect.flatMap(ElizaClient, (eliza) => eliza.say({ sentence: "x" })), "grpc", {
      baseUrl: `${url2}/rpc`
    })
    // a 415 without gRPC headers is mapped to `unknown`/`internal` by gRPC clients
    expect(["unknown", "internal", "unimplemented"]).toContain(failure(exit).code)
  })

  it("streams the response: the first message arrives before the handler produces the second", async () => {
    for (const protocol of ["connect", "grpc-web", "grpc"] as const) {
      gate = Effect.runSync(Deferred.make<void>())
      const exit = await run(
        Effect.flatMap(ElizaClient, (eliza) =>
          eliza.introduce({ name: "gated" }).pipe(
            // the handler waits for this before it sends "second": buffering the response would deadlock
            Stream.tap((r) => r.sentence === "first" ? Deferred.succeed(gate, undefined) : Effect.void),
            Stream.map((r) => r.sentence),
            Stream.runCollect
          )),
        protocol,
        { httpVersion: "2" }
      )
      expect(value(exit)).toEqual(["first", "second"])
    }
  })

  it("bidi over HTTP/2 is full duplex: each reply arrives before the next request is sent", async () => {
    for (const protocol of ["connect", "grpc"] as const) {
      const exit = await run(
        Effect.gen(function*() {
          const eliza = yield* ElizaClient
          const outgoing = yield* Queue.unbounded<{ sentence: string }, import("effect/Cause").Done>()
          yield* Queue.offer(outgoing, { sentence: "1" })
          const replies: Array<string> = []
          yield* eliza.converse(Stream.fromQueue(outgoing)).pipe(
            Stream.runForEach((r) =>
              Effect.suspend(() => {
                replies.push(r.sentence)
                return replies.length < 3 ? Queue.offer(outgoing, { sentence: String(replies.length + 1) }) : Queue.end(outgoing)
              })
            )
          )
          return replies
        }),
        protocol,
        { httpVersion: "2" }
      )
      expect(value(exit)).toEqual(["pong 1", "pong 2", "pong 3"])
    }
  })

  it("sends typed errors with metadata and details (Connect and gRPC-Web)", async () => {
    for (const protocol of ["connect", "grpc-web"] as const) {
      const error = failure(await run(Effect.flatMap(ElizaClient, (eliza) => eliza.say({ sentence: "fail" })), protocol))
      expect(error.code).toBe("invalid_argument")
      expect(error.message).toBe("say something else")
      expect(error.metadata?.get("x-reason")).toBe("fail")
      expect(ConnectError.findDetails(error, StringValueSchema).map((d) => d.value)).toEqual(["not 'fail'"])
    }
  })

  it("applies readMaxBytes (resource_exhausted) and compression", async () => {
    const tooBig = failure(
      await run(Effect.flatMap(ElizaClient, (eliza) => eliza.say({ sentence: "x".repeat(2000) })), "connect")
    )
    expect(tooBig.code).toBe("resource_exhausted")
    // under /rpc the default limit (4 MiB) applies; gzip both ways
    const said = value(
      await run(Effect.flatMap(ElizaClient, (eliza) => eliza.say({ sentence: "y".repeat(5000) })), "connect", {
        baseUrl: `${url1}/rpc`,
        sendCompression: "gzip",
        compressMinBytes: 10
      })
    )
    expect(said.sentence).toBe(`echo: ${"y".repeat(5000)}`)
  })

  it("interrupting a client call interrupts the handler on the server", async () => {
    for (const httpVersion of ["1.1", "2"] as const) {
      interrupted = Effect.runSync(Deferred.make<void>())
      started = Effect.runSync(Deferred.make<void>())
      const exit = await run(
        Effect.gen(function*() {
          const eliza = yield* ElizaClient
          const fiber = yield* Effect.forkChild(eliza.say({ sentence: "hang" }))
          yield* Deferred.await(started)
          yield* Fiber.interrupt(fiber)
          yield* Deferred.await(interrupted)
          return "handler interrupted"
        }),
        "connect",
        { httpVersion }
      )
      expect(value(exit)).toBe("handler interrupted")
    }
  })

  it("answers 405 and 415 like the RPC server", async () => {
    const put = await fetch(`${url1}/connectrpc.eliza.v1.ElizaService/Say`, { method: "PUT" })
    expect(put.status).toBe(405)
    const text = await fetch(`${url1}/connectrpc.eliza.v1.ElizaService/Say`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "hi"
    })
    expect(text.status).toBe(415)
    // the /rpc mount has no trailers hook: gRPC is refused, gRPC-Web offered instead
    const grpc = await fetch(`${url1}/rpc/connectrpc.eliza.v1.ElizaService/Say`, {
      method: "POST",
      headers: { "content-type": "application/grpc" },
      body: new Uint8Array(5)
    })
    expect(grpc.status).toBe(415)
    expect(grpc.headers.get("accept-post")).toContain("application/grpc-web")
  })
})

describe("HttpApp in effect/http's web handler (HttpRouter.toWebHandler)", () => {
  it("serves REST and streams RPC responses through Request → Response", async () => {
    const web = HttpRouter.toWebHandler(App.pipe(Layer.provide(HttpServer.layerServices)), { disableLogger: true })
    try {
      expect(await (await web.handler(new Request("http://app/health"))).json()).toEqual({ status: "ok" })
      const webFetch = ((input: RequestInfo | URL, init?: RequestInit) => web.handler(new Request(input, init))) as typeof fetch
      for (const protocol of ["connect", "grpc-web"] as const) {
        gate = Effect.runSync(Deferred.make<void>())
        const options = { baseUrl: "http://app" }
        const transport = (protocol === "connect" ? Transport.layerConnect(options) : Transport.layerGrpcWeb(options)).pipe(
          Layer.provide(FetchHttpClient.layer({ fetch: webFetch })),
          Layer.provide(NodeCompression.layer)
        )
        const result = await Effect.runPromise(
          Effect.gen(function*() {
            const eliza = yield* ElizaClient
            const said = yield* eliza.say({ sentence: "web" })
            const streamed = yield* eliza.introduce({ name: "gated" }).pipe(
              Stream.tap((r) => r.sentence === "first" ? Deferred.succeed(gate, undefined) : Effect.void),
              Stream.map((r) => r.sentence),
              Stream.runCollect
            )
            const error = yield* Effect.flip(eliza.say({ sentence: "fail" }))
            return { said: said.sentence, streamed, code: error.code }
          }).pipe(Effect.provide(ElizaClient.layer.pipe(Layer.provide(transport))))
        )
        expect(result).toEqual({ said: "echo: web", streamed: ["first", "second"], code: "invalid_argument" })
      }
    } finally {
      await web.dispose()
    }
  })
})
