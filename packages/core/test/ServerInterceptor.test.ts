/**
 * Server interceptors that see messages (`Interceptor.serverCall`): they validate and replace
 * request and response messages of unary methods, and map, filter and watch the request and
 * response streams of every streaming kind, inside the services that `intercept` sides provide.
 * Runs the real protocol code in memory, on every protocol.
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
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { toBinary } from "@bufbuild/protobuf"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

let handlerRuns = 0

const handlers: ElizaServiceHandlers = {
  say: (request) => Effect.sync(() => (handlerRuns++, { sentence: `echo ${request.sentence}` })),
  introduce: (request) => Stream.range(1, 3).pipe(Stream.map((i) => ({ sentence: `${request.name} ${i}` }))),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence.toUpperCase() })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: all.map((r) => r.sentence).join(",") }))
}

const base = Router.service(Router.empty, ElizaService, handlers)

const clientFor = (router: Router.Router<never>, protocol: "connect" | "grpc" | "grpc-web") =>
  ElizaClient.layer.pipe(Layer.provide(MemoryTransport.layerClient(router, { protocol })))

class Caller extends Context.Service<Caller, string>()("test/Caller") {}

describe.each(["connect", "grpc", "grpc-web"] as const)("server interceptors with messages over %s", (protocol) => {
  it.effect("a unary side validates the request before the handler and replaces the response", () => {
    const validate = Interceptor.serverCall(ElizaService.method.say, {
      unary: (next, request) =>
        request.sentence === ""
          ? Effect.fail(ConnectError.make("invalid_argument", "sentence must not be empty"))
          : Effect.map(next(request), (response) => ({ sentence: `${response.sentence}!` }))
    })
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const before = handlerRuns
      const error = yield* Effect.flip(eliza.say({ sentence: "" }))
      expect(error.code).toBe("invalid_argument")
      expect(error.message).toBe("sentence must not be empty")
      expect(handlerRuns).toBe(before)
      const said = yield* eliza.say({ sentence: "hi" })
      expect(said.sentence).toBe("echo hi!")
      expect(handlerRuns).toBe(before + 1)
    }).pipe(Effect.provide(clientFor(Router.intercept(base, validate), protocol)))
  })

  it.effect("a unary side may replace the request message", () => {
    const upper = Interceptor.serverCall(ElizaService.method.say, {
      unary: (next, request) => next({ ...request, sentence: request.sentence.toUpperCase() })
    })
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      expect((yield* eliza.say({ sentence: "hi" })).sentence).toBe("echo HI")
    }).pipe(Effect.provide(clientFor(Router.intercept(base, upper), protocol)))
  })

  it.effect("a unary side for every method sees decoded messages (no cast to encode them)", () => {
    const nonEmpty = Interceptor.serverCall({
      unary: (next, request, call) =>
        toBinary(call.method.input, request).length === 0
          ? Effect.fail(ConnectError.make("invalid_argument", `${call.method.name}: empty request`))
          : next(request)
    })
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const error = yield* Effect.flip(eliza.say({ sentence: "" }))
      expect(error.code).toBe("invalid_argument")
      expect(error.message).toBe("Say: empty request")
      expect((yield* eliza.say({ sentence: "hi" })).sentence).toBe("echo hi")
    }).pipe(Effect.provide(clientFor(Router.intercept(base, nonEmpty), protocol)))
  })

  it.effect("a side scoped to one method leaves the others as they are", () => {
    const seen: Array<string> = []
    const converseOnly = Interceptor.serverCall(ElizaService.method.converse, {
      stream: (next, requests) => next(Stream.tap(requests, (m) => Effect.sync(() => seen.push(m.sentence))))
    })
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      yield* eliza.reflect(Stream.make({ sentence: "r" }))
      yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
      expect(seen).toEqual([])
      yield* Stream.runCollect(eliza.converse(Stream.make({ sentence: "c" })))
      expect(seen).toEqual(["c"])
    }).pipe(Effect.provide(clientFor(Router.intercept(base, converseOnly), protocol)))
  })

  it.effect("a stream side sees every kind: the request stream and the response stream", () => {
    const seen: Array<string> = []
    const watch = Interceptor.serverCall({
      stream: (next, requests, call) =>
        next(Stream.tap(requests, (m) => Effect.sync(() => seen.push(`${call.method.name} in ${JSON.stringify(m)}`)))).pipe(
          Stream.tap((m) => Effect.sync(() => seen.push(`${call.method.name} out ${JSON.stringify(m)}`)))
        )
    })
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
      yield* Stream.runCollect(eliza.converse(Stream.make({ sentence: "a" })))
      yield* eliza.reflect(Stream.make({ sentence: "x" }, { sentence: "y" }))
      const lines = seen.map((l) => l.replace(/"\$typeName":"[^"]*",/g, ""))
      expect(lines).toEqual([
        `Introduce in {"name":"Ada"}`,
        `Introduce out {"sentence":"Ada 1"}`,
        `Introduce out {"sentence":"Ada 2"}`,
        `Introduce out {"sentence":"Ada 3"}`,
        `Converse in {"sentence":"a"}`,
        `Converse out {"sentence":"A"}`,
        `Reflect in {"sentence":"x"}`,
        `Reflect in {"sentence":"y"}`,
        `Reflect out {"summary":"x,y"}`
      ])
    }).pipe(Effect.provide(clientFor(Router.intercept(base, watch), protocol)))
  })

  it.effect("stream sides filter and rewrite messages on both sides, typed with their method's messages", () => {
    const bracket = Interceptor.serverCall(ElizaService.method.introduce, {
      stream: (next, requests) => Stream.map(next(requests), (m) => ({ sentence: `<${m.sentence}>` }))
    })
    const skipConverse = Interceptor.serverCall(ElizaService.method.converse, {
      stream: (next, requests) => next(Stream.filter(requests, (m) => m.sentence !== "skip"))
    })
    const skipReflect = Interceptor.serverCall(ElizaService.method.reflect, {
      stream: (next, requests) => next(Stream.filter(requests, (m) => m.sentence !== "skip"))
    })
    const filter = (router: Router.Router<never>) =>
      router.pipe(Router.intercept(bracket), Router.intercept(skipConverse), Router.intercept(skipReflect))
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
      expect(intro.map((r) => r.sentence)).toEqual(["<Ada 1>", "<Ada 2>", "<Ada 3>"])
      const conv = yield* Stream.runCollect(eliza.converse(Stream.make({ sentence: "a" }, { sentence: "skip" }, { sentence: "b" })))
      expect(conv.map((r) => r.sentence)).toEqual(["A", "B"])
      const refl = yield* eliza.reflect(Stream.make({ sentence: "skip" }, { sentence: "y" }))
      expect(refl.summary).toBe("y")
    }).pipe(Effect.provide(clientFor(filter(base), protocol)))
  })

  it.effect("a stream side that leaves a server-streaming handler no request, or a client-streaming call two responses, fails the call with internal", () => {
    const dropIntroduce = Interceptor.serverCall(ElizaService.method.introduce, {
      stream: (next, requests) => next(Stream.filter(requests, (m) => m.name !== "drop"))
    })
    const extraReflect = Interceptor.serverCall(ElizaService.method.reflect, {
      stream: (next, requests) => Stream.concat(next(requests), Stream.make({ summary: "extra" }))
    })
    const broken = (router: Router.Router<never>) => router.pipe(Router.intercept(dropIntroduce), Router.intercept(extraReflect))
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const noRequest = yield* Effect.flip(Stream.runCollect(eliza.introduce({ name: "drop" })))
      expect(noRequest.code).toBe("internal")
      expect(noRequest.message).toBe("an interceptor left no request message")
      const twoResponses = yield* Effect.flip(eliza.reflect(Stream.make({ sentence: "a" })))
      expect(twoResponses.code).toBe("internal")
      expect(twoResponses.message).toBe("an interceptor left more than one response message")
    }).pipe(Effect.provide(clientFor(broken(base), protocol)))
  })

  it.effect("message sides run inside every intercept side and see the services it provides; later interceptors run outside", () => {
    const order: Array<string> = []
    const who = Interceptor.provideService(Caller, (call) => Effect.succeed(call.requestHeaders.get("x-caller") ?? "anonymous"))
    const tag = (name: string) =>
      Interceptor.serverCall<ConnectError.ConnectError, Caller>({
        unary: (next, request) =>
          Effect.flatMap(Effect.service(Caller), (caller) => {
            order.push(`${name} ${caller}`)
            return next(request)
          })
      })
    // tag("inner") is added first, so it runs inside tag("outer"); both inside `who`
    const router = base.pipe(Router.intercept(tag("inner")), Router.intercept(tag("outer")), Router.intercept(who))
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      yield* eliza.say({ sentence: "hi" }, { headers: { "x-caller": "ada" } })
      expect(order).toEqual(["outer ada", "inner ada"])
    }).pipe(Effect.provide(clientFor(router, protocol)))
  })
})
