/**
 * Interceptors: Effect middleware around RPCs, on the server and on the client.
 *
 * `Interceptor.serverCall` builds server interceptors that see messages (they wrap the handlers).
 * A client interceptor sees a whole call: the request message (or stream of messages) and the
 * response message (or stream, with its end and trailers); see {@link ClientInterceptor}.
 *
 * A server interceptor wraps the effect that runs a handler (for streaming responses, the
 * effect that runs the whole response stream), so it can read request headers, set response
 * headers and trailers, fail the call with a `ConnectError`, time it, and provide services that
 * the handler requires — which removes them from the router's requirements.
 *
 * @since 0.1.0
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { ConnectError } from "./ConnectError.ts"
import type { HandlerContext } from "./HandlerContext.ts"
import type { DescMethod } from "@bufbuild/protobuf"
import type * as Stream from "effect/Stream"

/**
 * A server interceptor that provides `Provides` to handlers, may fail with `E`, and needs `R`.
 *
 * `intercept` wraps the effect that runs a call (reading the request, the handler, writing the
 * response; for streaming responses the whole response stream). `unary` and `stream` wrap the
 * handler itself and see its messages: `unary` the request message and the response message,
 * `stream` the request stream and the response stream (a stream of one request for server
 * streaming, of one response for client streaming). The message-level sides run inside every
 * interceptor's `intercept`, so they see the services those provide. Any side may be left out.
 *
 * @category models
 * @since 0.1.0
 */
export interface ServerInterceptor<in out Provides = never, out E extends ConnectError = ConnectError, out R = never> {
  readonly intercept?:
    | (<A, E1, R1>(
      next: Effect.Effect<A, E1, R1>,
      call: HandlerContext
    ) => Effect.Effect<A, E1 | E, Exclude<R1, Provides> | R>)
    | undefined
  readonly unary?:
    | ((
      next: (request: unknown) => Effect.Effect<unknown, ConnectError>,
      request: unknown,
      call: HandlerContext
    ) => Effect.Effect<unknown, ConnectError | E, R>)
    | undefined
  readonly stream?:
    | ((
      next: (requests: Stream.Stream<unknown, ConnectError>) => Stream.Stream<unknown, ConnectError>,
      requests: Stream.Stream<unknown, ConnectError>,
      call: HandlerContext
    ) => Stream.Stream<unknown, ConnectError | E, R>)
    | undefined
}

/**
 * Builds a server interceptor that provides nothing: `f` receives the call and the rest of the chain.
 *
 * @category constructors
 * @since 0.1.0
 */
export const server = <R = never>(
  f: <A, E1, R1>(next: Effect.Effect<A, E1, R1>, call: HandlerContext) => Effect.Effect<A, E1 | ConnectError, R1 | R>
): ServerInterceptor<never, ConnectError, R> => ({ intercept: f })

/**
 * Builds a server interceptor that computes a service from the call (for example the
 * authenticated user from the `authorization` header) and provides it to the handler.
 * Failing `make` fails the call without running the handler.
 *
 * @category constructors
 * @since 0.1.0
 */
export const provideService = <I, S, E extends ConnectError, R>(
  tag: Context.Key<I, S>,
  make: (call: HandlerContext) => Effect.Effect<S, E, R>
): ServerInterceptor<I, E, R> => ({
  intercept: (next, call) =>
    Effect.flatMap(make(call), (service) => Effect.provideService(next, tag, service)) as any
})

/**
 * Builds a server interceptor that sees messages: `unary` wraps the handler of every unary
 * method (read, validate or replace the request message; read or replace the response message;
 * fail the call), `stream` the handler of every streaming method (map, filter or watch the
 * request stream and the response stream).
 *
 * @example
 * ```ts
 * // rejects empty requests before any handler runs, on every unary method
 * const nonEmpty = Interceptor.serverCall({
 *   unary: (next, request, call) =>
 *     toBinary(call.method.input, request as Message).length === 0
 *       ? Effect.fail(ConnectError.make("invalid_argument", "empty request"))
 *       : next(request)
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const serverCall = <E extends ConnectError = ConnectError, R = never>(
  interceptor: {
    readonly unary?: ServerInterceptor<never, E, R>["unary"]
    readonly stream?: ServerInterceptor<never, E, R>["stream"]
  }
): ServerInterceptor<never, E, R> => interceptor

/**
 * What a client interceptor sees of an outgoing call before it is sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientRequestInfo {
  readonly method: DescMethod
  /** Absolute URL of the call. */
  readonly url: string
  /** Request headers; an interceptor may add or change them before calling `next`. */
  readonly headers: Headers
}

/**
 * The request of a unary call: one message.
 *
 * @category models
 * @since 0.1.0
 */
export interface UnaryRequest extends ClientRequestInfo {
  readonly stream: false
  /** The request message (a protobuf-es message or its init shape). */
  readonly message: unknown
}

/**
 * The request of a streaming call (server, client or bidi streaming; `method.methodKind` tells
 * which): the messages to send, a stream of one for server streaming.
 */
export interface StreamRequest extends ClientRequestInfo {
  readonly stream: true
  readonly messages: Stream.Stream<unknown, ConnectError>
}

/**
 * What every client interceptor sees of a response: the headers and the trailers.
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientResponseInfo {
  readonly headers: Headers
  /** Unary calls: the trailers; streaming calls: empty until the response stream ends, then the trailers. */
  readonly trailers: Headers
}

/**
 * The response of a unary call: headers, trailers and the message.
 *
 * @category models
 * @since 0.1.0
 */
export interface UnaryResponse extends ClientResponseInfo {
  readonly stream: false
  readonly message: unknown
}

/**
 * The response of a streaming call, as soon as its headers arrive: the messages are read as the
 * caller pulls `messages`, which fails with the call's error and ends after the trailers are
 * filled in.
 */
export interface StreamResponse extends ClientResponseInfo {
  readonly stream: true
  readonly messages: Stream.Stream<unknown, ConnectError>
}

/**
 * A client interceptor: middleware around the calls of a client. `unary` wraps a unary call
 * from its request to its response message; `stream` wraps a streaming call from its request
 * stream to the arrival of the response headers, and sees the rest of the call through the
 * response's `messages`. Either may read or change the request (headers, a new message or
 * stream passed to `next`), fail, retry, time, or map the response (its message, or its stream
 * of messages, whose end, failure and trailers it can observe). A missing side passes the call
 * through.
 */
export interface ClientInterceptor<out R = never> {
  readonly unary?: ((
    next: (request: UnaryRequest) => Effect.Effect<UnaryResponse, ConnectError>,
    request: UnaryRequest
  ) => Effect.Effect<UnaryResponse, ConnectError, R>) | undefined
  readonly stream?: ((
    next: (request: StreamRequest) => Effect.Effect<StreamResponse, ConnectError>,
    request: StreamRequest
  ) => Effect.Effect<StreamResponse, ConnectError, R>) | undefined
}

/**
 * Builds a client interceptor that sees whole calls: `unary` the request and response messages,
 * `stream` the request stream and the response stream.
 *
 * @example
 * ```ts
 * // logs every message of every streaming response
 * const logMessages = Interceptor.clientCall({
 *   stream: (next, request) =>
 *     Effect.map(next(request), (response) => ({
 *       ...response,
 *       messages: Stream.tap(response.messages, (m) => Effect.log(request.method.name, m))
 *     }))
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const clientCall = <R = never>(interceptor: ClientInterceptor<R>): ClientInterceptor<R> => interceptor

/**
 * Builds a client interceptor from one function for every kind of call, for what does not
 * depend on messages: `next` runs the call as `request` now stands (change its headers first),
 * up to the response headers for streaming calls and to the response message for unary calls.
 * It may fail, retry, time and log, and must answer with what `next` gave.
 */
export const client = <R = never>(
  intercept: <A extends ClientResponseInfo>(
    next: Effect.Effect<A, ConnectError>,
    request: ClientRequestInfo
  ) => Effect.Effect<A, ConnectError, R>
): ClientInterceptor<R> => ({
  unary: (next, request) => intercept(Effect.suspend(() => next(request)), request),
  stream: (next, request) => intercept(Effect.suspend(() => next(request)), request)
})
