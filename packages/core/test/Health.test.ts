/**
 * The health service in memory: the status book's semantics (set, clear, repeated values,
 * shutdown), Check / List / Watch through the real protocol code, and the List limit.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Health from "../src/extensions/Health.ts"
import * as MemoryTransport from "../src/adapters/MemoryTransport.ts"
import * as Router from "../src/Router.ts"

const { HealthCheckResponse_ServingStatus: Wire } = Health.HealthProto

/** A health client over a router with `Health.add`, and the status book behind it. */
const setup = (initial?: Record<string, Health.ServingStatus>) =>
  Effect.gen(function*() {
    const status = yield* Health.make(initial)
    const router = Health.add(Router.empty)
    const client = yield* Effect.service(Health.HealthClient).pipe(
      Effect.provide(Health.HealthClient.layer.pipe(
        Layer.provide(MemoryTransport.layerClient(router, { protocol: "grpc" })),
        Layer.provide(Layer.succeed(Health.HealthStatus, status))
      ))
    )
    return { status, client }
  })

describe("HealthStatus", () => {
  it.effect("starts with the whole server SERVING; set, get, clear and all", () =>
    Effect.gen(function*() {
      const status = yield* Health.make()
      expect(yield* status.get("")).toBe("SERVING")
      expect(yield* status.get("a.Service")).toBeUndefined()
      yield* status.set("a.Service", "NOT_SERVING")
      expect(yield* status.get("a.Service")).toBe("NOT_SERVING")
      expect([...(yield* status.all)]).toEqual([["", "SERVING"], ["a.Service", "NOT_SERVING"]])
      yield* status.clear("a.Service")
      expect(yield* status.get("a.Service")).toBeUndefined()
    }))

  it.effect("servingAll names the server and the given services", () =>
    Effect.sync(() => {
      expect(Health.servingAll(Health.HealthService, Health.HealthDescriptor, "x.Y")).toEqual({
        "": "SERVING",
        "grpc.health.v1.Health": "SERVING",
        "x.Y": "SERVING"
      })
    }))

  it.effect("watch: the current status, each change once, SERVICE_UNKNOWN while unknown", () =>
    Effect.gen(function*() {
      const status = yield* Health.make()
      const seen = yield* Queue.unbounded<Health.WatchedStatus>()
      const fiber = yield* status.watch("a.Service").pipe(Stream.runForEach((s) => Queue.offer(seen, s)), Effect.forkChild)
      expect(yield* Queue.take(seen)).toBe("SERVICE_UNKNOWN")
      yield* status.set("a.Service", "SERVING")
      yield* status.set("a.Service", "SERVING")
      yield* status.set("other.Service", "NOT_SERVING") // another service: nothing for this watcher
      yield* status.set("a.Service", "NOT_SERVING")
      yield* status.clear("a.Service")
      expect(yield* Queue.take(seen)).toBe("SERVING")
      expect(yield* Queue.take(seen)).toBe("NOT_SERVING")
      expect(yield* Queue.take(seen)).toBe("SERVICE_UNKNOWN")
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("shutdown: everything NOT_SERVING, watches end after saying so, later changes are ignored", () =>
    Effect.gen(function*() {
      const status = yield* Health.make({ "": "SERVING", "a.Service": "SERVING", "b.Service": "UNKNOWN" })
      const seen = yield* Queue.unbounded<Health.WatchedStatus>()
      const fiber = yield* status.watch("a.Service").pipe(Stream.runForEach((s) => Queue.offer(seen, s)), Effect.forkChild)
      expect(yield* Queue.take(seen)).toBe("SERVING")
      yield* status.shutdown
      yield* Fiber.join(fiber) // the watch ended by itself
      expect(yield* Queue.takeAll(seen)).toEqual(["NOT_SERVING"])
      yield* status.set("a.Service", "SERVING")
      expect([...(yield* status.all)]).toEqual([["", "NOT_SERVING"], ["a.Service", "NOT_SERVING"], ["b.Service", "NOT_SERVING"]])
      // a watch started after shutdown sends the final status and ends
      expect(Array.from(yield* Stream.runCollect(status.watch("a.Service")))).toEqual(["NOT_SERVING"])
    }))
})

describe("Health service (in memory, gRPC)", () => {
  it.effect("Check, List and Watch", () =>
    Effect.gen(function*() {
      const { client, status } = yield* setup({ "": "SERVING", "a.Service": "NOT_SERVING" })
      expect((yield* client.check({})).status).toBe(Wire.SERVING)
      expect((yield* client.check({ service: "a.Service" })).status).toBe(Wire.NOT_SERVING)
      const missing = yield* Effect.flip(client.check({ service: "b.Service" }))
      expect(missing.code).toBe("not_found")
      expect(missing.message).toContain("b.Service")

      const list = yield* client.list({})
      expect(Object.keys(list.statuses)).toEqual(["", "a.Service"])
      expect(list.statuses["a.Service"]?.status).toBe(Wire.NOT_SERVING)

      const seen = yield* Queue.unbounded<number>()
      const fiber = yield* client.watch({ service: "b.Service" }).pipe(
        Stream.runForEach((r) => Queue.offer(seen, r.status)),
        Effect.forkChild
      )
      expect(yield* Queue.take(seen)).toBe(Wire.SERVICE_UNKNOWN)
      yield* status.set("b.Service", "SERVING")
      expect(yield* Queue.take(seen)).toBe(Wire.SERVING)
      // shutdown completes the call normally
      yield* status.shutdown
      expect(yield* Queue.take(seen)).toBe(Wire.NOT_SERVING)
      yield* Fiber.join(fiber)
      expect(Health.statusName(Wire.SERVICE_UNKNOWN)).toBe("SERVICE_UNKNOWN")
    }))

  it.effect("List fails with resource_exhausted past 100 services", () =>
    Effect.gen(function*() {
      const initial: Record<string, Health.ServingStatus> = {}
      for (let i = 0; i < Health.listLimit; i++) initial[`s${i}.Service`] = "SERVING"
      const { client, status } = yield* setup(initial)
      expect(Object.keys((yield* client.list({})).statuses)).toHaveLength(Health.listLimit)
      yield* status.set("one.More", "SERVING")
      const error = yield* Effect.flip(client.list({}))
      expect(error.code).toBe("resource_exhausted")
    }))
})
