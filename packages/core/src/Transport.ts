/**
 * `Transport`: how a client performs RPCs — a protocol (Connect, gRPC or gRPC-Web) over an
 * `HttpClient`. Generated clients require it; the layers here build it over the `HttpClient`
 * in context, and platform layers (`NodeTransport`, `BunTransport`, `FetchHttpClient`,
 * `MemoryTransport`) build it over theirs.
 *
 * @since 0.1.0
 */
import type { DescMessage, DescMethod, MessageInitShape } from "@bufbuild/protobuf"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type { CallOptions } from "./CallOptions.ts"
import * as Codec from "./Codec.ts"
import { type Compression, Compressions } from "./Compression.ts"
import { type HeadersInput, HttpClient, type ProtocolName } from "./Http.ts"
import type { ClientInterceptor } from "./Interceptor.ts"
import * as ConnectError from "./ConnectError.ts"
import type { StreamRequest, StreamResponse, UnaryRequest, UnaryResponse } from "./Interceptor.ts"
import {
  callTimeout,
  type ClientConfig,
  type ClientProtocol,
  deadlineEffect,
  deadlineStream,
  methodUrl,
  timeoutOf
} from "./protocol/client.ts"
import { clientProtocols } from "./protocol/protocols.ts"

/**
 * Performs calls for any method; messages are protobuf-es messages (or init shapes for requests).
 *
 * @category models
 * @since 0.1.0
 */
export interface TransportShape {
  readonly unary: (method: DescMethod, request: unknown, options?: CallOptions) => Effect.Effect<unknown, ConnectError.ConnectError>
  readonly stream: <E>(
    method: DescMethod,
    requests: Stream.Stream<unknown, E>,
    options?: CallOptions
  ) => Stream.Stream<unknown, ConnectError.ConnectError | E>
  /** What the transport speaks to; set by the layers of this module, read by decorators (`Telemetry`, `Retry`). */
  readonly info?: TransportInfo | undefined
}

/**
 * The protocol, server and default timeout of a `Transport`.
 *
 * @category models
 * @since 0.1.0
 */
export interface TransportInfo {
  readonly protocol: ProtocolName
  /** The `baseUrl` of the client options. */
  readonly baseUrl: string
  /** The default timeout of every call in milliseconds (`ClientOptions.timeout` / `timeoutMs`). */
  readonly timeoutMs: number | undefined
}

/**
 * The transport clients use, provided by a platform layer such as `NodeTransport.layerConnect`.
 *
 * @category services
 * @since 0.1.0
 */
export class Transport extends Context.Service<Transport, TransportShape>()("@connect-effect/core/Transport") {}

/**
 * Options shared by client protocols.
 *
 * @category options
 * @since 0.1.0
 */
export interface ClientOptions<R = never> {
  /** Base URL of the server, e.g. `http://localhost:8080` (a path prefix is kept). */
  readonly baseUrl: string
  /** `proto` (default) or `json`. */
  readonly codec?: "proto" | "json" | undefined
  /** JSON codec options (registry for `Any`). */
  readonly json?: Codec.JsonOptions | undefined
  /** Use GET for methods marked `NO_SIDE_EFFECTS` (Connect only; default false). */
  readonly useHttpGet?: boolean | undefined
  /** Compressions the client can decompress and offer; default: the platform's `Compressions`. */
  readonly compressions?: ReadonlyArray<Compression> | undefined
  /** Compress requests with this algorithm (by name; default none). */
  readonly sendCompression?: string | undefined
  /** Requests smaller than this are sent uncompressed (default 1024). */
  readonly compressMinBytes?: number | undefined
  /** Largest response message accepted, after decompression (default 4 MiB). */
  readonly readMaxBytes?: number | undefined
  /** Largest request message sent (default 4 MiB). */
  readonly writeMaxBytes?: number | undefined
  /**
   * Interceptors, outermost first. They may require services (`R`): the layer that builds the
   * transport requires them and gives them to each interceptor's own effect.
   */
  readonly interceptors?: ReadonlyArray<ClientInterceptor<R>> | undefined
  /** Default timeout of every call in milliseconds (see `timeout`). */
  readonly timeoutMs?: number | undefined
  /**
   * Default timeout of every call (`"5 seconds"`, `Duration.seconds(5)`, milliseconds); with
   * `timeoutMs` too, the smaller of both wins. A call's own timeout replaces it.
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * Headers sent on every call. `withHeaders` and a call's own headers replace same-named ones
   * (precedence: these < `withHeaders`, outer < inner < `CallOptions.headers`).
   */
  readonly headers?: HeadersInput | undefined
}

// -----------------------------------------------------------------------------
// headers scoped to an effect
// -----------------------------------------------------------------------------

/**
 * The headers every call of the current fiber sends, set by {@link withHeaders} (`undefined`:
 * none). The value is shared: replace it, never mutate it.
 *
 * @category references
 * @since 0.1.0
 */
export const CurrentHeaders: Context.Reference<Headers | undefined> = Context.Reference<Headers | undefined>(
  "@connect-effect/core/Transport/CurrentHeaders",
  { defaultValue: () => undefined }
)

/** Sets every header of `source` on `target`, replacing same-named ones (several values of one name are kept). */
const overlay = (target: Headers, source: Headers): Headers => {
  source.forEach((_, name) => target.delete(name))
  source.forEach((value, name) => target.append(name, value))
  return target
}

/**
 * Runs `effect` so that every call made inside it sends `headers` — streaming calls too, when
 * their stream runs inside it. Nested uses merge, the inner one winning for a name; a call's own
 * `CallOptions.headers` win over both, and both win over `ClientOptions.headers`.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import * as Transport from "@connect-effect/core/Transport"
 *
 * declare const program: Effect.Effect<void>
 * const traced = program.pipe(Transport.withHeaders({ "x-tenant": "acme" }))
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const withHeaders: {
  (headers: HeadersInput): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(effect: Effect.Effect<A, E, R>, headers: HeadersInput): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(effect: Effect.Effect<A, E, R>, headers: HeadersInput): Effect.Effect<A, E, R> =>
    Effect.updateService(effect, CurrentHeaders, (current) => overlay(new Headers(current), new Headers(headers)))
)

/**
 * The headers of a call: the client's defaults, then the fiber's scoped headers, then the call's
 * own, each replacing same-named ones of the former. Without defaults or scoped headers this is
 * the call's headers as before.
 */
const requestHeaders = (
  defaults: Headers | undefined,
  scoped: Headers | undefined,
  own: HeadersInput | undefined
): Headers => {
  if (defaults === undefined && scoped === undefined) return new Headers(own)
  const headers = new Headers(defaults)
  if (scoped !== undefined) overlay(headers, scoped)
  return own === undefined ? headers : overlay(headers, new Headers(own))
}

// -----------------------------------------------------------------------------
// the call driver every protocol shares
// -----------------------------------------------------------------------------

type Next<Req, Res> = (request: Req) => Effect.Effect<Res, ConnectError.ConnectError>

/** Wraps `core` in the interceptors' `side` (outermost first). */
const chain = <Req, Res>(
  interceptors: ReadonlyArray<ClientInterceptor<never>>,
  side: "unary" | "stream",
  core: Next<Req, Res>
): Next<Req, Res> => {
  let next = core
  for (let i = interceptors.length - 1; i >= 0; i--) {
    const intercept = interceptors[i]![side] as
      | ((next: Next<Req, Res>, request: Req) => Effect.Effect<Res, ConnectError.ConnectError>)
      | undefined
    if (intercept === undefined) continue
    const inner = next
    next = (request) => intercept(inner, request)
  }
  return next
}

/**
 * A `Transport` speaking `protocol` over an `HttpClient` with a resolved configuration (the
 * layers below build one from `ClientOptions`): each call gets its deadline, runs through the
 * interceptors into the protocol, and is bounded by the deadline.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (protocol: ProtocolName, http: HttpClient["Service"], config: ClientConfig): TransportShape =>
  drive(clientProtocols[protocol], http, config)

const drive = (protocol: ClientProtocol, http: HttpClient["Service"], config: ClientConfig): TransportShape => ({
  unary: (method, message, options) =>
    Effect.withFiber((fiber) => {
      const timeoutMs = callTimeout(config.timeoutMs, options, fiber.context)
      const request: UnaryRequest = {
        stream: false,
        method,
        url: methodUrl(config.baseUrl, method),
        headers: requestHeaders(config.headers, fiber.getRef(CurrentHeaders), options?.headers),
        // `TransportShape` takes `unknown`: clients pass the method's input message or its init shape
        message: message as MessageInitShape<DescMessage>
      }
      const call = chain<UnaryRequest, UnaryResponse>(
        config.interceptors,
        "unary",
        (request) => protocol.unary(http, config, request, timeoutMs, options)
      )
      return Effect.map(deadlineEffect(call(request), timeoutMs, fiber.getRef(Clock.Clock)), (response) => response.message)
    }),
  stream: <E>(method: DescMethod, requests: Stream.Stream<unknown, E>, options: CallOptions | undefined) =>
    Stream.unwrap(Effect.withFiberSucceed((fiber) => {
      const timeoutMs = callTimeout(config.timeoutMs, options, fiber.context)
      // a failure of the caller's stream ends the call with that error, not a protocol one
      let requestError: { readonly error: E } | undefined
      const request: StreamRequest = {
        stream: true,
        method,
        url: methodUrl(config.baseUrl, method),
        headers: requestHeaders(config.headers, fiber.getRef(CurrentHeaders), options?.headers),
        // `TransportShape` takes `unknown`: clients pass the method's input messages or their init shapes
        messages: Stream.mapError(requests as Stream.Stream<MessageInitShape<DescMessage>, E>, (error) => {
          requestError = { error }
          return ConnectError.make("canceled", "the request stream failed")
        })
      }
      // the protocol's exchange needs the Scope of the unwrapped stream, which outlives the interceptors
      const call = chain<StreamRequest, StreamResponse>(
        config.interceptors,
        "stream",
        (request) =>
          protocol.stream(http, config, request, timeoutMs, options) as Effect.Effect<StreamResponse, ConnectError.ConnectError>
      )
      const messages = Stream.catchCause(
        Stream.unwrap(Effect.map(call(request), (response) => response.messages)),
        (cause): Stream.Stream<never, ConnectError.ConnectError | E> =>
          requestError !== undefined ? Stream.fail(requestError.error) : Stream.failCause(cause)
      )
      return deadlineStream(messages, timeoutMs, fiber.getRef(Clock.Clock))
    }))
})

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * Client options that cannot work, such as a `sendCompression` that is not among the available
 * compressions: the transport layers fail with it when they are built, before any call.
 *
 * @category errors
 * @since 0.1.0
 */
export class TransportConfigError extends Data.TaggedError("TransportConfigError")<{
  /** The option at fault, e.g. `sendCompression`. */
  readonly option: string
  readonly message: string
}> {}

/**
 * Resolves client options against the platform's compressions; fails with
 * {@link TransportConfigError} when they cannot work.
 *
 * @category options
 * @since 0.1.0
 */
export const resolve = (
  options: ClientOptions,
  platformCompressions: ReadonlyArray<Compression>
): Effect.Effect<ClientConfig, TransportConfigError> => {
  const compressions = options.compressions ?? platformCompressions
  const sendCompression = options.sendCompression === undefined
    ? undefined
    : compressions.find((c) => c.name === options.sendCompression)
  if (options.sendCompression !== undefined && sendCompression === undefined) {
    return Effect.fail(
      new TransportConfigError({
        option: "sendCompression",
        message: `sendCompression ${options.sendCompression} is not among the available compressions (${
          compressions.map((c) => c.name).join(", ") || "none"
        })`
      })
    )
  }
  const timeoutMs = timeoutOf(options)
  return Effect.succeed({
    baseUrl: options.baseUrl,
    codec: options.codec === "json" ? (options.json !== undefined ? Codec.json(options.json) : Codec.jsonDefault) : Codec.proto,
    useHttpGet: options.useHttpGet ?? false,
    compressions,
    sendCompression,
    compressMinBytes: options.compressMinBytes ?? 1024,
    readMaxBytes: options.readMaxBytes ?? 4 * 1024 * 1024,
    writeMaxBytes: options.writeMaxBytes ?? 4 * 1024 * 1024,
    interceptors: options.interceptors ?? [],
    timeoutMs: timeoutMs === Infinity ? undefined : timeoutMs,
    headers: options.headers === undefined ? undefined : new Headers(options.headers)
  })
}

/**
 * An interceptor that needs `R`, with the services of the layer that built the transport: its
 * own effect sees them, and the rest of the call (`next`) runs in the caller's context as it was
 * (the layer's services do not leak into the protocol, or into inner interceptors).
 */
const providing = <R>(interceptor: ClientInterceptor<R>, services: Context.Context<R>): ClientInterceptor<never> => ({
  unary: withServices(interceptor.unary, services),
  stream: withServices(interceptor.stream, services)
})

/** One side of {@link providing}: the side's effect with `services`, its `next` in the caller's context. */
const withServices = <Req, Res, R>(
  side: ((next: Next<Req, Res>, request: Req) => Effect.Effect<Res, ConnectError.ConnectError, R>) | undefined,
  services: Context.Context<R>
): ((next: Next<Req, Res>, request: Req) => Effect.Effect<Res, ConnectError.ConnectError>) | undefined =>
  side === undefined ? undefined : (next, request) =>
    Effect.withFiber((fiber) => {
      const caller = fiber.context
      return Effect.provideContext(side((r) => Effect.updateContext(next(r), () => caller), request), services)
    })

/**
 * A `Transport` speaking `protocol` over the `HttpClient` in context; fails with
 * {@link TransportConfigError} when the options cannot work.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <R = never>(
  options: ClientOptions<R>,
  protocol: ProtocolName
): Layer.Layer<Transport, TransportConfigError, HttpClient | R> =>
  Layer.effect(
    Transport,
    Effect.gen(function*() {
      const http = yield* HttpClient
      const services = yield* Effect.context<R>()
      const interceptors = options.interceptors?.map((interceptor) => providing(interceptor, services))
      const config = yield* resolve({ ...options, interceptors }, yield* Compressions)
      const transport = make(protocol, http, config)
      const info: TransportInfo = { protocol, baseUrl: options.baseUrl, timeoutMs: config.timeoutMs }
      return Object.assign(transport, { info })
    })
  )

/**
 * The Connect protocol over the `HttpClient` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConnect = <R = never>(options: ClientOptions<R>): Layer.Layer<Transport, TransportConfigError, HttpClient | R> =>
  layer(options, "connect")

/**
 * The gRPC protocol over the `HttpClient` in context (it needs HTTP/2 trailers).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGrpc = <R = never>(options: ClientOptions<R>): Layer.Layer<Transport, TransportConfigError, HttpClient | R> =>
  layer(options, "grpc")

/**
 * The gRPC-Web protocol over the `HttpClient` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGrpcWeb = <R = never>(options: ClientOptions<R>): Layer.Layer<Transport, TransportConfigError, HttpClient | R> =>
  layer(options, "grpc-web")
