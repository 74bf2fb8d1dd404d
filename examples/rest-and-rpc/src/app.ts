/**
 * One effect/http application serving REST routes and RPCs: `HttpApp.layer` adds the Eliza
 * service's routes to the same `HttpRouter` as the REST routes, and both read the same `History`
 * service.
 */
import * as http from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as HttpApp from "@connect-effect/core/HttpApp"
import * as Router from "@connect-effect/core/Router"
import * as NodeCompression from "@connect-effect/platform-node/NodeCompression"
import { ElizaService } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { makeBrain } from "../../eliza/src/brain.ts"

/** What callers said over RPC, readable over REST. */
export class History extends Context.Service<History, {
  readonly add: (sentence: string) => Effect.Effect<void>
  readonly all: Effect.Effect<ReadonlyArray<string>>
}>()("example/History") {
  static readonly layer = Layer.effect(
    History,
    Effect.map(Ref.make<ReadonlyArray<string>>([]), (ref) => ({
      add: (sentence: string) => Ref.update(ref, (all) => [...all, sentence]),
      all: Ref.get(ref)
    }))
  )
}

/** Eliza, remembering every sentence it hears in `History`. */
export const ElizaWithHistory = ElizaService.layer(Effect.gen(function*() {
  const history = yield* History
  const brain = makeBrain()
  return {
    say: (request) => Effect.as(history.add(request.sentence), { sentence: brain.reply(request.sentence) }),
    introduce: (request) => Stream.fromIterable(brain.intro(request.name)).pipe(Stream.map((sentence) => ({ sentence }))),
    converse: (requests) =>
      requests.pipe(
        Stream.tap((r) => history.add(r.sentence)),
        Stream.map((r) => ({ sentence: brain.reply(r.sentence) }))
      ),
    reflect: (requests) =>
      Effect.map(Stream.runCollect(requests), (all) => ({ summary: brain.reflect(all.map((r) => r.sentence)) }))
  }
}))

/**
 * The REST side: plain effect/http routes. Services are taken when the layer is built (as
 * `HttpApp.layer` does for the RPC handlers), so the routes need nothing per request.
 */
export const RestRoutes = HttpRouter.use((router) =>
  Effect.gen(function*() {
    const history = yield* History
    yield* router.add("GET", "/health", HttpServerResponse.json({ status: "ok" }))
    yield* router.add("GET", "/api/history", Effect.flatMap(history.all, (sentences) => HttpServerResponse.json({ sentences })))
  })
)

/** The RPC side: every method of ElizaService as a route of the same router. */
export const RpcRoutes = HttpApp.layer(Router.fromServices(ElizaService)).pipe(
  Layer.provide(ElizaWithHistory),
  // compressions offered to RPC clients (gzip, br, zstd)
  Layer.provide(NodeCompression.layer)
)

/** Both, sharing one History. */
export const AppLive = Layer.mergeAll(RestRoutes, RpcRoutes).pipe(Layer.provide(History.layer))

/**
 * The app on Node's HTTP/1.1 server. (With `http2.createServer` instead, bidi streaming is full
 * duplex, but plain HTTP/1.1 clients such as curl without `--http2-prior-knowledge` cannot connect.)
 */
export const ServerLive = (port: number) =>
  HttpRouter.serve(AppLive, { disableListenLog: true, disableLogger: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(http.createServer, { port, host: "127.0.0.1" }))
  )
