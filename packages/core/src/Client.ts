/**
 * Typed clients over the `Transport` in context. Generated code calls {@link make}; it can also
 * be used directly with any protobuf-es service descriptor.
 *
 * @since 0.1.0
 */
import type { DescService } from "@bufbuild/protobuf"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { CallOptions } from "./CallOptions.ts"
import * as ConnectError from "./ConnectError.ts"
import type { ClientOf } from "./Rpc.ts"
import { Transport, type TransportShape } from "./Transport.ts"

/** Reads exactly one response from a client-streaming call's response stream. */
const single = <E>(responses: Stream.Stream<unknown, E>): Effect.Effect<unknown, E | ConnectError.ConnectError> =>
  Effect.flatMap(Stream.runCollect(Stream.take(responses, 2)), (all) => {
    if (all.length === 1) return Effect.succeed(all[0])
    return Effect.fail(
      ConnectError.make(
        "unimplemented",
        all.length === 0
          ? "protocol error: missing response message"
          : "protocol error: received more than one response message"
      )
    )
  })

/**
 * Builds a client for `service` over a given transport.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeWith = <S extends DescService>(service: S, transport: TransportShape): ClientOf<S> => {
  const client: Record<string, unknown> = {}
  for (const method of service.methods) {
    switch (method.methodKind) {
      case "unary":
        client[method.localName] = (request: unknown, options?: CallOptions) => transport.unary(method, request, options)
        break
      case "server_streaming":
        client[method.localName] = (request: unknown, options?: CallOptions) =>
          transport.stream(method, Stream.succeed(request), options)
        break
      case "client_streaming":
        client[method.localName] = (requests: Stream.Stream<unknown, unknown>, options?: CallOptions) =>
          single(transport.stream(method, requests, options))
        break
      case "bidi_streaming":
        client[method.localName] = (requests: Stream.Stream<unknown, unknown>, options?: CallOptions) =>
          transport.stream(method, requests, options)
        break
    }
  }
  return client as ClientOf<S>
}

/**
 * The response of a call with its metadata, as {@link callWithMetadata} returns it.
 *
 * @category models
 * @since 0.1.0
 */
export interface ResponseWithMetadata<A> {
  readonly message: A
  /** The response headers (empty when the protocol delivered none). */
  readonly headers: Headers
  /** The response trailers (empty when the protocol delivered none). */
  readonly trailers: Headers
}

/**
 * Calls a unary (or client-streaming) method of a client and succeeds with the response message
 * together with the response headers and trailers — `onHeaders`/`onTrailers` as a value. It
 * takes the client's method as it is, so generated clients need no change:
 * `Client.callWithMetadata(eliza.say, { sentence: "hi" }, { timeout: "1 second" })`. Callbacks
 * in `options` still run. On failure the metadata is in the error (`ConnectError.metadata`).
 *
 * @category combinators
 * @since 0.1.0
 */
export const callWithMetadata = <I, A, E, R>(
  method: (request: I, options?: CallOptions) => Effect.Effect<A, E, R>,
  request: I,
  options?: CallOptions
): Effect.Effect<ResponseWithMetadata<A>, E, R> =>
  Effect.suspend(() => {
    // fresh per run; a retried call reports its last attempt
    let headers: Headers | undefined
    let trailers: Headers | undefined
    return Effect.map(
      method(request, {
        ...options,
        onHeaders: (h) => {
          headers = h
          options?.onHeaders?.(h)
        },
        onTrailers: (t) => {
          trailers = t
          options?.onTrailers?.(t)
        }
      }),
      (message) => ({ message, headers: headers ?? new Headers(), trailers: trailers ?? new Headers() })
    )
  })

/**
 * Builds a client for `service` from the `Transport` in context. `Shape` lets generated code
 * name its own interface; it defaults to the shape derived from the descriptor.
 */
export const make = <Shape = never, S extends DescService = DescService>(
  service: S
): Effect.Effect<[Shape] extends [never] ? ClientOf<S> : Shape, never, Transport> =>
  Effect.map(Effect.service(Transport), (transport) => makeWith(service, transport) as any)
