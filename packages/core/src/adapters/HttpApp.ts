/**
 * Mounts a connect-effect `Router` into an `effect/http` application, so that one server answers
 * REST routes and RPCs side by side: `HttpApp.layer(router)` adds one `HttpRouter` route per RPC
 * method (any HTTP method, path `/<package.Service>/<Method>`), served with the same protocol code,
 * limits and errors as `NodeServer`.
 *
 * Request bodies are read as streams and response bodies are streamed, so server streaming works
 * on any `effect/http` server, and bidi streaming is full duplex where the server is (Node's
 * `http2` server through `@effect/platform-node`'s `NodeHttpServer`).
 *
 * Limits: `effect/http` responses carry no HTTP trailers, so the gRPC protocol
 * (`application/grpc…`, which ends every response with trailers) is answered 415 unless a
 * `trailers` hook is given that writes them on the platform's own response object. Connect and
 * gRPC-Web keep their end-of-stream data in the body and need nothing extra.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as HttpHeaders from "effect/http/Headers"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ConnectError from "../ConnectError.ts"
import * as Http from "../Http.ts"
import { hasAny, toWeb } from "../internal/headerList.ts"
import type { ServerRequest } from "../Http.ts"
import * as Router from "../Router.ts"
import { readAll } from "../protocol/client.ts"

/**
 * Options of {@link layer}, {@link routes} and {@link toHttpEffect}.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options extends Router.ServerOptions {
  /**
   * Writes HTTP trailers at the end of a response, on the platform's response object (for
   * `NodeHttpServer`: `NodeHttpServerRequest.toServerResponse(request).addTrailers(...)`).
   * Without it, gRPC requests are answered 415 (Connect and gRPC-Web need no trailers).
   */
  readonly trailers?: ((request: HttpServerRequest.HttpServerRequest, trailers: Headers) => void) | undefined
}

/**
 * Options of {@link layer}.
 *
 * @category options
 * @since 0.1.0
 */
export interface LayerOptions extends Options {
  /** Mounts the RPC routes under a path prefix (e.g. `/rpc`); clients then use `baseUrl: "…/rpc"`. */
  readonly prefix?: string | undefined
}

const canceled = () => ConnectError.make("canceled", "the request body could not be read")

const toHttpHeaders = (headers: Headers): HttpHeaders.Headers => HttpHeaders.fromInput(toWeb(headers))

/** A response body that failed after its headers were sent: the server resets the exchange. */
class ResponseAborted extends Error {}

/**
 * Serves the current `HttpServerRequest` with an HTTP handler, running it with `context`.
 * The handler runs in a fiber of the request's scope: when the client goes away (the server
 * interrupts the request) the handler is interrupted, so its finalizers run.
 *
 * @category conversions
 * @since 0.1.0
 */
export const fromHttpHandler = <R>(
  handler: Router.HttpHandler<R>,
  context: Context.Context<R>,
  options: Pick<Options, "trailers"> = {}
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest | Scope.Scope> => {
  const sendTrailers = options.trailers
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const scope = yield* Scope.Scope
    const headers = new Headers()
    for (const [name, value] of Object.entries(request.headers)) headers.set(name, value)
    const body: Stream.Stream<Uint8Array, ConnectError.ConnectError> = Stream.mapError(request.stream, canceled)
    const serverRequest: ServerRequest = {
      method: request.method,
      url: request.url,
      headers,
      httpVersion: (request.source as { readonly httpVersionMajor?: number }).httpVersionMajor === 2 ? "2" : "1.1",
      body,
      readAll: (maxBytes) => readAll(body, maxBytes)
    }
    const response = yield* Deferred.make<HttpServerResponse.HttpServerResponse>()
    const chunks = yield* Queue.bounded<Uint8Array, Cause.Done | ResponseAborted>(8)
    const state = { headSent: false, ended: false, closed: false }
    const respond = (value: HttpServerResponse.HttpServerResponse) => {
      Deferred.doneUnsafe(response, Effect.succeed(value))
    }
    const writer = Http.responseWriter({
      // without a hook there are no trailers: the router answers gRPC 415
      trailers: sendTrailers !== undefined,
      head: (status, headers, bytes) =>
        respond(
          bytes === undefined
            ? HttpServerResponse.stream(Stream.fromQueue(chunks), { status, headers: toHttpHeaders(headers) })
            : bytes.byteLength === 0
            ? HttpServerResponse.empty({ status, headers: toHttpHeaders(headers) })
            : HttpServerResponse.uint8Array(bytes, { status, headers: toHttpHeaders(headers) })
        ),
      write: (chunk) => Effect.asVoid(Queue.offer(chunks, chunk)),
      end: (trailers) => {
        if (hasAny(trailers)) sendTrailers?.(request, toWeb(trailers))
        Queue.endUnsafe(chunks)
      }
    }, state)
    // forked in the request's scope: closing it (response sent, or the client went away) interrupts the handler
    yield* Effect.forkIn(
      handler(serverRequest, writer).pipe(
        Effect.updateContext((current: Context.Context<never>) => Context.merge(current, context)),
        Effect.onExit((exit) =>
          Effect.sync(() => {
            if (!state.headSent) {
              state.headSent = true
              respond(HttpServerResponse.empty({ status: 500 }))
            } else if (!state.ended) {
              state.ended = true
              // a handler that stopped half-way: a failed body makes the server reset the exchange
              if (exit._tag === "Success") Queue.endUnsafe(chunks)
              else Queue.failCauseUnsafe(chunks, Cause.fail(new ResponseAborted("the handler stopped")))
            }
          })
        ),
        Effect.interruptible
      ),
      scope
    )
    return yield* Deferred.await(response)
  })
}

/**
 * Builds the `effect/http` handler of a router: an effect that answers the current
 * `HttpServerRequest`. The services the handlers need are captured from the context when it is
 * built; compressions default to the `Compressions` reference (provide a platform's layer, such
 * as `NodeCompression.layer`, or pass `compressions`).
 *
 * @category conversions
 * @since 0.1.0
 */
export const toHttpEffect = <R>(
  router: Router.Router<R>,
  options: Options = {}
): Effect.Effect<
  Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest | Scope.Scope>,
  never,
  R
> =>
  Effect.flatMap(Router.toHttpHandler(router, options), (handler) =>
    Effect.map(Effect.context<R>(), (context) => fromHttpHandler(handler, context, options)))

/**
 * The `HttpRouter` routes of a router: one per RPC method, on any HTTP method, so that the
 * protocol answers 405 / 415 itself.
 *
 * @category conversions
 * @since 0.1.0
 */
export const routes = <R>(
  router: Router.Router<R>,
  options: Options = {}
): Effect.Effect<ReadonlyArray<HttpRouter.Route<never, never>>, never, R> =>
  Effect.map(toHttpEffect(router, options), (handler) =>
    Array.from(router.routes.keys(), (path) => HttpRouter.route("*", path as `/${string}`, handler)))

/**
 * Adds the routes of a router (or of an effect building one, such as `Router.fromServices`) to
 * the `HttpRouter` of an `effect/http` application. The layer requires what the handlers require.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <R, E = never, R2 = never>(
  router: Router.Router<R> | Effect.Effect<Router.Router<R>, E, R2>,
  options: LayerOptions = {}
): Layer.Layer<never, E, HttpRouter.HttpRouter | R | R2> =>
  HttpRouter.addAll(
    Effect.flatMap(Effect.isEffect(router) ? router : Effect.succeed(router), (r) => routes(r, options)),
    options.prefix !== undefined ? { prefix: options.prefix } : undefined
  ) as Layer.Layer<never, E, HttpRouter.HttpRouter | R | R2>
