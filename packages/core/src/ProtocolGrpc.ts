/**
 * The gRPC and gRPC-Web protocols, server and client side. Both frame every message in an
 * envelope; gRPC ends with HTTP/2 trailers (`grpc-status`, `grpc-message`,
 * `grpc-status-details-bin`), gRPC-Web with a trailer frame (flag 0x80) in the body, so it also
 * works over HTTP/1.1. A failure before any message is answered "trailers-only": the status in
 * the response headers and no body.
 *
 * @since 0.1.0
 */
import type { DescMethod } from "@bufbuild/protobuf"
import { base64Decode, base64Encode } from "@bufbuild/protobuf/wire"
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import type { CallOptions } from "./CallOptions.ts"
import * as Code from "./Code.ts"
import type { Compression } from "./Compression.ts"
import * as ConnectError from "./ConnectError.ts"
import * as Envelope from "./Envelope.ts"
import type { HandlerContext } from "./HandlerContext.ts"
import type { ClientResponse, HttpClient, ResponseWriter, ServerRequest } from "./Http.ts"
import type { ClientRequestInfo, ClientResponseInfo } from "./Interceptor.ts"
import type { TransportShape } from "./Transport.ts"
import { BODY_HEADROOM, type ClientConfig, deadlineEffect, deadlineStream, effectiveTimeout, mergeMeta, methodUrl, readResponseBody, requestFrames, runInterceptors } from "./protocol/client.ts"
import { negotiate, requestCompression as findRequestCompression, responseCompression as findResponseCompression, setAcceptEncoding } from "./protocol/compressionNegotiation.ts"
import { serveEnveloped } from "./protocol/envelopedServer.ts"
import * as GrpcStatus from "./protocol-grpc/status.ts"
import { isProtocolHeader } from "./internal/headers.ts"
import { frameMessage, readEnvelope, readEnvelopes, splitEnvelopes, tryEffect } from "./protocol/pipeline.ts"
import * as Server from "./protocol/server.ts"

/** A parsed gRPC or gRPC-Web content type. */
export interface ContentType {
  readonly web: boolean
  readonly codec: "proto" | "json"
  /** The content type to answer with. */
  readonly value: string
}

/**
 * Parses `application/grpc[+proto|+json]` and `application/grpc-web[+proto|+json]`.
 * `undefined` for anything else (including unknown sub-types: the router answers 415).
 */
export const parseContentType = (value: string | null): ContentType | undefined => {
  if (value === null) return undefined
  let v = value.toLowerCase()
  const semi = v.indexOf(";")
  if (semi !== -1) v = v.slice(0, semi).trim()
  let web: boolean
  let rest: string
  if (v.startsWith("application/grpc-web")) {
    web = true
    rest = v.slice("application/grpc-web".length)
  } else if (v.startsWith("application/grpc")) {
    web = false
    rest = v.slice("application/grpc".length)
  } else return undefined
  const base = web ? "application/grpc-web" : "application/grpc"
  switch (rest) {
    case "":
    case "+proto":
      return { web, codec: "proto", value: `${base}${rest}` }
    case "+json":
      return { web, codec: "json", value: `${base}+json` }
    default:
      return undefined
  }
}

const timeoutUnits: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }

/** Parses `grpc-timeout` (1 to 8 digits and a unit H M S m u n) into milliseconds; throws on garbage. */
export const parseTimeout = (value: string | null): number | undefined => {
  if (value === null) return undefined
  const m = /^([0-9]{1,8})([HMSmun])$/.exec(value)
  if (m === null) {
    throw ConnectError.make("invalid_argument", `protocol error: invalid grpc-timeout: ${JSON.stringify(value)}`)
  }
  return Number(m[1]) * timeoutUnits[m[2]!]!
}

/** Formats a timeout in milliseconds as `grpc-timeout` (at most 8 digits). */
export const formatTimeout = (ms: number): string => {
  if (ms < 1e8) return `${Math.max(0, Math.ceil(ms))}m`
  const s = Math.ceil(ms / 1000)
  if (s < 1e8) return `${s}S`
  const min = Math.ceil(s / 60)
  if (min < 1e8) return `${min}M`
  return `${Math.min(99_999_999, Math.ceil(min / 60))}H`
}

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()

/**
 * Percent-encodes a `grpc-message` value (bytes outside printable ASCII, and `%`). A leading or
 * trailing space is encoded too: header values are trimmed on the way (fetch `Headers` does), and
 * the message must come back as it was.
 */
export const encodeMessageHeader = (message: string): string => {
  let out = ""
  const bytes = utf8.encode(message)
  const last = bytes.length - 1
  for (let i = 0; i <= last; i++) {
    const b = bytes[i]!
    if (b >= 0x20 && b <= 0x7e && b !== 0x25 && !(b === 0x20 && (i === 0 || i === last))) out += String.fromCharCode(b)
    else out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return out
}

/** Decodes a percent-encoded `grpc-message`; invalid escapes are kept as they are. */
export const decodeMessageHeader = (value: string): string => {
  if (!value.includes("%")) return value
  const bytes: Array<number> = []
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x25 && i + 2 < value.length + 0 && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      for (const b of utf8.encode(value[i]!)) bytes.push(b)
    }
  }
  return utf8Decoder.decode(new Uint8Array(bytes))
}

/** Encodes a `-bin` header value: unpadded base64. */
export const encodeBinaryHeader = (bytes: Uint8Array): string => base64Encode(bytes, "std_raw")

/** Decodes a `-bin` header value (padded or not). */
export const decodeBinaryHeader = (value: string): Uint8Array => base64Decode(value)

/** The status trailers of a call (`grpc-status` 0 when `error` is undefined). */
export const statusTrailers = (error: ConnectError.ConnectError | undefined, trailers: Headers | undefined): Headers => {
  const out = new Headers()
  Server.addUserHeaders(out, trailers)
  if (error === undefined) {
    out.set("grpc-status", "0")
    return out
  }
  if (error.metadata !== undefined) Server.addUserHeaders(out, error.metadata)
  out.set("grpc-status", String(Code.toGrpcNumber(error.code)))
  if (error.message !== "") out.set("grpc-message", encodeMessageHeader(error.message))
  if (error.details !== undefined && error.details.length > 0) {
    out.set(
      "grpc-status-details-bin",
      encodeBinaryHeader(GrpcStatus.encode({ code: Code.toGrpcNumber(error.code), message: error.message, details: error.details }))
    )
  }
  return out
}

/** Serializes trailers as a gRPC-Web trailer frame payload. */
export const trailersToWebFrame = (trailers: Headers): Uint8Array => {
  let s = ""
  trailers.forEach((value, key) => {
    s += `${key}: ${value}\r\n`
  })
  return utf8.encode(s)
}

/** Parses a gRPC-Web trailer frame payload; throws `internal` on a malformed block. */
export const trailersFromWebFrame = (data: Uint8Array): Headers => {
  const out = new Headers()
  const text = utf8Decoder.decode(data)
  for (const line of text.split("\r\n")) {
    if (line === "") continue
    const i = line.indexOf(":")
    if (i <= 0) throw ConnectError.make("internal", `protocol error: invalid gRPC-Web trailer line ${JSON.stringify(line)}`)
    try {
      out.append(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim())
    } catch {
      throw ConnectError.make("internal", `protocol error: invalid gRPC-Web trailer line ${JSON.stringify(line)}`)
    }
  }
  return out
}

// -----------------------------------------------------------------------------
// server
// -----------------------------------------------------------------------------

const hasUserHeaders = (headers: Headers | undefined): boolean => {
  let found = false
  headers?.forEach((_, key) => {
    if (!isProtocolHeader(key)) found = true
  })
  return found
}

/** Serves one gRPC or gRPC-Web request on a route. */
export const serve = (
  route: Server.Route,
  request: ServerRequest,
  writer: ResponseWriter,
  config: Server.ServerConfig,
  contentType: ContentType
): Effect.Effect<void, never, any> => {
  const web = contentType.web
  const protocol = web ? "grpc-web" : "grpc"
  const trailersOnly = (error: ConnectError.ConnectError, ctx: HandlerContext | undefined) => {
    const h = new Headers()
    h.set("content-type", contentType.value)
    setAcceptEncoding(h, "grpc-accept-encoding", config.compressions)
    Server.addUserHeaders(h, Server.sentHeaders(ctx))
    statusTrailers(error, Server.sentTrailers(ctx)).forEach((v, k) => h.append(k, v))
    writer.head(200, h, new Uint8Array(0))
  }
  let timeoutMs: number | undefined
  let requestCompression: Compression | undefined
  let responseCompression: Compression | undefined
  try {
    timeoutMs = parseTimeout(Server.requestHeader(request, "grpc-timeout"))
    requestCompression = findRequestCompression(Server.requestHeader(request, "grpc-encoding"), config.compressions)
    responseCompression = negotiate(Server.requestHeader(request, "grpc-accept-encoding"), config.compressions)
  } catch (e) {
    return Effect.sync(() => trailersOnly(ConnectError.from(e, "internal"), undefined))
  }
  return serveEnveloped(route, request, writer, config, {
    protocol,
    codec: contentType.codec === "proto" ? config.proto : config.json,
    timeoutMs,
    requestCompression,
    responseCompression,
    endFlag: web ? Envelope.FLAG_TRAILERS : 0,
    headers: () => {
      const h = new Headers()
      h.set("content-type", contentType.value)
      if (responseCompression !== undefined) h.set("grpc-encoding", responseCompression.name)
      setAcceptEncoding(h, "grpc-accept-encoding", config.compressions)
      return h
    },
    finish: (error, ctx, headersSent) =>
      Effect.suspend(() => {
        // trailers-only when there is nothing else to say; with response headers set, send them
        // as headers (gRPC clients read a trailers-only block as trailers)
        if (!headersSent && error !== undefined && !hasUserHeaders(Server.sentHeaders(ctx))) {
          trailersOnly(error, ctx)
          return Effect.void
        }
        if (!headersSent) {
          const h = new Headers()
          h.set("content-type", contentType.value)
          setAcceptEncoding(h, "grpc-accept-encoding", config.compressions)
          Server.addUserHeaders(h, Server.sentHeaders(ctx))
          writer.head(200, h)
        }
        const trailers = statusTrailers(error, Server.sentTrailers(ctx))
        if (!web) {
          writer.end(trailers)
          return Effect.void
        }
        return Effect.map(
          writer.write(Envelope.encode(Envelope.FLAG_TRAILERS, trailersToWebFrame(trailers))),
          () => writer.end()
        )
      })
  })
}

// -----------------------------------------------------------------------------
// client
// -----------------------------------------------------------------------------

/** A resolved client configuration (one type for every protocol). */
export type { ClientConfig }

/**
 * Reads the status from trailers (or from the headers of a trailers-only response).
 * Returns `undefined` for OK; a ConnectError otherwise; throws when `grpc-status` is missing.
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

/** Performs a call of any kind over gRPC or gRPC-Web; unary calls are a stream of one. */
export const streamCall = <E>(
  http: HttpClient["Service"],
  config: ClientConfig,
  web: boolean,
  method: DescMethod,
  requests: Stream.Stream<unknown, E>,
  options: CallOptions | undefined
): Stream.Stream<unknown, ConnectError.ConnectError | E> =>
  Stream.unwrap(Effect.map(effectiveTimeout(config, options), (timeoutMs) =>
    makeCall(http, config, web, method, requests, options, timeoutMs, undefined).stream())) as Stream.Stream<
      unknown,
      ConnectError.ConnectError | E
    >

/**
 * What client interceptors see of a response: built on first read (most calls have no
 * interceptor, and each `Headers` costs about a microsecond).
 */
class ResponseInfo implements ClientResponseInfo {
  #headers: Headers | undefined
  #trailers: Headers | undefined
  readonly #source: Headers
  constructor(source: Headers) {
    this.#source = source
  }
  get headers(): Headers {
    return (this.#headers ??= userHeadersOf(this.#source))
  }
  get trailers(): Headers {
    return (this.#trailers ??= new Headers())
  }
}

/** Performs a unary call over gRPC or gRPC-Web: one buffer out, the whole response read without a Stream. */
export const unaryCall = (
  http: HttpClient["Service"],
  config: ClientConfig,
  web: boolean,
  method: DescMethod,
  request: unknown,
  options: CallOptions | undefined
): Effect.Effect<unknown, ConnectError.ConnectError> =>
  Effect.flatMap(effectiveTimeout(config, options), (timeoutMs) =>
    makeCall(http, config, web, method, Stream.empty, options, timeoutMs, { message: request }).unary())

/**
 * One call's request side and exchange, shared by streaming and unary calls: `stream` reads the
 * response as a Stream, `unary` (with `unaryRequest`) reads it whole.
 */
const makeCall = <E>(
  http: HttpClient["Service"],
  config: ClientConfig,
  web: boolean,
  method: DescMethod,
  requests: Stream.Stream<unknown, E>,
  options: CallOptions | undefined,
  timeoutMs: number | undefined,
  unaryRequest: { readonly message: unknown } | undefined
): {
  readonly stream: () => Stream.Stream<unknown, ConnectError.ConnectError | E>
  readonly unary: () => Effect.Effect<unknown, ConnectError.ConnectError>
} => {
  const url = methodUrl(config.baseUrl, method)
  const headers = new Headers(options?.headers)
  const info: ClientRequestInfo = { method, url, headers }
  const compression = config.sendCompression
  let requestError: { readonly error: E } | undefined
  const frames = unaryRequest !== undefined ? Stream.empty : requestFrames(requests, config, method, (e) => {
    requestError = { error: e }
  })
  const base = web ? "application/grpc-web" : "application/grpc"
  const contentType = `${base}+${config.codec.name}`
  let responseStream: Stream.Stream<unknown, ConnectError.ConnectError> | undefined
  let unaryResponse: Effect.Effect<unknown, ConnectError.ConnectError> | undefined
  const exchange = Effect.suspend(() => {
    const h = new Headers()
    headers.forEach((v, k) => h.append(k, v))
    h.set("content-type", contentType)
    if (!web) h.set("te", "trailers")
    if (timeoutMs !== undefined) h.set("grpc-timeout", formatTimeout(timeoutMs))
    if (compression !== undefined) h.set("grpc-encoding", compression.name)
    setAcceptEncoding(h, "grpc-accept-encoding", config.compressions)
    const send = (body: Uint8Array | Stream.Stream<Uint8Array, ConnectError.ConnectError>) =>
      Effect.flatMap(http.request({ method: "POST", url, headers: h, body }), (response) => {
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
        if (unaryRequest !== undefined) {
          unaryResponse = readUnaryResponse(response, config, web, method, responseCompression, options)
        } else {
          responseStream = readResponse(response.body, response.trailers, config, web, method, responseCompression, response.headers, options)
        }
        return Effect.succeed<ClientResponseInfo>(new ResponseInfo(response.headers))
      })
    if (unaryRequest === undefined) return send(frames)
    // a unary request is one envelope: encoded up front and sent as one buffer (no body stream)
    return frameMessage(config.codec, method.input, unaryRequest.message, compression, config, send)
  })
  const eff = runInterceptors(config.interceptors, info, exchange as Effect.Effect<ClientResponseInfo, ConnectError.ConnectError>)
  return {
    stream: () => {
      const result = Stream.catchCause(
        Stream.unwrap(Effect.map(eff, () => responseStream!)),
        (cause): Stream.Stream<never, ConnectError.ConnectError | E> =>
          requestError !== undefined ? Stream.fail(requestError.error) : Stream.failCause(cause)
      )
      return deadlineStream(result, timeoutMs)
    },
    unary: () => deadlineEffect(Effect.scoped(Effect.flatMap(eff, () => unaryResponse!)), timeoutMs)
  }
}

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
  options: CallOptions | undefined
): Stream.Stream<unknown, ConnectError.ConnectError> =>
  Stream.transformPull(readEnvelopes("client", config.readMaxBytes)(body), (upstream) =>
    Effect.sync(() => {
      const reader = new ResponseReader(web, compression, config, method)
      const finish = (trailers: Headers, only = false): Effect.Effect<never, ConnectError.ConnectError | Cause.Done> => {
        options?.onTrailers?.(userHeadersOf(trailers))
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
      const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<unknown>, ConnectError.ConnectError> = Effect.flatMap(
        Pull.catchDone(upstream, onDone),
        (envelopes) => {
          const out: Array<Effect.Effect<unknown, ConnectError.ConnectError>> = []
          sawData = true
          const error = reader.read(envelopes, out)
          if (error !== undefined) return Effect.fail(error)
          return Effect.flatMap(Effect.all(out), (results) => {
            const messages = results.filter((r) => r !== undefined)
            return messages.length > 0 ? Effect.succeed(messages as unknown as Arr.NonEmptyReadonlyArray<unknown>) : pull
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
): Effect.Effect<unknown, ConnectError.ConnectError> => {
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
    const finish = (trailers: Headers, only = false): ConnectError.ConnectError | undefined => {
      options?.onTrailers?.(userHeadersOf(trailers))
      return errorFromTrailers(trailers, only ? new Headers() : headers)
    }
    const trailersOnly = () => !sawData && headers.has("grpc-status")
    const end = (messages: ReadonlyArray<unknown>): Effect.Effect<unknown, ConnectError.ConnectError> => {
      if (messages.length > 1) {
        return Effect.fail(ConnectError.make("unimplemented", "protocol error: received more than one response message"))
      }
      if (parser.pending > 0) {
        return Effect.fail(ConnectError.make(
          "internal",
          `protocol error: incomplete envelope: stream ended with ${parser.pending} unread bytes`
        ))
      }
      const done = (error: ConnectError.ConnectError | undefined): Effect.Effect<unknown, ConnectError.ConnectError> => {
        if (error !== undefined) return Effect.fail(error)
        if (messages.length === 0) {
          return Effect.fail(ConnectError.make("unimplemented", "protocol error: missing response message"))
        }
        return Effect.succeed(messages[0])
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

/** Builds a gRPC (`web: false`) or gRPC-Web (`web: true`) `Transport` over an `HttpClient`. */
export const makeTransport = (http: HttpClient["Service"], config: ClientConfig, web: boolean): TransportShape => ({
  unary: (method, request, options) => unaryCall(http, config, web, method, request, options),
  stream: (method, requests, options) => streamCall(http, config, web, method, requests, options)
})
