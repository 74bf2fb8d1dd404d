import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Stream from "effect/Stream"
import * as ConnectError from "../src/ConnectError.ts"
import * as MemoryTransport from "../src/adapters/MemoryTransport.ts"
import * as Router from "../src/Router.ts"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

interface Logged {
  readonly level: string
  readonly message: unknown
  readonly cause: Cause.Cause<unknown>
  readonly annotations: Record<string, unknown>
}

const handlers: ElizaServiceHandlers = {
  say: (request) =>
    request.sentence === "die"
      ? Effect.die(new Error("boom"))
      : request.sentence === "fail"
      ? Effect.fail(ConnectError.make("not_found", "nothing here"))
      : Effect.succeed({ sentence: request.sentence }),
  introduce: (request) =>
    request.name === "die"
      ? Stream.concat(Stream.make({ sentence: "first" }), Stream.die(new Error("stream boom")))
      : Stream.fail(ConnectError.make("permission_denied", "no")),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence })),
  reflect: () => Effect.succeed({ summary: "" })
}

const router = Router.service(Router.empty, ElizaService, handlers)

describe.each(["connect", "grpc", "grpc-web"] as const)("handler defects over %s", (protocol) => {
  const setup = () => {
    const logs: Array<Logged> = []
    const logger = Logger.make((options) => {
      logs.push({
        level: options.logLevel,
        message: options.message,
        cause: options.cause,
        annotations: options.fiber.getRef(References.CurrentLogAnnotations)
      })
    })
    const layer = ElizaClient.layer.pipe(
      Layer.provide(MemoryTransport.layerClient(router, { protocol })),
      Layer.provide(Logger.layer([logger]))
    )
    return { logs, layer }
  }

  it.effect("a unary defect is answered internal and logged once, annotated with the method", () => {
    const { layer, logs } = setup()
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const error = yield* Effect.flip(eliza.say({ sentence: "die" }))
      expect(error.code).toBe("internal")
      expect(error.message).toBe("boom")
      expect(logs).toHaveLength(1)
      expect(logs[0]!.level).toBe("Error")
      const defect = Cause.findDefect(logs[0]!.cause)
      expect(defect._tag === "Success" && (defect.success as Error).message).toBe("boom")
      expect(logs[0]!.annotations).toMatchObject({ "rpc.service": ElizaService.typeName, "rpc.method": "Say" })
    }).pipe(Effect.provide(layer))
  })

  it.effect("a streaming defect is logged once", () => {
    const { layer, logs } = setup()
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const error = yield* Effect.flip(Stream.runDrain(eliza.introduce({ name: "die" })))
      expect(error.code).toBe("internal")
      expect(logs).toHaveLength(1)
      expect(logs[0]!.annotations).toMatchObject({ "rpc.method": "Introduce" })
    }).pipe(Effect.provide(layer))
  })

  it.effect("typed ConnectError failures are not logged", () => {
    const { layer, logs } = setup()
    return Effect.gen(function*() {
      const eliza = yield* ElizaClient
      expect((yield* Effect.flip(eliza.say({ sentence: "fail" }))).code).toBe("not_found")
      expect((yield* Effect.flip(Stream.runDrain(eliza.introduce({ name: "x" })))).code).toBe("permission_denied")
      expect((yield* eliza.say({ sentence: "ok" })).sentence).toBe("ok")
      expect(logs).toEqual([])
    }).pipe(Effect.provide(layer))
  })
})
