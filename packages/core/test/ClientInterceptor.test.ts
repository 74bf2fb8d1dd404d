/**
 * Client interceptors see whole calls, on every protocol: they can replace the request message
 * or stream, read and replace the response message or stream, observe the stream's end and its
 * trailers, and see the call's failure. Runs the real protocol code in memory.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ConnectError from "../src/ConnectError.ts"
import * as MemoryTransport from "../src/adapters/MemoryTransport.ts"
import * as Interceptor from "../src/Interceptor.ts"
import * as Router from "../src/Router.ts"
import * as Transport from "../src/Transport.ts"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { create, toJsonString } from "@bufbuild/protobuf"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const handlers: ElizaServiceHandlers = {
  say: (request, call) =>
    request.sentence === "fail"
      ? Effect.sync(() => call.responseTrailers.set("x-why", "asked to")).pipe(
        Effect.andThen(Effect.fail(ConnectError.make("not_found", "nothing here")))
      )
      : Effect.sync(() => {
        call.responseHeaders.set("x-header", "h")
        call.responseTrailers.set("x-trailer", "t")
        return { sentence: `echo ${request.sentence} (${call.requestHeaders.get("x-added") ?? "no header"})` }
      }),
  introduce: (request, call) =>
    Stream.fromEffect(Effect.sync(() => call.responseTrailers.set("x-count", "3"))).pipe(
      Stream.flatMap(() => Stream.range(1, 3)),
      Stream.map((i) => ({ sentence: `${request.name} ${i}` }))
    ),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence.toUpperCase() })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: all.map((r) => r.sentence).join(",") }))
}

const router = Router.service(Router.empty, ElizaService, handlers)

const clientWith = (protocol: "connect" | "grpc" | "grpc-web", interceptors: ReadonlyArray<Interceptor.ClientInterceptor>) =>
  ElizaClient.layer.pipe(Layer.provide(MemoryTransport.layerClient(router, { protocol, interceptors })))

describe.each(["connect", "grpc", "grpc-web"] as const)("client interceptors over %s", (protocol) => {
  it.effect("a unary interceptor replaces the request and response messages and sees headers and trailers", () => {
    const seen: Array<string> = []
    const rewrite = Interceptor.clientCall(ElizaService.method.say, {
      unary: (next, request) =>
        Effect.map(
          next({ ...request, message: { ...request.message, sentence: request.message.sentence?.toUpperCase() ?? "" } }),
          (response) => {
            seen.push(`${response.headers.get("x-header")} ${response.trailers.get("x-trailer")}`)
            return { ...response, message: { ...response.message, sentence: `${response.message.sentence}!` } }
          }
        )
    })
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const said = yield* eliza.say({ sentence: "hi" })
      expect(said.sentence).toBe("echo HI (no header)!")
      expect(seen).toEqual(["h t"])
    }).pipe(Effect.provide(clientWith(protocol, [rewrite])))
  })

  it.effect("a unary interceptor sees the call's error with the trailers in its metadata", () => {
    const seen: Array<string> = []
    const observe = Interceptor.clientCall({
      unary: (next, request) =>
        Effect.tapError(next(request), (error) => Effect.sync(() => seen.push(`${error.code} ${error.metadata?.get("x-why")}`)))
    })
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const error = yield* Effect.flip(eliza.say({ sentence: "fail" }))
      expect(error.code).toBe("not_found")
      expect(seen).toEqual(["not_found asked to"])
    }).pipe(Effect.provide(clientWith(protocol, [observe])))
  })

  it.effect("stream interceptors map the request stream and the response stream and see the trailers at the end", () => {
    const ends: Array<string> = []
    const json: Array<string> = []
    // every streaming call: the end of the response stream, and its messages as JSON
    const watch = Interceptor.clientCall({
      stream: (next, request) =>
        Effect.map(next(request), (response) => ({
          ...response,
          messages: response.messages.pipe(
            Stream.tap((m) => Effect.sync(() => json.push(toJsonString(request.method.output, m)))),
            Stream.onEnd(Effect.sync(() => ends.push(`${request.method.name} ${response.trailers.get("x-count")}`)))
          )
        }))
    })
    // one method each, typed with its messages
    const introduce = Interceptor.clientCall(ElizaService.method.introduce, {
      stream: (next, request) =>
        Effect.map(next(request), (response) => ({
          ...response,
          messages: Stream.map(response.messages, (m) => ({ ...m, sentence: `<${m.sentence}>` }))
        }))
    })
    const converse = Interceptor.clientCall(ElizaService.method.converse, {
      stream: (next, request) =>
        Effect.map(
          next({ ...request, messages: Stream.map(request.messages, (m) => ({ ...m, sentence: `${m.sentence}+` })) }),
          (response) => ({ ...response, messages: Stream.map(response.messages, (m) => ({ ...m, sentence: `<${m.sentence}>` })) })
        )
    })
    const reflect = Interceptor.clientCall(ElizaService.method.reflect, {
      stream: (next, request) =>
        Effect.map(
          next({ ...request, messages: Stream.map(request.messages, (m) => ({ ...m, sentence: `${m.sentence}+` })) }),
          (response) => ({ ...response, messages: Stream.map(response.messages, (m) => ({ ...m, summary: `<${m.summary}>` })) })
        )
    })
    const rewrite = [watch, introduce, converse, reflect]
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
      expect(intro.map((r) => r.sentence)).toEqual(["<Ada 1>", "<Ada 2>", "<Ada 3>"])
      const conv = yield* Stream.runCollect(eliza.converse(Stream.make({ sentence: "a" }, { sentence: "b" })))
      expect(conv.map((r) => r.sentence)).toEqual(["<A+>", "<B+>"])
      const refl = yield* eliza.reflect(Stream.make({ sentence: "a" }, { sentence: "b" }))
      expect(refl.summary).toBe("<a+,b+>")
      expect(ends).toEqual(["Introduce 3", "Converse null", "Reflect null"])
      // `watch` is outermost: it sees what the inner, typed interceptors made of the messages
      expect(json).toEqual([
        `{"sentence":"<Ada 1>"}`,
        `{"sentence":"<Ada 2>"}`,
        `{"sentence":"<Ada 3>"}`,
        `{"sentence":"<A+>"}`,
        `{"sentence":"<B+>"}`,
        `{"summary":"<a+,b+>"}`
      ])
    }).pipe(Effect.provide(clientWith(protocol, rewrite)))
  })

  it.effect("`Interceptor.client` wraps both kinds, outermost first, and its header changes reach the server", () => {
    const order: Array<string> = []
    const tag = (name: string) =>
      Interceptor.client((next, request) =>
        Effect.suspend(() => {
          order.push(`${name} ${request.method.name}`)
          request.headers.set("x-added", name)
          return next
        })
      )
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const said = yield* eliza.say({ sentence: "hi" })
      // the inner interceptor runs last, so its header value is the one sent
      expect(said.sentence).toBe("echo hi (inner)")
      yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
      expect(order).toEqual(["outer Say", "inner Say", "outer Introduce", "inner Introduce"])
    }).pipe(Effect.provide(clientWith(protocol, [tag("outer"), tag("inner")])))
  })

  it.effect("an interceptor can answer a unary call without calling the server", () => {
    const cached = Interceptor.clientCall({
      unary: (_, request) =>
        Effect.succeed({
          stream: false,
          headers: new Headers(),
          trailers: new Headers(),
          message: create(request.method.output, { sentence: `cached ${request.method.name}` })
        })
    })
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const said = yield* eliza.say({ sentence: "hi" })
      expect(said.sentence).toBe("cached Say")
    }).pipe(Effect.provide(clientWith(protocol, [cached])))
  })
})

class Caller extends Context.Service<Caller, string>()("test/Caller") {}

class TokenSource extends Context.Service<TokenSource, { readonly token: Effect.Effect<string> }>()("test/TokenSource") {}

describe.each(["connect", "grpc", "grpc-web"] as const)("client interceptors that require services, over %s", (protocol) => {
  // reads the bearer token from a service: the transport layer requires TokenSource
  const auth = Interceptor.client<TokenSource>((next, request) =>
    Effect.flatMap(Effect.service(TokenSource), (source) =>
      Effect.flatMap(source.token, (token) => {
        request.headers.set("x-added", token)
        return next
      }))
  )
  const clientLayer = ElizaClient.layer.pipe(
    Layer.provide(MemoryTransport.layerClient(router, { protocol, interceptors: [auth] })),
    Layer.provide(Layer.succeed(TokenSource, { token: Effect.succeed("from-service") }))
  )

  it.effect("get them from the layer, for unary and streaming calls", () =>
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      expect((yield* eliza.say({ sentence: "hi" })).sentence).toBe("echo hi (from-service)")
      const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
      expect(intro.length).toBe(3)
    }).pipe(Effect.provide(clientLayer)))

  it.effect("see the layer's services beside the caller's own", () => {
    const seen: Array<string> = []
    const observe = Interceptor.client<TokenSource>((next) =>
      Effect.flatMap(Effect.service(TokenSource), (source) =>
        Effect.flatMap(Effect.serviceOption(Caller), (caller) =>
          Effect.flatMap(source.token, (token) =>
            Effect.andThen(
              Effect.sync(() => seen.push(`${token} / ${caller._tag === "Some" ? caller.value : "no caller"}`)),
              next
            )))))
    const layer = ElizaClient.layer.pipe(
      Layer.provide(MemoryTransport.layerClient(router, { protocol, interceptors: [observe] })),
      Layer.provide(Layer.succeed(TokenSource, { token: Effect.succeed("layer") }))
    )
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      yield* eliza.say({ sentence: "hi" })
      yield* Effect.provideService(eliza.say({ sentence: "hi" }), Caller, "ada")
      expect(seen).toEqual(["layer / no caller", "layer / ada"])
    }).pipe(Effect.provide(layer))
  })

  it("are part of the layer's requirements", () => {
    const layer = MemoryTransport.layerClient(router, { protocol, interceptors: [auth] })
    // @ts-expect-error TokenSource is required until it is provided
    const missing: Layer.Layer<Transport.Transport, Transport.TransportConfigError> = layer
    const provided: Layer.Layer<Transport.Transport, Transport.TransportConfigError> = layer.pipe(
      Layer.provide(Layer.succeed(TokenSource, { token: Effect.succeed("t") }))
    )
    expect([missing, provided].length).toBe(2)
  })
})
