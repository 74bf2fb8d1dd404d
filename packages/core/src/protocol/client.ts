/**
 * The client side every protocol shares: the resolved client configuration, deadlines (the
 * call's own, the client's default and the one inherited from a server call), whole-body reads
 * with limits, request framing, and what the client side of a protocol is ({@link ClientProtocol};
 * `Transport.make` runs one inside the client interceptors).
 */
import type { DescMethod } from "@bufbuild/protobuf"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { CallOptions } from "../CallOptions.ts"
import type { Codec } from "../Codec.ts"
import type { Compression } from "../Compression.ts"
import * as ConnectError from "../ConnectError.ts"
import { CurrentCall } from "../HandlerContext.ts"
import type { ClientResponse, HttpClient, ProtocolName } from "../Http.ts"
import type { ClientInterceptor, StreamRequest, StreamResponse, UnaryRequest, UnaryResponse } from "../Interceptor.ts"
import { frameMessages, namingReadMax } from "./pipeline.ts"

/**
 * A resolved client configuration: what every client protocol needs from the client options.
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientConfig {
  readonly baseUrl: string
  readonly codec: Codec
  /** Connect only: use GET for methods without side effects. */
  readonly useHttpGet: boolean
  readonly compressions: ReadonlyArray<Compression>
  readonly sendCompression: Compression | undefined
  readonly compressMinBytes: number
  readonly readMaxBytes: number
  readonly writeMaxBytes: number
  readonly interceptors: ReadonlyArray<ClientInterceptor<never>>
  /** The default timeout of every call in milliseconds (`undefined`: none). */
  readonly timeoutMs: number | undefined
  /** Headers sent on every call (a call's own headers replace same-named ones). */
  readonly headers?: Headers | undefined
}

/** A timeout as `CallOptions` and `ClientOptions` carry it: in milliseconds, as a `Duration`, or both. */
export interface TimeoutOptions {
  readonly timeoutMs?: number | undefined
  readonly timeout?: Duration.Input | undefined
}

/** The timeout `options` ask for in milliseconds: the smaller of `timeoutMs` and `timeout` (`Infinity`: none). */
export const timeoutOf = (options: TimeoutOptions | undefined): number | undefined => {
  if (options === undefined || options.timeout === undefined) return options?.timeoutMs
  const ms = Duration.toMillis(options.timeout)
  return options.timeoutMs === undefined ? ms : Math.min(ms, options.timeoutMs)
}

/**
 * The timeout of a call in whole milliseconds (`undefined`: none): the call's own, else the
 * client's default, bounded by the deadline inherited from a server call in `context`. An
 * infinite timeout of the call overrides the client's default.
 */
export const callTimeout = (
  defaultMs: number | undefined,
  options: CallOptions | undefined,
  context: Context.Context<never>
): number | undefined => {
  let t = timeoutOf(options) ?? defaultMs
  const current = Context.getOrUndefined(context, CurrentCall)
  if (current !== undefined) {
    const left = current.timeRemaining()
    if (left !== undefined) t = t === undefined ? left : Math.min(t, left)
  }
  return t === undefined || t === Infinity ? undefined : Math.max(0, Math.floor(t))
}

/** {@link callTimeout} in the current fiber's context. */
export const effectiveTimeout = (
  defaultMs: number | undefined,
  options: CallOptions | undefined
): Effect.Effect<number | undefined> => Effect.withFiberSucceed((fiber) => callTimeout(defaultMs, options, fiber.context))

/** The error of a call whose deadline passed. */
export const deadlineError = (ms: number) =>
  ConnectError.make("deadline_exceeded", `the call exceeded its deadline of ${ms}ms`)

/**
 * A failure that is really the deadline: the server reset the stream (`canceled`) once the deadline had
 * passed. Servers such as grpc-go answer their own expiry with RST_STREAM CANCEL, which can arrive before
 * the local timer fires when the event loop is busy.
 */
const asDeadline = <E>(error: E, timeoutMs: number, clock: Clock.Clock, start: number): E | ConnectError.ConnectError =>
  ConnectError.isConnectError(error) && error.code === "canceled" && clock.currentTimeMillisUnsafe() - start >= timeoutMs - 1
    ? deadlineError(timeoutMs)
    : error

/**
 * Bounds a streaming call by its deadline (`undefined`: no deadline), counted on `clock` (the
 * calling fiber's).
 */
export const deadlineStream = <A, E>(
  stream: Stream.Stream<A, E>,
  timeoutMs: number | undefined,
  clock: Clock.Clock
): Stream.Stream<A, E | ConnectError.ConnectError> => {
  if (timeoutMs === undefined) return stream
  const start = clock.currentTimeMillisUnsafe()
  return Stream.interruptWhen(
    Stream.mapError(stream, (e) => asDeadline(e, timeoutMs, clock, start)),
    Effect.flatMap(Effect.sleep(timeoutMs), () => Effect.fail(deadlineError(timeoutMs)))
  )
}

/** Bounds a unary call by its deadline (`undefined`: no deadline), counted on `clock` (the calling fiber's). */
export const deadlineEffect = <A, E>(
  effect: Effect.Effect<A, E>,
  timeoutMs: number | undefined,
  clock: Clock.Clock
): Effect.Effect<A, E | ConnectError.ConnectError> => {
  if (timeoutMs === undefined) return effect
  const start = clock.currentTimeMillisUnsafe()
  return Effect.timeoutOrElse(Effect.mapError(effect, (e) => asDeadline(e, timeoutMs, clock, start)), {
    duration: timeoutMs,
    orElse: () => Effect.fail(deadlineError(timeoutMs))
  })
}

/** Joins chunks into one buffer (no copy for a single chunk). */
export const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(size)
  let o = 0
  for (const c of chunks) {
    out.set(c, o)
    o += c.byteLength
  }
  return out
}

/** Reads a whole body, failing with `resource_exhausted` as soon as it grows past `maxBytes`. */
export const readAll = (
  body: Stream.Stream<Uint8Array, ConnectError.ConnectError>,
  maxBytes: number
): Effect.Effect<Uint8Array, ConnectError.ConnectError> =>
  Effect.map(
    Stream.runFoldEffect(body, () => ({ chunks: [] as Array<Uint8Array>, size: 0 }), (acc, chunk) => {
      acc.size += chunk.byteLength
      if (acc.size > maxBytes) {
        return Effect.fail(
          ConnectError.make("resource_exhausted", `message size ${acc.size} is larger than configured max ${maxBytes}`)
        )
      }
      acc.chunks.push(chunk)
      return Effect.succeed(acc)
    }),
    ({ chunks, size }) => concat(chunks, size)
  )

/**
 * Room a whole-body read allows past `readMaxBytes`: a compressed message may be a little larger
 * than its content, and a gRPC-Web body carries its trailer frame.
 */
export const BODY_HEADROOM = 64 * 1024

/**
 * The whole body of a response, read up to `limit` (`readMaxBytes` and room for framing); when it
 * is too large, the error names `readMaxBytes`.
 */
export const readResponseBody = (
  response: ClientResponse,
  limit: number,
  readMaxBytes: number
): Effect.Effect<Uint8Array, ConnectError.ConnectError> =>
  namingReadMax(response.readAll !== undefined ? response.readAll(limit) : readAll(response.body, limit), readMaxBytes)

/** The URL of a method under a base URL. */
export const methodUrl = (baseUrl: string, method: DescMethod) =>
  `${baseUrl.endsWith("/") ? baseUrl.slice(0, -1) : baseUrl}/${method.parent.typeName}/${method.name}`

/** Headers and trailers in one set, for an error's metadata. */
export const mergeMeta = (headers: Headers, trailers: Headers) => {
  const m = new Headers(headers)
  trailers.forEach((v, k) => m.append(k, v))
  return m
}

/**
 * Frames a client's request stream: each chunk of messages becomes one buffer of envelopes,
 * compressed per message when configured.
 */
export const requestFrames = (
  requests: Stream.Stream<unknown, ConnectError.ConnectError>,
  config: ClientConfig,
  method: DescMethod
): Stream.Stream<Uint8Array, ConnectError.ConnectError> =>
  Stream.mapArrayEffect(requests, (messages) =>
    frameMessages(config.codec, method.input, messages, config.sendCompression, config, asChunk))

const asChunk = (bytes: Uint8Array) => Effect.succeed([bytes] as const)

// -----------------------------------------------------------------------------
// the client side of a protocol, and the call driver every protocol shares
// -----------------------------------------------------------------------------

/** What the client side of a protocol does for one call, inside the interceptors. */
export interface ClientProtocol {
  readonly name: ProtocolName
  /** Sends a unary request and reads the whole response. */
  readonly unary: (
    http: HttpClient["Service"],
    config: ClientConfig,
    request: UnaryRequest,
    timeoutMs: number | undefined,
    options: CallOptions | undefined
  ) => Effect.Effect<UnaryResponse, ConnectError.ConnectError>
  /**
   * Sends a streaming request and succeeds with the response headers and the stream of
   * messages, which lives in the call's scope.
   */
  readonly stream: (
    http: HttpClient["Service"],
    config: ClientConfig,
    request: StreamRequest,
    timeoutMs: number | undefined,
    options: CallOptions | undefined
  ) => Effect.Effect<StreamResponse, ConnectError.ConnectError, Scope.Scope>
}
