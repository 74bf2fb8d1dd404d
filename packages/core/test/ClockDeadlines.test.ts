/**
 * Deadlines count on Effect's `Clock`, on both sides: a handler's `deadline` and
 * `timeRemaining()` follow a `TestClock`, and `TestClock.adjust` past the deadline ends the call
 * with `deadline_exceeded` (no real time passes). In memory, on every protocol.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as MemoryTransport from "../src/adapters/MemoryTransport.ts"
import * as Router from "../src/Router.ts"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const handlers: ElizaServiceHandlers = {
  say: (request, call) =>
    request.sentence === "hang"
      ? Effect.never
      : Effect.gen(function*() {
        const before = call.timeRemaining()
        yield* TestClock.adjust("3 seconds")
        return { sentence: `${before} ${call.timeRemaining()} ${call.deadline}` }
      }),
  introduce: () => Stream.concat(Stream.make({ sentence: "first" }), Stream.never),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence })),
  reflect: () => Effect.succeed({ summary: "" })
}

const router = Router.service(Router.empty, ElizaService, handlers)

describe.each(["connect", "grpc", "grpc-web"] as const)("deadlines on the Clock over %s", (protocol) => {
  const client = ElizaClient.layer.pipe(Layer.provide(MemoryTransport.layerClient(router, { protocol })))

  it.effect("a handler's deadline and time remaining follow the TestClock", () =>
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const said = yield* eliza.say({ sentence: "hi" }, { timeout: "10 seconds" })
      // the TestClock starts at 0: the deadline is 10 s on it, and 3 s of it passed in the handler
      expect(said.sentence).toBe("10000 7000 10000")
    }).pipe(Effect.provide(client)))

  it.effect("moving the TestClock past the deadline ends a unary and a streaming call with deadline_exceeded", () =>
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const unary = yield* Effect.forkChild(Effect.flip(eliza.say({ sentence: "hang" }, { timeout: "5 seconds" })))
      const stream = yield* Effect.forkChild(Effect.flip(Stream.runCollect(eliza.introduce({ name: "" }, { timeout: "5 seconds" }))))
      yield* TestClock.adjust("4 seconds")
      expect(unary.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(unary)).code).toBe("deadline_exceeded")
      expect((yield* Fiber.join(stream)).code).toBe("deadline_exceeded")
    }).pipe(Effect.provide(client)))
})
