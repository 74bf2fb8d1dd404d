import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ConnectError from "../src/ConnectError.ts"
import * as MemoryTransport from "../src/adapters/MemoryTransport.ts"
import * as Router from "../src/Router.ts"
import type { HttpClient } from "../src/Http.ts"
import {
  ElizaClient,
  ElizaService as ElizaServiceTag,
  type ElizaServiceHandlers
} from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

let finalized = 0

const handlers: ElizaServiceHandlers = {
  say: (request, ctx) =>
    request.sentence === "fail"
      ? Effect.fail(ConnectError.make("not_found", "nothing here", { metadata: { "x-why": "test" } }))
      : Effect.sync(() => {
        ctx.responseTrailers.set("x-trailer", "t")
        return { sentence: `echo ${request.sentence}` }
      }),
  introduce: (request) =>
    request.name === "forever"
      ? Stream.concat(Stream.make({ sentence: "first" }), Stream.never).pipe(Stream.ensuring(Effect.sync(() => finalized++)))
      : Stream.range(1, 3).pipe(Stream.map((i) => ({ sentence: `${request.name} ${i}` }))),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence.toUpperCase() })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: String(all.length) }))
}

const router = Router.service(Router.empty, ElizaService, handlers)

describe.each(["connect", "grpc", "grpc-web"] as const)("MemoryTransport over %s", (protocol) => {
  const client = ElizaClient.layer.pipe(Layer.provide(MemoryTransport.layerClient(router, { protocol })))

  it.effect("runs every RPC kind through the real protocol code", () =>
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      let trailer: string | null = null
      const said = yield* eliza.say({ sentence: "hi" }, { onTrailers: (t) => (trailer = t.get("x-trailer")) })
      expect(said.sentence).toBe("echo hi")
      expect(trailer).toBe("t")
      const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
      expect(intro.map((r) => r.sentence)).toEqual(["Ada 1", "Ada 2", "Ada 3"])
      const conv = yield* Stream.runCollect(eliza.converse(Stream.make({ sentence: "a" }, { sentence: "b" })))
      expect(conv.map((r) => r.sentence)).toEqual(["A", "B"])
      const refl = yield* eliza.reflect(Stream.make({ sentence: "a" }, { sentence: "b" }, { sentence: "c" }))
      expect(refl.summary).toBe("3")
    }).pipe(Effect.provide(client)))

  it.effect("carries errors with their code and metadata", () =>
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const error = yield* Effect.flip(eliza.say({ sentence: "fail" }))
      expect(error.code).toBe("not_found")
      expect(error.message).toBe("nothing here")
      expect(error.metadata?.get("x-why")).toBe("test")
    }).pipe(Effect.provide(client)))

  it.live("interrupting the client interrupts the handler", () =>
    Effect.gen(function*() {
      const before = finalized
      const eliza = yield* ElizaClient
      const first = yield* Stream.runHead(eliza.introduce({ name: "forever" }))
      expect(first._tag).toBe("Some")
      yield* Effect.sleep(10)
      expect(finalized).toBe(before + 1)
    }).pipe(Effect.provide(client)))
})

describe("MemoryTransport with a router effect", () => {
  it.effect("serves Router.fromServices with the tag's layer provided, building the router once", () =>
    Effect.gen(function*() {
      let built = 0
      const router = Router.fromServices(ElizaServiceTag).pipe(Effect.tap(() => Effect.sync(() => built++)))
      const client = ElizaClient.layer.pipe(
        Layer.provide(MemoryTransport.layerClient(router, { protocol: "grpc" })),
        Layer.provide(ElizaServiceTag.layer(Effect.succeed(handlers)))
      )
      yield* Effect.gen(function*() {
        const eliza = yield* ElizaClient
        expect((yield* eliza.say({ sentence: "hi" })).sentence).toBe("echo hi")
        const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
        expect(intro.map((r) => r.sentence)).toEqual(["Ada 1", "Ada 2", "Ada 3"])
        expect((yield* eliza.reflect(Stream.make({ sentence: "a" }, { sentence: "b" }))).summary).toBe("2")
      }).pipe(Effect.provide(client))
      expect(built).toBe(1)
    }))

  it.effect("MemoryTransport.layer fails with the router effect's error", () =>
    Effect.gen(function*() {
      const router: Effect.Effect<Router.Router, "no router"> = Effect.fail("no router")
      const failing: Layer.Layer<HttpClient, "no router"> = MemoryTransport.layer(router)
      const error = yield* Effect.flip(Layer.build(failing).pipe(Effect.scoped))
      expect(error).toBe("no router")
    }))
})
