/**
 * An in-memory `HttpClient`: the client's requests go straight into a router's HTTP handler
 * in the same process, through the real protocol code (framing, compression, errors, trailers),
 * with no socket. The way to test services and to mock them.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as ConnectError from "../ConnectError.ts"
import type { ClientRequest, ClientResponse, ProtocolName, ServerRequest } from "../Http.ts"
import { HttpClient, responseWriter } from "../Http.ts"
import { copyToWeb } from "../internal/headerList.ts"
import * as Router from "../Router.ts"
import { readAll } from "../protocol/client.ts"
import { type ClientOptions, Transport, type TransportConfigError, layerConnect as transportConnect, layerGrpc as transportGrpc, layerGrpcWeb as transportGrpcWeb } from "../Transport.ts"

/**
 * An `HttpClient` that serves every request with `handler` in memory. Each exchange runs the
 * handler in a fiber of the caller's scope: closing the scope early interrupts the handler,
 * exactly as a dropped connection would.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <R>(handler: Router.HttpHandler<R>): Effect.Effect<HttpClient["Service"], never, R> =>
  Effect.map(Effect.context<R>(), (context) => ({
    request: (request: ClientRequest) =>
      Effect.gen(function*() {
        const url = new URL(request.url)
        const body: Stream.Stream<Uint8Array, ConnectError.ConnectError> = request.body === undefined
          ? Stream.empty
          : request.body instanceof Uint8Array
          ? Stream.succeed(request.body)
          : request.body
        const serverRequest: ServerRequest = {
          method: request.method,
          url: url.pathname + url.search,
          headers: new Headers(request.headers),
          httpVersion: "2",
          body,
          readAll: (maxBytes) => readAll(body, maxBytes)
        }
        const head = yield* Deferred.make<{ status: number; headers: Headers }>()
        const trailers = yield* Deferred.make<Headers>()
        const chunks = yield* Queue.bounded<Uint8Array, Cause.Done>(16)
        const writer = responseWriter({
          head: (status, headers, bodyBytes) => {
            Deferred.doneUnsafe(head, Effect.succeed({ status, headers: copyToWeb(headers) }))
            if (bodyBytes !== undefined) {
              if (bodyBytes.byteLength > 0) Queue.offerUnsafe(chunks, bodyBytes)
              Queue.endUnsafe(chunks)
              Deferred.doneUnsafe(trailers, Effect.succeed(new Headers()))
            }
          },
          write: (chunk) => Effect.asVoid(Queue.offer(chunks, chunk)),
          end: (t) => {
            Queue.endUnsafe(chunks)
            Deferred.doneUnsafe(trailers, Effect.succeed(t === undefined ? new Headers() : copyToWeb(t)))
          }
        })
        yield* Effect.forkScoped(
          Effect.provideContext(handler(serverRequest, writer), context).pipe(
            Effect.onExit(() =>
              Effect.sync(() => {
                // a handler that stops without answering: end whatever it started
                Deferred.doneUnsafe(head, Effect.succeed({ status: 500, headers: new Headers() }))
                Queue.endUnsafe(chunks)
                Deferred.doneUnsafe(trailers, Effect.succeed(new Headers()))
              })
            )
          )
        )
        const { status, headers } = yield* Deferred.await(head)
        const response: ClientResponse = {
          status,
          headers,
          body: Stream.fromQueue(chunks),
          trailers: Deferred.await(trailers)
        }
        return response
      })
  }))

/**
 * An in-memory `HttpClient` serving `router` (its requirements become the layer's). The router
 * may be an effect that builds it (`Router.fromServices(...)`): it runs once, when the layer is
 * built, and its error and requirements become the layer's.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <R, E = never, R2 = never>(
  router: Router.Router<R> | Effect.Effect<Router.Router<R>, E, R2>,
  options?: Router.ServerOptions
): Layer.Layer<HttpClient, E, R | R2> =>
  Layer.effect(
    HttpClient,
    Effect.gen(function*() {
      const r = Effect.isEffect(router) ? yield* router : router
      return yield* Effect.flatMap(Router.toHttpHandler(r, options), make)
    })
  )

/**
 * The base URL clients use with the in-memory transport (any URL works; only path and query are read).
 *
 * @category constants
 * @since 0.1.0
 */
export const baseUrl = "http://in-memory"

/**
 * A client `Transport` that calls `router` in memory over the chosen protocol (Connect by
 * default) — the one-liner for tests: `Effect.provide(ElizaClient.layer.pipe(Layer.provide(MemoryTransport.layerClient(router))))`.
 * The router may be an effect that builds it (`Router.fromServices(...)`), run once when the layer is built.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient = <R, RI = never, E = never, R2 = never>(
  router: Router.Router<R> | Effect.Effect<Router.Router<R>, E, R2>,
  options: Partial<ClientOptions<RI>> & {
    readonly protocol?: ProtocolName | undefined
    readonly server?: Router.ServerOptions | undefined
  } = {}
): Layer.Layer<Transport, E | TransportConfigError, R | RI | R2> => {
  const clientOptions: ClientOptions<RI> = { ...options, baseUrl: options.baseUrl ?? baseUrl }
  const protocolLayer = options.protocol === "grpc"
    ? transportGrpc(clientOptions)
    : options.protocol === "grpc-web"
    ? transportGrpcWeb(clientOptions)
    : transportConnect(clientOptions)
  return protocolLayer.pipe(Layer.provide(layer(router, options.server)))
}

