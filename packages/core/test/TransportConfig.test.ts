/**
 * Client options that cannot work are a typed failure of the transport layers, not a thrown
 * exception: a `sendCompression` missing from the available compressions fails `Transport.resolve`
 * and every layer built on it with a `TransportConfigError`, before any call is made.
 */
import { describe, expect, it } from "@effect/vitest"
import * as zlib from "node:zlib"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { Compressions } from "../src/Compression.ts"
import * as FetchHttpClient from "../src/adapters/FetchHttpClient.ts"
import * as MemoryTransport from "../src/adapters/MemoryTransport.ts"
import * as Router from "../src/Router.ts"
import * as Transport from "../src/Transport.ts"
import * as ZlibCompression from "../src/ZlibCompression.ts"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const handlers: ElizaServiceHandlers = {
  say: (request) => Effect.succeed({ sentence: `echo ${request.sentence}` }),
  introduce: () => Stream.empty,
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence })),
  reflect: () => Effect.succeed({ summary: "" })
}
const router = Router.service(Router.empty, ElizaService, handlers)
const compressions = ZlibCompression.make(zlib).all

/** Builds `layer` and says hello through it. */
const sayThrough = <E>(layer: Layer.Layer<Transport.Transport, E>) =>
  Effect.flatMap(Effect.service(ElizaClient), (eliza) => eliza.say({ sentence: "hello" })).pipe(
    Effect.map((r) => r.sentence),
    Effect.provide(ElizaClient.layer.pipe(Layer.provide(layer)))
  )

/** The typed error an exit failed with. */
const errorOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const found = Cause.findError(exit.cause)
  return found._tag === "Success" ? found.success : undefined
}

const expectConfigError = (error: unknown, name: string) => {
  expect(error).toBeInstanceOf(Transport.TransportConfigError)
  const e = error as Transport.TransportConfigError
  expect(e._tag).toBe("TransportConfigError")
  expect(e.option).toBe("sendCompression")
  expect(e.message).toContain(name)
}

describe("TransportConfigError", () => {
  it.effect("Transport.resolve fails with it for an unknown sendCompression, and resolves a known one", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.exit(Transport.resolve({ baseUrl: "http://x", sendCompression: "lz4" }, compressions))
      expectConfigError(errorOf(bad), "lz4")
      expect(errorOf(bad)?.message).toContain("gzip")
      const good = yield* Transport.resolve({ baseUrl: "http://x", sendCompression: "gzip" }, compressions)
      expect(good.sendCompression?.name).toBe("gzip")
      // no compression at all available: the message says so
      const none = yield* Effect.exit(Transport.resolve({ baseUrl: "http://x", sendCompression: "gzip" }, []))
      expectConfigError(errorOf(none), "none")
    }))

  it.effect.each(["connect", "grpc", "grpc-web"] as const)("fails the Transport layer over %s with it, in the error channel", (protocol) =>
    Effect.gen(function*() {
      const layer = (protocol === "connect" ? Transport.layerConnect : protocol === "grpc" ? Transport.layerGrpc : Transport.layerGrpcWeb)({
        baseUrl: MemoryTransport.baseUrl,
        sendCompression: "lz4"
      }).pipe(Layer.provide(MemoryTransport.layer(router)), Layer.provide(Layer.succeed(Compressions, compressions)))
      // the error type is in the layer's signature
      const typed: Layer.Layer<Transport.Transport, Transport.TransportConfigError> = layer
      const exit = yield* Effect.exit(sayThrough(typed))
      expectConfigError(errorOf(exit), "lz4")
      // with a compression the platform has, the same layer works
      const ok = Transport.layerConnect({ baseUrl: MemoryTransport.baseUrl, sendCompression: "gzip", compressMinBytes: 0 }).pipe(
        Layer.provide(MemoryTransport.layer(router, { compressions })),
        Layer.provide(Layer.succeed(Compressions, compressions))
      )
      expect(yield* sayThrough(ok)).toBe("echo hello")
    }))

  it.effect("fails MemoryTransport.layerClient and FetchHttpClient.layerConnect with it", () =>
    Effect.gen(function*() {
      const memory = yield* Effect.exit(sayThrough(MemoryTransport.layerClient(router, { sendCompression: "gzip" })))
      expectConfigError(errorOf(memory), "gzip")
      let fetched = 0
      const fetch = (() => {
        fetched++
        return Promise.reject(new Error("not called"))
      }) as unknown as typeof globalThis.fetch
      const viaFetch = yield* Effect.exit(sayThrough(FetchHttpClient.layerConnect({ baseUrl: "http://x", sendCompression: "br", fetch })))
      expectConfigError(errorOf(viaFetch), "br")
      expect(fetched).toBe(0)
    }))

  it.effect("can be caught by its tag", () =>
    Effect.gen(function*() {
      const recovered = yield* sayThrough(MemoryTransport.layerClient(router, { sendCompression: "zstd" })).pipe(
        Effect.catchTag("TransportConfigError", (e) => Effect.succeed(`recovered: ${e.option}`))
      )
      expect(recovered).toBe("recovered: sendCompression")
    }))
})
