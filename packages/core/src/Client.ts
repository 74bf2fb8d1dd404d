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
 * Builds a client for `service` from the `Transport` in context. `Shape` lets generated code
 * name its own interface; it defaults to the shape derived from the descriptor.
 */
export const make = <Shape = never, S extends DescService = DescService>(
  service: S
): Effect.Effect<[Shape] extends [never] ? ClientOf<S> : Shape, never, Transport> =>
  Effect.map(Effect.service(Transport), (transport) => makeWith(service, transport) as any)
