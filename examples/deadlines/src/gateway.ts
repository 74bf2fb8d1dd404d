/**
 * The gateway: an Eliza `Say` whose handler calls the backend's `Say` through the generated
 * `ElizaClient`. Nothing here passes a deadline along — the client call inherits what is left of
 * the incoming call's deadline through the `CurrentCall` service.
 *
 * So that one gateway can show every case, the start of the sentence picks how it calls the
 * backend:
 *
 * - `"short: …"`  — with the call option `timeoutMs: 300`; if the backend does not answer in time
 *                   the gateway answers with a fallback instead of failing
 * - `"long: …"`   — with `timeoutMs: 20_000`, which cannot extend the inherited deadline
 * - `"fresh: …"`  — with `timeoutMs: 20_000` and without the current call in context, so the
 *                   backend gets a fresh 20 s deadline
 * - anything else — with no options: the inherited deadline only
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CurrentCall } from "@connect-effect/core/HandlerContext"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

/**
 * Runs `effect` without the current server call in its context. Client calls inherit the
 * deadline of the `CurrentCall` present when they are made; with none present they use only
 * their own `timeoutMs` (call option, else the transport's). Core has no call option for this;
 * it is plain Effect context manipulation. The gateway's own handler is still interrupted at the
 * gateway's deadline, which cancels the call anyway (see the README).
 */
export const withoutCurrentCall = <A, E, R = never>(effect: Effect.Effect<A, E, Exclude<R, CurrentCall>>): Effect.Effect<A, E, R> =>
  Effect.updateContext(effect, (context: Context.Context<R>) => Context.omit(CurrentCall)(context))

/** Only `Say` is implemented; it needs the backend's `ElizaClient`. */
export const router = Router.service(Router.empty, ElizaService, {
  say: (request) =>
    Effect.gen(function*() {
      const backend = yield* ElizaClient
      // the gateway's own work before the nested call (an auth check, a cache lookup…)
      // spends part of the caller's budget: the backend gets what is left
      yield* Effect.sleep("25 millis")
      const sentence = request.sentence
      if (sentence.startsWith("short:")) {
        return yield* backend.say({ sentence }, { timeoutMs: 300 }).pipe(
          Effect.map((r) => ({ sentence: `gateway: ${r.sentence}` })),
          Effect.catchIf(
            (e) => e.code === "deadline_exceeded",
            (e) => Effect.succeed({ sentence: `gateway: fallback, the backend was too slow (${e.code})` })
          )
        )
      }
      const answer = sentence.startsWith("long:")
        ? backend.say({ sentence }, { timeoutMs: 20_000 })
        : sentence.startsWith("fresh:")
        ? withoutCurrentCall(backend.say({ sentence }, { timeoutMs: 20_000 }))
        : backend.say({ sentence })
      return yield* Effect.map(answer, (r) => ({ sentence: `gateway: ${r.sentence}` }))
    })
})

/** How the gateway talks to the backend. */
export type BackendProtocol = "connect" | "grpc"

/** The backend's client over Node's HTTP client: Connect over HTTP/1.1, or gRPC over HTTP/2. */
export const backendClient = (backendUrl: string, protocol: BackendProtocol = "connect") =>
  ElizaClient.layer.pipe(Layer.provide(
    protocol === "grpc" ? NodeTransport.layerGrpc({ baseUrl: backendUrl }) : NodeTransport.layerConnect({ baseUrl: backendUrl })
  ))

/** The gateway server on `port` (0: any free port), calling the backend at `backendUrl`. */
export const ServerLive = (port: number, backendUrl: string, protocol: BackendProtocol = "connect") =>
  NodeServer.layerRouter(router, { port }).pipe(Layer.provide(backendClient(backendUrl, protocol)))
