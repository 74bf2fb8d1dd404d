/**
 * The client side of gRPC and gRPC-Web.
 */
import type { DescMethod, Message } from "@bufbuild/protobuf"
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { CallOptions } from "../CallOptions.ts"
import * as Code from "../Code.ts"
import type { Compression } from "../Compression.ts"
import * as ConnectError from "../ConnectError.ts"
import * as Envelope from "../Envelope.ts"
import type { ClientResponse, HttpClient } from "../Http.ts"
import type { ClientRequestInfo, StreamResponse, UnaryResponse } from "../Interceptor.ts"
import {
  BODY_HEADROOM,
  type ClientConfig,
  type ClientProtocol,
  mergeMeta,
  readResponseBody,
  requestFrames
} from "../protocol/client.ts"
import { responseCompression as findResponseCompression, setAcceptEncoding } from "../protocol/compressionNegotiation.ts"
import { frameMessage, readEnvelope, readEnvelopes, splitEnvelopes, tryEffect } from "../protocol/pipeline.ts"
import * as GrpcStatus from "./status.ts"
import { decodeBinaryHeader, decodeMessageHeader, formatTimeout, parseContentType, trailersFromWebFrame } from "./wire.ts"

/**
 * Reads the status from trailers (or from the headers of a trailers-only response).
 * Returns `undefined` for OK; a ConnectError otherwise; throws when `grpc-status` is missing.
 *
 * @category decoding
 * @since 0.1.0
 */
export const errorFromTrailers = (
  trailers: Headers,
  headers: Headers
): ConnectError.ConnectError | undefined => {
  const status = trailers.get("grpc-status")
  if (status === null) {
    return ConnectError.make("internal", "protocol error: missing grpc-status in trailers", {
      metadata: mergeMeta(headers, trailers)
    })
  }
  const n = /^[0-9]+$/.test(status) ? Number(status) : NaN
  if (n === 0) return undefined
  const message = decodeMessageHeader(trailers.get("grpc-message") ?? "")
  let code: Code.Code = Number.isNaN(n) ? "unknown" : Code.fromGrpcNumber(n) ?? "unknown"
  let details: ReadonlyArray<ConnectError.ErrorDetail> | undefined
  const bin = trailers.get("grpc-status-details-bin")
  let detailMessage = message
  if (bin !== null) {
    try {
      const decoded = GrpcStatus.decode(decodeBinaryHeader(bin))
      details = decoded.details
      // when the details disagree with grpc-status, grpc-status wins: only the details and message are used
      if (message === "" && decoded.message !== "") detailMessage = decoded.message
    } catch {
      code = "internal"
      detailMessage = "protocol error: invalid grpc-status-details-bin"
    }
  }
  const meta = new Headers()
  const strip = (h: Headers) =>
    h.forEach((v, k) => {
      if (k !== "grpc-status" && k !== "grpc-message" && k !== "grpc-status-details-bin") meta.append(k, v)
    })
  strip(headers)
  strip(trailers)
  return ConnectError.make(code, detailMessage, { metadata: meta, details })
}

const userHeadersOf = (headers: Headers): Headers => {
  const out = new Headers()
  headers.forEach((v, k) => {
    if (k !== "grpc-status" && k !== "grpc-message" && k !== "grpc-status-details-bin") out.append(k, v)
  })
  return out
}

/**
 * The response of a unary call as interceptors see it: its headers are built on first read (most
 * calls have no interceptor, and each `Headers` costs about a microsecond).
 */
const unaryResponse = (source: Headers, trailers: Headers | undefined, message: unknown): UnaryResponse => {
  let headers: Headers | undefined
  let userTrailers: Headers | undefined
  return {
    stream: false,
    get headers() {
      return (headers ??= userHeadersOf(source))
    },
    get trailers() {
      return (userTrailers ??= trailers === undefined ? new Headers() : userHeadersOf(trailers))
    },
    // decoded with `method.output` by `readEnvelope`, which types what it decodes as `unknown`
    message: message as Message
  }
}

/**
 * Sends a gRPC or gRPC-Web request: the request headers, then `body`; checks the response
 * headers and hands the response and its compression to `read`.
 */
const exchange = <A, R>(
  http: HttpClient["Service"],
  config: ClientConfig,
  web: boolean,
  request: ClientRequestInfo,
  timeoutMs: number | undefined,
  options: CallOptions | undefined,
  body: Uint8Array | Stream.Stream<Uint8Array, ConnectError.ConnectError>,
  read: (response: ClientResponse, compression: Compression | undefined) => Effect.Effect<A, ConnectError.ConnectError, R>
): Effect.Effect<A, ConnectError.ConnectError, R | Scope.Scope> => {
  const compression = config.sendCompression
  const h = new Headers()
  request.headers.forEach((v, k) => h.append(k, v))
  h.set("content-type", `${web ? "application/grpc-web" : "application/grpc"}+${config.codec.name}`)
  if (!web) h.set("te", "trailers")
  if (timeoutMs !== undefined) h.set("grpc-timeout", formatTimeout(timeoutMs))
  if (compression !== undefined) h.set("grpc-encoding", compression.name)
  setAcceptEncoding(h, "grpc-accept-encoding", config.compressions)
  return Effect.flatMap(http.request({ method: "POST", url: request.url, headers: h, body }), (response) => {
    const onHeaders = options?.onHeaders
    if (onHeaders !== undefined) onHeaders(userHeadersOf(response.headers))
    const fail = (error: ConnectError.ConnectError, trailers: Headers = new Headers()) => {
      options?.onTrailers?.(trailers)
      return Effect.fail(error)
    }
    if (response.status !== 200) {
      return fail(ConnectError.make(Code.fromHttpStatus(response.status), `HTTP ${response.status}`, {
        metadata: response.headers
      }))
    }
    const ct = parseContentType(response.headers.get("content-type"))
    if (ct === undefined || ct.web !== web) {
      return fail(ConnectError.make(
        "unknown",
        `protocol error: unexpected content-type ${JSON.stringify(response.headers.get("content-type"))}`,
        { metadata: response.headers }
      ))
    }
    if (ct.codec !== config.codec.name) {
      return fail(ConnectError.make(
        "internal",
        `protocol error: unexpected content-type ${JSON.stringify(response.headers.get("content-type"))}`,
        { metadata: response.headers }
      ))
    }
    let responseCompression: Compression | undefined
    try {
      responseCompression = findResponseCompression(response.headers.get("grpc-encoding"), config.compressions)
    } catch (e) {
      return fail(ConnectError.from(e, "internal"))
    }
    return read(response, responseCompression)
  })
}

/** The client side of gRPC (`web: false`) or gRPC-Web (`web: true`). */
const clientProtocol = (web: boolean): ClientProtocol => ({
  name: web ? "grpc-web" : "grpc",
  // a unary request is one envelope: encoded up front and sent as one buffer (no body stream),
  // and the response is read whole, without a Stream
  unary: (http, config, request, timeoutMs, options) =>
    Effect.suspend(() =>
      frameMessage(config.codec, request.method.input, request.message, config.sendCompression, config, (body) =>
        Effect.scoped(exchange(http, config, web, request, timeoutMs, options, body, (response, compression) =>
          readUnaryResponse(response, config, web, request.method, compression, options))))
    ),
  stream: (http, config, request, timeoutMs, options) =>
    Effect.suspend(() =>
      exchange(http, config, web, request, timeoutMs, options, requestFrames(request.messages, config, request.method), (response, compression) => {
        const trailers = new Headers()
        const messages = readResponse(response.body, response.trailers, config, web, request.method, compression, response.headers, trailers, options)
        return Effect.succeed<StreamResponse>({ stream: true, headers: userHeadersOf(response.headers), trailers, messages })
      })
    )
})

/** The client side of gRPC. */
export const grpcClient: ClientProtocol = clientProtocol(false)

/** The client side of gRPC-Web. */
export const grpcWebClient: ClientProtocol = clientProtocol(true)

/**
 * Reads the envelopes of one response: each becomes an effect giving its decoded message, or
 * `undefined` for a gRPC-Web trailer frame (parsed into `webTrailers`). One per call.
 */
class ResponseReader {
  readonly web: boolean
  readonly compression: Compression | undefined
  readonly config: ClientConfig
  readonly method: DescMethod
  webTrailers: Headers | undefined = undefined
  /** Set when the trailer frame is seen (its parse runs later, so `webTrailers` lags). */
  sawTrailerFrame = false
  constructor(web: boolean, compression: Compression | undefined, config: ClientConfig, method: DescMethod) {
    this.web = web
    this.compression = compression
    this.config = config
    this.method = method
  }
  /** Pushes what each envelope becomes onto `out`; returns the protocol error that stops the read, if any. */
  read(
    envelopes: ReadonlyArray<Envelope.Envelope>,
    out: Array<Effect.Effect<unknown, ConnectError.ConnectError>>
  ): ConnectError.ConnectError | undefined {
    const config = this.config
    for (const env of envelopes) {
      if (this.sawTrailerFrame) return ConnectError.make("internal", "protocol error: received data after the trailer frame")
      let item: Effect.Effect<unknown, ConnectError.ConnectError> | ConnectError.ConnectError
      if (this.web && (env.flags & Envelope.FLAG_TRAILERS) !== 0) {
        this.sawTrailerFrame = true
        item = this.trailerFrame(env)
      } else {
        item = readEnvelope(env, this.compression, config.codec, this.method.output, config.readMaxBytes, "client", "grpc-encoding")
      }
      if (ConnectError.isConnectError(item)) return item
      out.push(item)
    }
    return undefined
  }
  private trailerFrame(env: Envelope.Envelope): Effect.Effect<undefined, ConnectError.ConnectError> {
    const parse = (data: Uint8Array) =>
      tryEffect(() => {
        this.webTrailers = trailersFromWebFrame(data)
        return undefined
      })
    return (env.flags & Envelope.FLAG_COMPRESSED) !== 0 && this.compression !== undefined
      ? Effect.flatMap(this.compression.decompress(env.data, this.config.readMaxBytes), parse)
      : parse(env.data)
  }
}

const readResponse = (
  body: Stream.Stream<Uint8Array, ConnectError.ConnectError>,
  httpTrailers: Effect.Effect<Headers>,
  config: ClientConfig,
  web: boolean,
  method: DescMethod,
  compression: Compression | undefined,
  headers: Headers,
  received: Headers,
  options: CallOptions | undefined
): Stream.Stream<Message, ConnectError.ConnectError> =>
  Stream.transformPull(readEnvelopes("client", config.readMaxBytes)(body), (upstream) =>
    Effect.sync(() => {
      const reader = new ResponseReader(web, compression, config, method)
      const finish = (trailers: Headers, only = false): Effect.Effect<never, ConnectError.ConnectError | Cause.Done> => {
        const user = userHeadersOf(trailers)
        user.forEach((v, k) => received.append(k, v))
        options?.onTrailers?.(user)
        const error = errorFromTrailers(trailers, only ? new Headers() : headers)
        return error === undefined ? Cause.done() : Effect.fail(error)
      }
      let sawData = false
      // a "trailers-only" response carries the status in its headers, and nothing else
      const trailersOnly = () => !sawData && headers.has("grpc-status")
      const onDone = (): Effect.Effect<never, ConnectError.ConnectError | Cause.Done> => {
        if (web) {
          const webTrailers = reader.webTrailers
          if (webTrailers === undefined && trailersOnly()) return finish(headers, true)
          if (webTrailers === undefined) {
            options?.onTrailers?.(new Headers())
            return Effect.fail(ConnectError.make("internal", "protocol error: missing gRPC-Web trailers", { metadata: headers }))
          }
          return finish(webTrailers)
        }
        return Effect.flatMap(httpTrailers, (trailers) =>
          !trailers.has("grpc-status") && trailersOnly() ? finish(headers, true) : finish(trailers))
      }
      const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<Message>, ConnectError.ConnectError> = Effect.flatMap(
        Pull.catchDone(upstream, onDone),
        (envelopes) => {
          const out: Array<Effect.Effect<unknown, ConnectError.ConnectError>> = []
          sawData = true
          const error = reader.read(envelopes, out)
          if (error !== undefined) return Effect.fail(error)
          return Effect.flatMap(Effect.all(out), (results) => {
            const messages = results.filter((r) => r !== undefined)
            return messages.length > 0 ? Effect.succeed(messages as unknown as Arr.NonEmptyReadonlyArray<Message>) : pull
          })
        }
      )
      return pull
    }))

/**
 * The response of a unary call, read whole: the body in one buffer, split into envelopes, then the
 * trailers. Errors and callbacks come in the order {@link readResponse} followed by `single` gives
 * them for a body that arrives at once: envelope checks, message decoding, "more than one
 * response", a truncated tail, the status, then "missing response".
 */
const readUnaryResponse = (
  response: ClientResponse,
  config: ClientConfig,
  web: boolean,
  method: DescMethod,
  compression: Compression | undefined,
  options: CallOptions | undefined
): Effect.Effect<UnaryResponse, ConnectError.ConnectError> => {
  const headers = response.headers
  // one message, a gRPC-Web trailer frame, and some room (errors name readMaxBytes, not this)
  const limit = config.readMaxBytes + 5 + BODY_HEADROOM
  return Effect.flatMap(readResponseBody(response, limit, config.readMaxBytes), (bytes) => {
    const envelopes: Array<Envelope.Envelope> = []
    const parser = splitEnvelopes(bytes, config.readMaxBytes, envelopes)
    if (ConnectError.isConnectError(parser)) return Effect.fail(parser)
    const sawData = envelopes.length > 0
    const pending: Array<Effect.Effect<unknown, ConnectError.ConnectError>> = []
    const reader = new ResponseReader(web, compression, config, method)
    const error = reader.read(envelopes, pending)
    if (error !== undefined) return Effect.fail(error)
    let received: Headers | undefined
    const finish = (trailers: Headers, only = false): ConnectError.ConnectError | undefined => {
      received = trailers
      options?.onTrailers?.(userHeadersOf(trailers))
      return errorFromTrailers(trailers, only ? new Headers() : headers)
    }
    const trailersOnly = () => !sawData && headers.has("grpc-status")
    const end = (messages: ReadonlyArray<unknown>): Effect.Effect<UnaryResponse, ConnectError.ConnectError> => {
      if (messages.length > 1) {
        return Effect.fail(ConnectError.make("unimplemented", "protocol error: received more than one response message"))
      }
      if (parser.pending > 0) {
        return Effect.fail(ConnectError.make(
          "internal",
          `protocol error: incomplete envelope: stream ended with ${parser.pending} unread bytes`
        ))
      }
      const done = (error: ConnectError.ConnectError | undefined): Effect.Effect<UnaryResponse, ConnectError.ConnectError> => {
        if (error !== undefined) return Effect.fail(error)
        if (messages.length === 0) {
          return Effect.fail(ConnectError.make("unimplemented", "protocol error: missing response message"))
        }
        // a trailers-only response has its status in the headers: no trailers of its own
        return Effect.succeed(unaryResponse(headers, received === headers ? undefined : received, messages[0]))
      }
      if (web) {
        const webTrailers = reader.webTrailers
        if (webTrailers === undefined && trailersOnly()) return done(finish(headers, true))
        if (webTrailers === undefined) {
          options?.onTrailers?.(new Headers())
          return Effect.fail(ConnectError.make("internal", "protocol error: missing gRPC-Web trailers", { metadata: headers }))
        }
        return done(finish(webTrailers))
      }
      return Effect.flatMap(response.trailers, (trailers) =>
        done(!trailers.has("grpc-status") && trailersOnly() ? finish(headers, true) : finish(trailers)))
    }
    if (pending.length === 1 && envelopes.length === 1 && !reader.sawTrailerFrame) {
      // the common case: one plain message
      return Effect.flatMap(pending[0]!, (message) => end([message]))
    }
    return Effect.flatMap(Effect.all(pending), (results) => end(results.filter((r) => r !== undefined)))
  })
}
