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
import * as DomainError from "./DomainError.ts"
import type { ClientOf } from "./Rpc.ts"
import { type DescriptorOf, definitionParts, type ErrorsOf, type ServiceDefinition } from "./Router.ts"
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

/** A received error decoded into the method's declared domain errors. */
const decoding = (classes: ReadonlyArray<DomainError.Any>) => (error: unknown) =>
  ConnectError.isConnectError(error) ? DomainError.fromConnectError(error, classes) : error

/**
 * Builds a client for `service` over a given transport. `errors` (method local name → domain
 * error classes) makes a method's calls fail with the declared domain errors the server sends
 * instead of their `ConnectError`s.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeWith = <S extends DescService, Errs extends DomainError.Declared = {}>(
  service: S,
  transport: TransportShape,
  errors?: Errs
): ClientOf<S, Errs> => {
  const client: Record<string, unknown> = {}
  for (const method of service.methods) {
    const declared = errors?.[method.localName]
    const decode = declared !== undefined && declared.length > 0 ? decoding(declared) : undefined
    switch (method.methodKind) {
      case "unary":
        client[method.localName] = decode === undefined
          ? (request: unknown, options?: CallOptions) => transport.unary(method, request, options)
          : (request: unknown, options?: CallOptions) => Effect.mapError(transport.unary(method, request, options), decode)
        break
      case "server_streaming":
        client[method.localName] = decode === undefined
          ? (request: unknown, options?: CallOptions) => transport.stream(method, Stream.succeed(request), options)
          : (request: unknown, options?: CallOptions) =>
            Stream.mapError(transport.stream(method, Stream.succeed(request), options), decode)
        break
      case "client_streaming":
        client[method.localName] = decode === undefined
          ? (requests: Stream.Stream<unknown, unknown>, options?: CallOptions) =>
            single(transport.stream(method, requests, options))
          : (requests: Stream.Stream<unknown, unknown>, options?: CallOptions) =>
            Effect.mapError(single(transport.stream(method, requests, options)), decode)
        break
      case "bidi_streaming":
        client[method.localName] = decode === undefined
          ? (requests: Stream.Stream<unknown, unknown>, options?: CallOptions) => transport.stream(method, requests, options)
          : (requests: Stream.Stream<unknown, unknown>, options?: CallOptions) =>
            Stream.mapError(transport.stream(method, requests, options), decode)
        break
    }
  }
  return client as ClientOf<S, Errs>
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
 * Builds a client for a service from the `Transport` in context: a descriptor, or a definition
 * with declared domain errors (`{ descriptor, errors }`, as generated service tags carry). The shape
 * is derived from the descriptor; generated code names its own interface with `make<Shape>(…)`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: {
  <X extends ServiceDefinition<any, any>>(service: X): Effect.Effect<ClientOf<DescriptorOf<X>, ErrorsOf<X>>, never, Transport>
  <Shape>(service: ServiceDefinition<any, any>): Effect.Effect<Shape, never, Transport>
} = (service: ServiceDefinition<DescService, DomainError.Declared>): Effect.Effect<any, never, Transport> =>
  Effect.map(Effect.service(Transport), (transport) => {
    const { descriptor, errors } = definitionParts(service)
    return makeWith(descriptor, transport, errors)
  })
