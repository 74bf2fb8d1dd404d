/**
 * The shapes of handlers and client calls for the four RPC kinds, derived from protobuf-es
 * descriptors. Generated code (`protoc-gen-connect-effect`) is written in these terms.
 *
 * @since 0.1.0
 */
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { ConnectError } from "./ConnectError.ts"
import type { HandlerContext } from "./HandlerContext.ts"
import type { CallOptions } from "./CallOptions.ts"
import type { ErrorOf } from "./DomainError.ts"

/**
 * Unary: one request in, one response out.
 *
 * @category handlers
 * @since 0.1.0
 */
export type UnaryHandler<I extends DescMessage, O extends DescMessage, R = never, E = never> = (
  request: MessageShape<I>,
  context: HandlerContext
) => Effect.Effect<MessageInitShape<O>, ConnectError | E, R>

/**
 * Server streaming: one request in, a stream of responses out.
 *
 * @category handlers
 * @since 0.1.0
 */
export type ServerStreamHandler<I extends DescMessage, O extends DescMessage, R = never, E = never> = (
  request: MessageShape<I>,
  context: HandlerContext
) => Stream.Stream<MessageInitShape<O>, ConnectError | E, R>

/**
 * Client streaming: a stream of requests in, one response out.
 *
 * @category handlers
 * @since 0.1.0
 */
export type ClientStreamHandler<I extends DescMessage, O extends DescMessage, R = never, E = never> = (
  requests: Stream.Stream<MessageShape<I>, ConnectError>,
  context: HandlerContext
) => Effect.Effect<MessageInitShape<O>, ConnectError | E, R>

/**
 * Bidirectional streaming: a stream of requests in, a stream of responses out.
 *
 * @category handlers
 * @since 0.1.0
 */
export type BidiStreamHandler<I extends DescMessage, O extends DescMessage, R = never, E = never> = (
  requests: Stream.Stream<MessageShape<I>, ConnectError>,
  context: HandlerContext
) => Stream.Stream<MessageInitShape<O>, ConnectError | E, R>

/**
 * The handler type of one method descriptor.
 *
 * @category utility types
 * @since 0.1.0
 */
export type HandlerOf<M, R = never, E = never> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? UnaryHandler<I, O, R, E>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ServerStreamHandler<I, O, R, E>
  : M extends { methodKind: "client_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ClientStreamHandler<I, O, R, E>
  : M extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? BidiStreamHandler<I, O, R, E>
  : never

/**
 * The handlers of a whole service, keyed by the method's local name (lowerCamelCase).
 * A method left out answers `unimplemented`.
 *
 * @category handlers
 * @since 0.1.0
 */
export type Handlers<S extends DescService, R = never, Errs = {}> = S extends { method: infer Methods }
  ? { readonly [K in keyof Methods]?: HandlerOf<Methods[K], R, ErrorOf<Errs, K>> }
  : { readonly [name: string]: unknown }

/**
 * A unary call on a client.
 *
 * @category clients
 * @since 0.1.0
 */
export type UnaryCall<I extends DescMessage, O extends DescMessage, E = never> = (
  request: MessageInitShape<I>,
  options?: CallOptions
) => Effect.Effect<MessageShape<O>, ConnectError | E>

/**
 * A server-streaming call on a client.
 *
 * @category clients
 * @since 0.1.0
 */
export type ServerStreamCall<I extends DescMessage, O extends DescMessage, E = never> = (
  request: MessageInitShape<I>,
  options?: CallOptions
) => Stream.Stream<MessageShape<O>, ConnectError | E>

/**
 * A client-streaming call on a client: the request stream may fail with any error, which aborts the call.
 *
 * @category clients
 * @since 0.1.0
 */
export type ClientStreamCall<I extends DescMessage, O extends DescMessage, E = never> = <EI = never>(
  requests: Stream.Stream<MessageInitShape<I>, EI>,
  options?: CallOptions
) => Effect.Effect<MessageShape<O>, ConnectError | E | EI>

/**
 * A bidirectional-streaming call on a client.
 *
 * @category clients
 * @since 0.1.0
 */
export type BidiStreamCall<I extends DescMessage, O extends DescMessage, E = never> = <EI = never>(
  requests: Stream.Stream<MessageInitShape<I>, EI>,
  options?: CallOptions
) => Stream.Stream<MessageShape<O>, ConnectError | E | EI>

/**
 * The client call type of one method descriptor.
 *
 * @category utility types
 * @since 0.1.0
 */
export type CallOf<M, E = never> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? UnaryCall<I, O, E>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ServerStreamCall<I, O, E>
  : M extends { methodKind: "client_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ClientStreamCall<I, O, E>
  : M extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? BidiStreamCall<I, O, E>
  : never

/**
 * A whole client: one call per method, keyed by the method's local name.
 *
 * @category clients
 * @since 0.1.0
 */
export type ClientOf<S extends DescService, Errs = {}> = S extends { method: infer Methods }
  ? { readonly [K in keyof Methods]: CallOf<Methods[K], ErrorOf<Errs, K>> }
  : { readonly [name: string]: unknown }

/**
 * Any method descriptor (re-exported for generated code).
 *
 * @category descriptors
 * @since 0.1.0
 */
export type Method = DescMethod
