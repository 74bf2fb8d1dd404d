/**
 * RPC metrics: the server interceptor and the client interceptor count every call and record its
 * duration, with the OpenTelemetry RPC attributes and the call's final code, over every protocol
 * in memory. Each test reads a registry of its own; durations run on the live clock, so a slow
 * handler and a slow stream show that a call is measured until its end (the end of the stream).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Stream from "effect/Stream"
import type * as Code from "../src/Code.ts"
import * as ConnectError from "../src/ConnectError.ts"
import * as MemoryTransport from "../src/adapters/MemoryTransport.ts"
import * as Metrics from "../src/extensions/Metrics.ts"
import * as Router from "../src/Router.ts"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const handlers: ElizaServiceHandlers = {
  say: (request) =>
    request.sentence === "fail"
      ? Effect.fail(ConnectError.make("not_found", "nothing here"))
      : request.sentence === "die"
      ? Effect.die("boom")
      : request.sentence === "slow"
      ? Effect.as(Effect.sleep("40 millis"), { sentence: "slept" })
      : Effect.succeed({ sentence: `echo ${request.sentence}` }),
  introduce: (request) =>
    request.name === "fail"
      ? Stream.concat(
        Stream.make({ sentence: "1" }, { sentence: "2" }),
        Stream.fail(ConnectError.make("resource_exhausted", "no more"))
      )
      : request.name === "slow"
      ? Stream.range(1, 3).pipe(Stream.mapEffect((i) => Effect.as(Effect.sleep("20 millis"), { sentence: `#${i}` })))
      : Stream.range(1, 3).pipe(Stream.map((i) => ({ sentence: `#${i}` }))),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence.toUpperCase() })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: String(all.length) }))
}

const router = Router.empty.pipe(Router.service(ElizaService, handlers), Router.intercept(Metrics.server()))

const say = ElizaService.method.say
const introduce = ElizaService.method.introduce

/** Runs `effect` with a metric registry of its own (the server's fibers inherit it from the layer). */
const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideService(effect, Metric.MetricRegistry, new Map())

/** Waits until `metric` with `attributes` reaches `count` (the server records after it answered). */
const countOf = (metric: Metric.Counter<number>, attributes: Record<string, string>, count: number) =>
  Effect.gen(function*() {
    const tagged = Metric.withAttributes(metric, attributes)
    for (let i = 0; i < 200; i++) {
      const state = yield* Metric.value(tagged)
      if (Number(state.count) >= count) return Number(state.count)
      yield* Effect.sleep(Duration.millis(5))
    }
    return Number((yield* Metric.value(tagged)).count)
  })

const histogramOf = (metric: Metric.Histogram<number>, attributes: Record<string, string>) =>
  Metric.value(Metric.withAttributes(metric, attributes))

describe.each(["connect", "grpc", "grpc-web"] as const)("metrics over %s", (protocol) => {
  const client = ElizaClient.layer.pipe(
    Layer.provide(MemoryTransport.layerClient(router, { protocol, interceptors: [Metrics.client({ protocol })] }))
  )
  const attrs = (method: typeof say | typeof introduce, code: Code.Code | undefined) =>
    Metrics.attributes(protocol, method, code)

  it.live("count unary calls by final code, on both sides", () =>
    isolated(Effect.gen(function*() {
      const eliza = yield* ElizaClient
      yield* eliza.say({ sentence: "a" })
      yield* eliza.say({ sentence: "b" })
      const failed = yield* Effect.flip(eliza.say({ sentence: "fail" }))
      expect(failed.code).toBe("not_found")
      const died = yield* Effect.flip(eliza.say({ sentence: "die" }))
      expect(died.code).toBe("internal")

      for (const [calls, duration] of [[Metrics.serverCalls, Metrics.serverDuration], [Metrics.clientCalls, Metrics.clientDuration]] as const) {
        expect(yield* countOf(calls, attrs(say, undefined), 2)).toBe(2)
        expect(yield* countOf(calls, attrs(say, "not_found"), 1)).toBe(1)
        expect(yield* countOf(calls, attrs(say, "internal"), 1)).toBe(1)
        expect((yield* histogramOf(duration, attrs(say, undefined))).count).toBe(2)
        expect((yield* histogramOf(duration, attrs(say, "not_found"))).count).toBe(1)
      }
    }).pipe(Effect.provide(client))))

  it.live("measure a unary call until its response, in milliseconds", () =>
    isolated(Effect.gen(function*() {
      const eliza = yield* ElizaClient
      expect((yield* eliza.say({ sentence: "slow" })).sentence).toBe("slept")
      yield* countOf(Metrics.serverCalls, attrs(say, undefined), 1)
      const server = yield* histogramOf(Metrics.serverDuration, attrs(say, undefined))
      const client = yield* histogramOf(Metrics.clientDuration, attrs(say, undefined))
      expect(server.count).toBe(1)
      expect(server.min).toBeGreaterThanOrEqual(35)
      expect(server.min).toBeLessThan(5000)
      expect(client.count).toBe(1)
      expect(client.min).toBeGreaterThanOrEqual(server.min)
    }).pipe(Effect.provide(client))))

  it.live("count and measure streaming calls until the stream ends", () =>
    isolated(Effect.gen(function*() {
      const eliza = yield* ElizaClient
      expect(yield* Stream.runCollect(eliza.introduce({ name: "x" }))).toHaveLength(3)
      expect(yield* Stream.runCollect(eliza.introduce({ name: "slow" }))).toHaveLength(3)
      const failed = yield* Effect.flip(Stream.runDrain(eliza.introduce({ name: "fail" })))
      expect(failed.code).toBe("resource_exhausted")

      for (const [calls, duration] of [[Metrics.serverCalls, Metrics.serverDuration], [Metrics.clientCalls, Metrics.clientDuration]] as const) {
        expect(yield* countOf(calls, attrs(introduce, undefined), 2)).toBe(2)
        expect(yield* countOf(calls, attrs(introduce, "resource_exhausted"), 1)).toBe(1)
        const ok = yield* histogramOf(duration, attrs(introduce, undefined))
        expect(ok.count).toBe(2)
        // three messages 20 ms apart: the slow call lasts at least 55 ms, only if measured to its end
        expect(ok.max).toBeGreaterThanOrEqual(55)
        expect((yield* histogramOf(duration, attrs(introduce, "resource_exhausted"))).count).toBe(1)
      }
      // nothing else was recorded for these methods
      expect(yield* countOf(Metrics.serverCalls, attrs(say, undefined), 0)).toBe(0)
    }).pipe(Effect.provide(client))))
})

describe("metric attributes", () => {
  it("follow the OpenTelemetry RPC conventions", () => {
    expect(Metrics.attributes("connect", say, undefined)).toEqual({
      "rpc.system": "connect_rpc",
      "rpc.service": "connectrpc.eliza.v1.ElizaService",
      "rpc.method": "Say",
      "rpc.connect_rpc.error_code": "ok"
    })
    expect(Metrics.attributes("grpc-web", say, "not_found")).toEqual({
      "rpc.system": "grpc",
      "rpc.service": "connectrpc.eliza.v1.ElizaService",
      "rpc.method": "Say",
      "rpc.connect_rpc.error_code": "not_found",
      "rpc.grpc.status_code": "5"
    })
  })

  it.live("are the attributes of the recorded series, with extra ones from the options", () =>
    isolated(Effect.gen(function*() {
      const extraRouter = Router.empty.pipe(
        Router.service(ElizaService, handlers),
        Router.intercept(Metrics.server({ attributes: (call) => ({ "rpc.protocol": call.protocol }) }))
      )
      yield* Effect.flatMap(Effect.service(ElizaClient), (eliza) => eliza.say({ sentence: "hi" })).pipe(
        Effect.provide(ElizaClient.layer.pipe(Layer.provide(MemoryTransport.layerClient(extraRouter, {
          interceptors: [Metrics.client({ attributes: () => ({ "app.name": "test" }) })]
        }))))
      )
      const expected = {
        "rpc.system": "connect_rpc",
        "rpc.service": "connectrpc.eliza.v1.ElizaService",
        "rpc.method": "Say",
        "rpc.connect_rpc.error_code": "ok"
      }
      expect(yield* countOf(Metrics.serverCalls, { ...expected, "rpc.protocol": "connect" }, 1)).toBe(1)
      const snapshot = yield* Metric.snapshot
      const series = snapshot.filter((s) => s.id === "rpc.server.calls" || s.id === "rpc.client.calls")
      expect(series.map((s) => [s.id, s.attributes, s.type])).toEqual(expect.arrayContaining([
        ["rpc.server.calls", { ...expected, "rpc.protocol": "connect" }, "Counter"],
        ["rpc.client.calls", { ...expected, "app.name": "test" }, "Counter"]
      ]))
    })))
})
