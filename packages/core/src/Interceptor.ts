/**
 * Interceptors: Effect middleware around RPCs, on the server and on the client.
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

/**
 * A server interceptor that provides `Provides` to handlers, may fail with `E`, and needs `R`.
 */
export interface ServerInterceptor<in out Provides = never, out E extends ConnectError = ConnectError, out R = never> {
  readonly intercept: <A, E1, R1>(
    next: Effect.Effect<A, E1, R1>,
    call: HandlerContext
  ) => Effect.Effect<A, E1 | E, Exclude<R1, Provides> | R>
}

/** Builds a server interceptor that provides nothing: `f` receives the call and the rest of the chain. */
export const server = <R = never>(
  f: <A, E1, R1>(next: Effect.Effect<A, E1, R1>, call: HandlerContext) => Effect.Effect<A, E1 | ConnectError, R1 | R>
): ServerInterceptor<never, ConnectError, R> => ({ intercept: f })

/**
 * Builds a server interceptor that computes a service from the call (for example the
 * authenticated user from the `authorization` header) and provides it to the handler.
 * Failing `make` fails the call without running the handler.
 */
export const provideService = <I, S, E extends ConnectError, R>(
  tag: Context.Key<I, S>,
  make: (call: HandlerContext) => Effect.Effect<S, E, R>
): ServerInterceptor<I, E, R> => ({
  intercept: (next, call) =>
    Effect.flatMap(make(call), (service) => Effect.provideService(next, tag, service)) as any
})

/** What a client interceptor sees of an outgoing call before it is sent. */
export interface ClientRequestInfo {
  readonly method: DescMethod
  /** Absolute URL of the call. */
  readonly url: string
  /** Request headers; an interceptor may add or change them before calling `next`. */
  readonly headers: Headers
}

/** What a client interceptor sees of the response: headers when they arrive (trailers only for unary calls). */
export interface ClientResponseInfo {
  readonly headers: Headers
  /** Unary and client-streaming calls: the trailers; streaming responses: empty until the stream ends. */
  readonly trailers: Headers
}

/**
 * A client interceptor: wraps the exchange of one call up to the arrival of the response
 * headers (the whole exchange for unary calls). It may change request headers, fail or retry,
 * time, and log.
 */
export interface ClientInterceptor<out R = never> {
  readonly intercept: (
    next: Effect.Effect<ClientResponseInfo, ConnectError>,
    request: ClientRequestInfo
  ) => Effect.Effect<ClientResponseInfo, ConnectError, R>
}

/** Builds a client interceptor. */
export const client = <R = never>(
  intercept: (
    next: Effect.Effect<ClientResponseInfo, ConnectError>,
    request: ClientRequestInfo
  ) => Effect.Effect<ClientResponseInfo, ConnectError, R>
): ClientInterceptor<R> => ({ intercept })
