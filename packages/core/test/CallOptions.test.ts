import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { CallOptions } from "../src/CallOptions.ts"
import * as MemoryTransport from "../src/adapters/MemoryTransport.ts"
import * as Client from "../src/Client.ts"
import * as ConnectError from "../src/ConnectError.ts"
import * as Retry from "../src/extensions/Retry.ts"
import type { HandlerContext } from "../src/HandlerContext.ts"
import { formatTimeout } from "../src/protocol-grpc/wire.ts"
import * as Router from "../src/Router.ts"
import * as Transport from "../src/Transport.ts"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

/** What the handler saw: the test headers, and the deadline header of the protocol. */
const seen = (ctx: HandlerContext) =>
  JSON.stringify({
    a: ctx.requestHeaders.get("x-a"),
    b: ctx.requestHeaders.get("x-b"),
    c: ctx.requestHeaders.get("x-c"),
    d: ctx.requestHeaders.get("x-d"),
    timeout: ctx.requestHeaders.get("connect-timeout-ms") ?? ctx.requestHeaders.get("grpc-timeout")
  })

const handlers: ElizaServiceHandlers = {
  say: (request, ctx) =>
    request.sentence === "sleep"
      ? Effect.as(Effect.sleep("10 seconds"), { sentence: "late" })
      : Effect.sync(() => {
        ctx.responseHeaders.set("x-h", "header")
        ctx.responseTrailers.set("x-t", "trailer")
        return { sentence: seen(ctx) }
      }),
  introduce: (request, ctx) =>
    request.name === "sleep"
      ? Stream.concat(Stream.make({ sentence: "first" }), Stream.never)
      : Stream.make({ sentence: seen(ctx) }),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence })),
  reflect: (requests, ctx) =>
    Effect.map(Stream.runCollect(requests), (all) => {
      ctx.responseHeaders.set("x-h", "reflected")
      ctx.responseTrailers.set("x-t", String(all.length))
      return { summary: String(all.length) }
    })
}

const router = Router.service(Router.empty, ElizaService, handlers)

const clientLayer = (protocol: "connect" | "grpc" | "grpc-web", options: Partial<Transport.ClientOptions> = {}) =>
  ElizaClient.layer.pipe(Layer.provide(MemoryTransport.layerClient(router, { protocol, ...options })))

describe.each(["connect", "grpc", "grpc-web"] as const)("call options over %s", (protocol) => {
  const wire = (ms: number) => (protocol === "connect" ? String(ms) : formatTimeout(ms))
  const say = (options?: CallOptions) =>
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const response = yield* eliza.say({ sentence: "hi" }, options)
      return JSON.parse(response.sentence) as Record<string, string | null>
    })

  it.effect("a Duration timeout is sent in milliseconds; with timeoutMs the smaller wins", () =>
    Effect.gen(function*() {
      expect((yield* say({ timeout: "1500 millis" })).timeout).toBe(wire(1500))
      expect((yield* say({ timeout: Duration.seconds(2) })).timeout).toBe(wire(2000))
      expect((yield* say({ timeout: Duration.seconds(2), timeoutMs: 700 })).timeout).toBe(wire(700))
      expect((yield* say({ timeout: "300 millis", timeoutMs: 900 })).timeout).toBe(wire(300))
      expect((yield* say()).timeout).toBe(null)
    }).pipe(Effect.provide(clientLayer(protocol))))

  it.effect("the client's Duration timeout is the default; a call's own replaces it, infinity disables it", () =>
    Effect.gen(function*() {
      expect((yield* say()).timeout).toBe(wire(3000))
      expect((yield* say({ timeout: "5 seconds" })).timeout).toBe(wire(5000))
      expect((yield* say({ timeoutMs: 100 })).timeout).toBe(wire(100))
      expect((yield* say({ timeout: Duration.infinity })).timeout).toBe(null)
    }).pipe(Effect.provide(clientLayer(protocol, { timeout: "3 seconds", timeoutMs: 4000 }))))

  it.live("a Duration timeout ends unary and streaming calls with deadline_exceeded", () =>
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const unary = yield* Effect.flip(eliza.say({ sentence: "sleep" }, { timeout: "30 millis" }))
      expect(unary.code).toBe("deadline_exceeded")
      const streamed = yield* Effect.flip(
        Stream.runCollect(eliza.introduce({ name: "sleep" }, { timeout: Duration.millis(30) }))
      )
      expect(streamed.code).toBe("deadline_exceeded")
    }).pipe(Effect.provide(clientLayer(protocol))))

  it.live("the client's Duration timeout bounds every call", () =>
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const error = yield* Effect.flip(eliza.say({ sentence: "sleep" }))
      expect(error.code).toBe("deadline_exceeded")
    }).pipe(Effect.provide(clientLayer(protocol, { timeout: "30 millis" }))))

  it.effect("headers: client defaults < withHeaders (outer < inner) < call options", () =>
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      expect(yield* say()).toMatchObject({ a: "default", b: "default", c: "default", d: "default" })
      const nested = say({ headers: { "x-d": "call" } }).pipe(
        Transport.withHeaders({ "x-c": "inner", "x-d": "inner" }),
        Transport.withHeaders({ "x-b": "outer", "x-c": "outer", "x-d": "outer" })
      )
      expect(yield* nested).toMatchObject({ a: "default", b: "outer", c: "inner", d: "call" })
      // data-first, and a streaming call run inside it
      const streamed = yield* Transport.withHeaders(
        Stream.runCollect(eliza.introduce({ name: "x" }, { headers: [["x-d", "call"]] })),
        new Headers({ "x-b": "scoped" })
      )
      expect(JSON.parse(streamed[0]!.sentence)).toMatchObject({ a: "default", b: "scoped", c: "default", d: "call" })
      // scoped headers end with their effect
      expect(yield* say()).toMatchObject({ b: "default" })
    }).pipe(
      Effect.provide(
        clientLayer(protocol, { headers: { "x-a": "default", "x-b": "default", "x-c": "default", "x-d": "default" } })
      )
    ))

  it.effect("withHeaders without client defaults; no defaults at all sends only the call's", () =>
    Effect.gen(function*() {
      expect(yield* say({ headers: { "x-a": "call" } })).toMatchObject({ a: "call", b: null })
      expect(yield* Transport.withHeaders(say({ headers: { "x-b": "call" } }), { "x-a": "scoped", "x-b": "scoped" }))
        .toMatchObject({ a: "scoped", b: "call" })
    }).pipe(Effect.provide(clientLayer(protocol))))

  it.effect("callWithMetadata returns the message with the response headers and trailers", () =>
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      let callback: string | null = null
      const response = yield* Client.callWithMetadata(eliza.say, { sentence: "hi" }, {
        timeout: "1 second",
        onHeaders: (headers) => (callback = headers.get("x-h"))
      })
      expect(JSON.parse(response.message.sentence)).toMatchObject({ timeout: wire(1000) })
      expect(response.headers.get("x-h")).toBe("header")
      expect(response.trailers.get("x-t")).toBe("trailer")
      expect(callback).toBe("header")
      const reflected = yield* Client.callWithMetadata(eliza.reflect, Stream.make({ sentence: "a" }, { sentence: "b" }))
      expect(reflected.message.summary).toBe("2")
      expect(reflected.headers.get("x-h")).toBe("reflected")
      expect(reflected.trailers.get("x-t")).toBe("2")
    }).pipe(Effect.provide(clientLayer(protocol))))
})

describe("Retry with a Duration timeout", () => {
  /** A transport that fails `failures` times with `unavailable`, recording the options of each attempt. */
  const flaky = (failures: number) => {
    const calls: Array<CallOptions | undefined> = []
    const transport: Transport.TransportShape = {
      info: { protocol: "connect", baseUrl: "http://test", timeoutMs: undefined },
      unary: (_method, request, options) =>
        Effect.suspend(() => {
          calls.push(options)
          return calls.length <= failures ? Effect.fail(ConnectError.make("unavailable", "down")) : Effect.succeed(request)
        }),
      stream: () => Stream.empty
    }
    return { transport, calls }
  }

  it.live("counts the call's timeout into the deadline of every attempt", () =>
    Effect.gen(function*() {
      const slow = flaky(1)
      const start = Date.now()
      const error = yield* Effect.flip(
        Retry.transport(slow.transport, { schedule: Schedule.spaced("10 seconds") }).unary(ElizaService.method.say, "req", {
          timeout: "1 second"
        })
      )
      expect(error.code).toBe("unavailable")
      expect(Date.now() - start).toBeLessThan(1_000)
      expect(slow.calls).toHaveLength(1)

      const fast = flaky(1)
      expect(
        yield* Retry.transport(fast.transport, { schedule: Schedule.spaced("1 millis") }).unary(ElizaService.method.say, "req", {
          timeout: Duration.seconds(2)
        })
      ).toBe("req")
      expect(fast.calls[1]?.timeout).toBeUndefined()
      expect(fast.calls[1]?.timeoutMs).toBeGreaterThan(0)
      expect(fast.calls[1]?.timeoutMs).toBeLessThanOrEqual(2_000)
    }))
})
