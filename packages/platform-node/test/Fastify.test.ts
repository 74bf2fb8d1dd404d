/**
 * The router mounted in a Fastify 5 app through NodeAdapter's plugin, over real sockets:
 * registered under the prefix `/api` beside the app's own routes (whose JSON body parser keeps
 * working), over HTTP/1.1 (Connect and gRPC-Web, half-duplex bidi) and in Fastify's `http2: true`
 * mode (h2c: Connect, gRPC and gRPC-Web, full-duplex bidi), with an error, and graceful shutdown.
 */
import Fastify from "fastify"
import { afterAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeAdapter from "@connect-effect/platform-node/NodeAdapter"
import { checkAllKinds, checkEchoAndOutside, client, http1Combos, http2Combos, makeRouter, Probe, sayOutcome } from "./fixtures/mounted.ts"
import { waitFor } from "./fixtures/reliability.ts"

const apps: Array<{ close: () => Promise<unknown> }> = []
afterAll(() => Promise.all(apps.map((app) => app.close())))

describe("Fastify 5, HTTP/1.1", async () => {
  const adapter = await Effect.runPromise(NodeAdapter.fromRouter(makeRouter(new Probe())))
  const app = Fastify()
  apps.push(app)
  app.get("/health", () => "own route")
  app.post("/echo", (request) => ({ echoed: request.body }))
  await app.register(adapter.fastifyPlugin, { prefix: "/api" })
  const origin = await app.listen({ port: 0, host: "127.0.0.1" })

  for (const { protocol, httpVersion } of http1Combos) {
    it(`${protocol} under /api: every RPC kind and an error`, () => checkAllKinds(`${origin}/api`, protocol, httpVersion, false))
  }

  it("the app's own routes (and its JSON parser) answer beside the RPC routes", async () => {
    expect(await (await fetch(`${origin}/health`)).text()).toBe("own route")
    await checkEchoAndOutside(origin, "/echo")
  })
})

describe("Fastify 5, http2: true", async () => {
  const probe = new Probe()
  const adapter = await Effect.runPromise(NodeAdapter.fromRouter(makeRouter(probe)))
  const app = Fastify({ http2: true })
  apps.push(app)
  app.get("/health", () => "own route")
  await app.register(adapter.fastifyPlugin, { prefix: "/api" })
  const origin = await app.listen({ port: 0, host: "127.0.0.1" })

  for (const { protocol, httpVersion } of http2Combos) {
    it(`${protocol} over h2c under /api: every RPC kind (full-duplex bidi) and an error`, () =>
      checkAllKinds(`${origin}/api`, protocol, httpVersion, true))
  }

  it("graceful shutdown: the call in flight completes, new calls are refused", async () => {
    const scope = Effect.runSync(Scope.make())
    const c = await client(scope, `${origin}/api`, "grpc", "2")
    const held = Effect.runPromiseExit(Stream.runCollect(c.introduce({ name: "hold" })))
    expect(await waitFor(() => probe.held === 1, 3000)).toBe(true)
    const closing = adapter.close()
    expect(await sayOutcome(`${origin}/api`, "grpc", "2", "new")).toBe("unavailable")
    probe.release()
    const exit = await held
    expect(Exit.isSuccess(exit) && exit.value.map((r) => r.sentence)).toEqual(["held", "released"])
    await closing
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })
})
