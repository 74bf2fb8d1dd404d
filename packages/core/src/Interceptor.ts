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
import type { DescMessage, DescMethod, MessageInitShape, MessageShape } from "@bufbuild/protobuf"
import type * as Stream from "effect/Stream"

/**
 * A method descriptor with its input and output message types: `DescMethod` for any method, a
 * generated one (`ElizaService.method.say`) for that method's messages.
 *
 * @category models
 * @since 0.1.0
 */
export type MethodOf<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> = DescMethod & {
  readonly input: I
  readonly output: O
}

/**
 * The message-level `unary` side of a server interceptor for a method with input `I` and output
 * `O`. The request is a decoded message (`MessageShape<I>`, a protobuf-es `Message` for any
 * method); the response is what handlers answer with, a message or its init shape
 * (`MessageInitShape<O>`). `next` runs the handler (and the interceptors inside this one).
 *
 * @category models
 * @since 0.1.0
 */
export type ServerUnary<
  I extends DescMessage = DescMessage,
  O extends DescMessage = DescMessage,
  E extends ConnectError = ConnectError,
  R = never
> = (
  next: (request: MessageShape<I>) => Effect.Effect<MessageInitShape<O>, ConnectError>,
  request: MessageShape<I>,
  call: HandlerContext
) => Effect.Effect<MessageInitShape<O>, ConnectError | E, R>

/**
 * The message-level `stream` side of a server interceptor for a method with input `I` and output
 * `O`: decoded request messages (`MessageShape<I>`) in, the handler's response messages or init
 * shapes (`MessageInitShape<O>`) out.
 *
 * @category models
 * @since 0.1.0
 */
export type ServerStream<
  I extends DescMessage = DescMessage,
  O extends DescMessage = DescMessage,
  E extends ConnectError = ConnectError,
  R = never
> = (
  next: (requests: Stream.Stream<MessageShape<I>, ConnectError>) => Stream.Stream<MessageInitShape<O>, ConnectError>,
  requests: Stream.Stream<MessageShape<I>, ConnectError>,
  call: HandlerContext
) => Stream.Stream<MessageInitShape<O>, ConnectError | E, R>

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
  readonly unary?: ServerUnary<DescMessage, DescMessage, E, R> | undefined
  readonly stream?: ServerStream<DescMessage, DescMessage, E, R> | undefined
  /**
   * When set, `unary` and `stream` wrap the handler of this method only (matched by service
   * type name and method name) and leave the others as they are; `intercept` is not scoped.
   * `serverCall(method, …)` sets it.
   */
  readonly method?: DescMethod | undefined
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
 * The message-level side of a server interceptor scoped to the method `M`, typed with its
 * messages: `unary` for a unary method, `stream` for a streaming one.
 *
 * @category models
 * @since 0.1.0
 */
export type ServerMethodInterceptor<M extends DescMethod, E extends ConnectError = ConnectError, R = never> =
  M["methodKind"] extends "unary" ? { readonly unary: ServerUnary<M["input"], M["output"], E, R> }
    : { readonly stream: ServerStream<M["input"], M["output"], E, R> }

/** Whether two descriptors describe the same method (generated descriptors are shared, copies are not). */
const sameMethod = (a: DescMethod, b: DescMethod): boolean =>
  a === b || (a.name === b.name && a.parent.typeName === b.parent.typeName)

/**
 * Builds a server interceptor that sees messages: `unary` wraps the handler of every unary
 * method (read, validate or replace the request message; read or replace the response message;
 * fail the call), `stream` the handler of every streaming method (map, filter or watch the
 * request stream and the response stream). Request messages are decoded protobuf-es messages
 * (`Message`); responses are what handlers answer with, messages or their init shapes.
 *
 * Given a method descriptor first, the interceptor wraps that method's handler only, and its
 * side (`unary` for a unary method, `stream` otherwise) is typed with that method's messages.
 *
 * @example
 * ```ts
 * // rejects empty requests before any handler runs, on every unary method
 * const nonEmpty = Interceptor.serverCall({
 *   unary: (next, request, call) =>
 *     toBinary(call.method.input, request).length === 0
 *       ? Effect.fail(ConnectError.make("invalid_argument", "empty request"))
 *       : next(request)
 * })
 *
 * // one method, with its message types
 * const noShouting = Interceptor.serverCall(ElizaService.method.say, {
 *   unary: (next, request) => next({ ...request, sentence: request.sentence.toLowerCase() })
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const serverCall: {
  <E extends ConnectError = ConnectError, R = never>(
    interceptor: {
      readonly unary?: ServerUnary<DescMessage, DescMessage, E, R> | undefined
      readonly stream?: ServerStream<DescMessage, DescMessage, E, R> | undefined
    }
  ): ServerInterceptor<never, E, R>
  <M extends DescMethod, E extends ConnectError = ConnectError, R = never>(
    method: M,
    interceptor: ServerMethodInterceptor<M, E, R>
  ): ServerInterceptor<never, E, R>
} = (
  // untyped here, typed by the overloads: a method-scoped side sees only its method's messages,
  // since `wrapHandler` applies it to that method's handler alone (through `method`)
  methodOrInterceptor: any,
  interceptor?: any
): ServerInterceptor<never, any, any> =>
  interceptor === undefined
    ? methodOrInterceptor
    : { unary: interceptor.unary, stream: interceptor.stream, method: methodOrInterceptor }

/**
 * What a client interceptor sees of an outgoing call before it is sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientRequestInfo<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> {
  readonly method: MethodOf<I, O>
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
export interface UnaryRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage>
  extends ClientRequestInfo<I, O>
{
  readonly stream: false
  /**
   * The request message as the caller passed it: a protobuf-es message or its init shape (a plain
   * object without `$typeName`); `create(request.method.input, request.message)` makes a message.
   */
  readonly message: MessageInitShape<I>
}

/**
 * The request of a streaming call (server, client or bidi streaming; `method.methodKind` tells
 * which): the messages to send, a stream of one for server streaming, each a protobuf-es message
 * or its init shape as the caller passed it.
 *
 * @category models
 * @since 0.1.0
 */
export interface StreamRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage>
  extends ClientRequestInfo<I, O>
{
  readonly stream: true
  readonly messages: Stream.Stream<MessageInitShape<I>, ConnectError>
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
export interface UnaryResponse<O extends DescMessage = DescMessage> extends ClientResponseInfo {
  readonly stream: false
  /** The decoded response message (a protobuf-es `Message` for any method). */
  readonly message: MessageShape<O>
}

/**
 * The response of a streaming call, as soon as its headers arrive: the messages are read as the
 * caller pulls `messages`, which fails with the call's error and ends after the trailers are
 * filled in. The messages are decoded protobuf-es messages.
 *
 * @category models
 * @since 0.1.0
 */
export interface StreamResponse<O extends DescMessage = DescMessage> extends ClientResponseInfo {
  readonly stream: true
  readonly messages: Stream.Stream<MessageShape<O>, ConnectError>
}

/**
 * The `unary` side of a client interceptor for a method with input `I` and output `O`.
 *
 * @category models
 * @since 0.1.0
 */
export type ClientUnary<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage, R = never> = (
  next: (request: UnaryRequest<I, O>) => Effect.Effect<UnaryResponse<O>, ConnectError>,
  request: UnaryRequest<I, O>
) => Effect.Effect<UnaryResponse<O>, ConnectError, R>

/**
 * The `stream` side of a client interceptor for a method with input `I` and output `O`.
 *
 * @category models
 * @since 0.1.0
 */
export type ClientStream<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage, R = never> = (
  next: (request: StreamRequest<I, O>) => Effect.Effect<StreamResponse<O>, ConnectError>,
  request: StreamRequest<I, O>
) => Effect.Effect<StreamResponse<O>, ConnectError, R>

/**
 * A client interceptor: middleware around the calls of a client. `unary` wraps a unary call
 * from its request to its response message; `stream` wraps a streaming call from its request
 * stream to the arrival of the response headers, and sees the rest of the call through the
 * response's `messages`. Either may read or change the request (headers, a new message or
 * stream passed to `next`), fail, retry, time, or map the response (its message, or its stream
 * of messages, whose end, failure and trailers it can observe). A missing side passes the call
 * through.
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientInterceptor<out R = never> {
  readonly unary?: ClientUnary<DescMessage, DescMessage, R> | undefined
  readonly stream?: ClientStream<DescMessage, DescMessage, R> | undefined
}

/**
 * The side of a client interceptor scoped to the method `M`, typed with its messages: `unary`
 * for a unary method, `stream` for a streaming one.
 *
 * @category models
 * @since 0.1.0
 */
export type ClientMethodInterceptor<M extends DescMethod, R = never> = M["methodKind"] extends "unary"
  ? { readonly unary: ClientUnary<M["input"], M["output"], R> }
  : { readonly stream: ClientStream<M["input"], M["output"], R> }

/**
 * Builds a client interceptor that sees whole calls: `unary` the request and response messages,
 * `stream` the request stream and the response stream. Request messages are what the caller
 * passed (messages or init shapes); response messages are decoded protobuf-es messages, so
 * `toJsonString(request.method.output, response.message)` needs no cast.
 *
 * Given a method descriptor first, the interceptor sees that method's calls only (the others
 * pass through), and its side (`unary` for a unary method, `stream` otherwise) is typed with that
 * method's messages.
 *
 * @example
 * ```ts
 * // logs every message of every streaming response
 * const logMessages = Interceptor.clientCall({
 *   stream: (next, request) =>
 *     Effect.map(next(request), (response) => ({
 *       ...response,
 *       messages: Stream.tap(response.messages, (m) => Effect.log(toJsonString(request.method.output, m)))
 *     }))
 * })
 *
 * // one method, with its message types
 * const logSay = Interceptor.clientCall(ElizaService.method.say, {
 *   unary: (next, request) => Effect.tap(next(request), (response) => Effect.log(response.message.sentence))
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const clientCall: {
  <R = never>(interceptor: ClientInterceptor<R>): ClientInterceptor<R>
  <M extends DescMethod, R = never>(method: M, interceptor: ClientMethodInterceptor<M, R>): ClientInterceptor<R>
} = (
  // untyped here, typed by the overloads: a method-scoped side runs only for calls of its method,
  // whose messages are the ones its types say
  methodOrInterceptor: any,
  interceptor?: any
): ClientInterceptor<any> => {
  if (interceptor === undefined) return methodOrInterceptor
  const method: DescMethod = methodOrInterceptor
  const only = (side: ((next: (request: any) => any, request: ClientRequestInfo) => any) | undefined) =>
    side === undefined ? undefined : (next: (request: any) => any, request: ClientRequestInfo) =>
      sameMethod(request.method, method) ? side(next, request) : next(request)
  return { unary: only(interceptor.unary), stream: only(interceptor.stream) }
}

/**
 * Builds a client interceptor from one function for every kind of call, for what does not
 * depend on messages: `next` runs the call as `request` now stands (change its headers first),
 * up to the response headers for streaming calls and to the response message for unary calls.
 * It may fail, retry, time and log, and must answer with what `next` gave.
 *
 * @category constructors
 * @since 0.1.0
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
