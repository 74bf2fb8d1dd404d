/**
 * The Connect protocol (https://connectrpc.com/docs/protocol), server and client side:
 * unary POST and GET, streaming with envelopes and the end-stream message, error JSON,
 * `trailer-` prefixed unary trailers, timeouts and compression negotiation.
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
import type { HttpClient } from "./Http.ts"
import type { ClientRequestInfo, ClientResponseInfo } from "./Interceptor.ts"
import type { TransportShape } from "./Transport.ts"
import * as Code from "./Code.ts"
import type { Codec } from "./Codec.ts"
import type { Compression } from "./Compression.ts"
import * as ConnectError from "./ConnectError.ts"
import * as Envelope from "./Envelope.ts"
import type { HandlerContext } from "./HandlerContext.ts"
import type { ResponseWriter, ServerRequest } from "./Http.ts"
import { appendAll } from "./internal/headers.ts"
import * as Server from "./protocol/server.ts"
import { BODY_HEADROOM, type ClientConfig, deadlineEffect, deadlineStream, effectiveTimeout, mergeMeta, methodUrl, readAll, readResponseBody, requestFrames, runInterceptors } from "./protocol/client.ts"
import { negotiate, requestCompression as findRequestCompression, responseCompression as findResponseCompression, setAcceptEncoding } from "./protocol/compressionNegotiation.ts"
import { addUserHeaders } from "./protocol/server.ts"
import { serveEnveloped } from "./protocol/envelopedServer.ts"
import { decodeMessage, readEnvelope, readEnvelopes, writePayload } from "./protocol/pipeline.ts"

/** The protocol version this module speaks. */
export const PROTOCOL_VERSION = "1"

// -----------------------------------------------------------------------------
// error JSON and end-stream JSON (both directions)
// -----------------------------------------------------------------------------

/** The wire form of an error (the body of a unary error, the `error` of an end-stream message). */
export interface ErrorJson {
  code: string
  message?: string
  details?: Array<{ type: string; value: string; debug?: unknown }>
}

/** Serializes an error to its JSON object. */
export const errorToJson = (error: ConnectError.ConnectError): ErrorJson => {
  const out: ErrorJson = { code: error.code }
  if (error.message !== "") out.message = error.message
  if (error.details !== undefined && error.details.length > 0) {
    out.details = error.details.map((d) => {
      const detail: { type: string; value: string; debug?: unknown } = {
        type: d.type,
        value: base64Encode(d.value, "std_raw")
      }
      if (d.debug !== undefined) detail.debug = d.debug
      return detail
    })
  }
  return out
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/**
 * Parses an error JSON object. Returns `undefined` when the value is not a valid
 * Connect error (no or unknown `code`), so the caller can fall back to the HTTP status.
 */
export const errorFromJson = (value: unknown, metadata: Headers | undefined): ConnectError.ConnectError | undefined => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  const v = value as Record<string, unknown>
  if (!Code.isCode(v.code)) return undefined
  const message = typeof v.message === "string" ? v.message : ""
  const details: Array<ConnectError.ErrorDetail> = []
  if (Array.isArray(v.details)) {
    for (const d of v.details) {
      if (typeof d !== "object" || d === null) continue
      const { type, value: data, debug } = d as Record<string, unknown>
      if (typeof type !== "string" || typeof data !== "string") continue
      try {
        details.push({ type: type.replace(/^type\.googleapis\.com\//, ""), value: base64Decode(data), ...(debug !== undefined ? { debug } : {}) })
      } catch {
        // skip a detail whose value is not base64
      }
    }
  }
  return ConnectError.make(v.code, message, { metadata, details })
}

const headersToJson = (headers: Headers): Record<string, Array<string>> => {
  const out: Record<string, Array<string>> = {}
  headers.forEach((value, key) => {
    // Headers joins repeated values; set-cookie is the only one it keeps apart.
    out[key] = key === "set-cookie" ? headers.getSetCookie() : value.split(", ")
  })
  return out
}

/** Encodes the end-stream message payload. */
export const endStreamToJson = (error: ConnectError.ConnectError | undefined, trailers: Headers): Uint8Array => {
  const body: { error?: ErrorJson; metadata?: Record<string, Array<string>> } = {}
  if (error !== undefined) body.error = errorToJson(error)
  const meta = headersToJson(trailers)
  if (Object.keys(meta).length > 0) body.metadata = meta
  return textEncoder.encode(JSON.stringify(body))
}

/** Parses an end-stream message payload into trailers and an optional error. */
export const endStreamFromJson = (
  data: Uint8Array
): { readonly trailers: Headers; readonly error: ConnectError.ConnectError | undefined } => {
  let parsed: unknown
  try {
    parsed = JSON.parse(textDecoder.decode(data))
  } catch {
    throw ConnectError.make("internal", "protocol error: invalid end-stream message: not JSON")
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw ConnectError.make("internal", "protocol error: invalid end-stream message")
  }
  const trailers = new Headers()
  const meta = (parsed as Record<string, unknown>).metadata
  if (meta !== undefined && meta !== null) {
    if (typeof meta !== "object" || Array.isArray(meta)) {
      throw ConnectError.make("internal", "protocol error: invalid end-stream metadata")
    }
    for (const [key, values] of Object.entries(meta)) {
      if (!Array.isArray(values)) throw ConnectError.make("internal", "protocol error: invalid end-stream metadata")
      for (const v of values) {
        if (typeof v !== "string") throw ConnectError.make("internal", "protocol error: invalid end-stream metadata")
        try {
          trailers.append(key, v)
        } catch {
          // not a valid header name or value
          throw ConnectError.make("internal", "protocol error: invalid end-stream metadata")
        }
      }
    }
  }
  const errorValue = (parsed as Record<string, unknown>).error
  let error: ConnectError.ConnectError | undefined
  if (errorValue !== undefined && errorValue !== null) {
    error = errorFromJson(errorValue, trailers)
    if (error === undefined) {
      const message = typeof errorValue === "object" && typeof (errorValue as { message?: unknown }).message === "string"
        ? (errorValue as { message: string }).message
        : "protocol error: invalid error in end-stream message"
      error = ConnectError.make("unknown", message, { metadata: trailers })
    }
  }
  return { trailers, error }
}

// -----------------------------------------------------------------------------
// content types and headers
// -----------------------------------------------------------------------------

/** A parsed Connect content type. */
export interface ContentType {
  readonly stream: boolean
  readonly codec: "proto" | "json"
}

/** Parses a Connect content type (`application/proto`, `application/connect+json; charset=utf-8`, …). */
export const parseContentType = (value: string | null): ContentType | undefined => {
  if (value === null) return undefined
  let v = value.toLowerCase()
  const semi = v.indexOf(";")
  if (semi !== -1) {
    const params = v.slice(semi + 1).trim()
    v = v.slice(0, semi).trim()
    if (params !== "" && params !== "charset=utf-8" && params !== "charset=\"utf-8\"") return undefined
  }
  switch (v) {
    case "application/proto":
      return { stream: false, codec: "proto" }
    case "application/json":
      return { stream: false, codec: "json" }
    case "application/connect+proto":
      return { stream: true, codec: "proto" }
    case "application/connect+json":
      return { stream: true, codec: "json" }
    default:
      return undefined
  }
}

/** Parses `connect-timeout-ms`: 1 to 10 digits. `undefined` when absent; throws on garbage. */
export const parseTimeout = (value: string | null): number | undefined => {
  if (value === null) return undefined
  if (!/^[0-9]{1,10}$/.test(value)) {
    throw ConnectError.make("invalid_argument", `protocol error: invalid connect-timeout-ms: ${JSON.stringify(value)}`)
  }
  return Number(value)
}

// Connect reads an empty encoding header as `identity` (hence the `|| null` below), gRPC as a name.

// -----------------------------------------------------------------------------
// server
// -----------------------------------------------------------------------------

/** Whether the router should treat a request as Connect, and if so how. */
export const classify = (request: ServerRequest): ContentType | "get" | undefined => {
  if (request.method === "GET") return "get"
  return parseContentType(Server.requestHeader(request, "content-type"))
}




const checkProtocolVersion = (request: ServerRequest, config: Server.ServerConfig) => {
  const v = Server.requestHeader(request, "connect-protocol-version")
  if (v === null) {
    if (config.requireConnectProtocolHeader) {
      throw ConnectError.make("invalid_argument", "missing required header: set connect-protocol-version to \"1\"")
    }
    return
  }
  if (v !== PROTOCOL_VERSION) {
    throw ConnectError.make("invalid_argument", `connect-protocol-version must be "1": got ${JSON.stringify(v)}`)
  }
}

const unaryHeaders = (codecName: string, compression: Compression | undefined, config: Server.ServerConfig) => {
  const h = new Headers()
  h.set("content-type", `application/${codecName}`)
  if (compression !== undefined) h.set("content-encoding", compression.name)
  setAcceptEncoding(h, "accept-encoding", config.compressions)
  return h
}

const writeUnaryError = (
  writer: ResponseWriter,
  error: ConnectError.ConnectError,
  ctx: HandlerContext | undefined,
  config: Server.ServerConfig
) => {
  const h = new Headers()
  h.set("content-type", "application/json")
  setAcceptEncoding(h, "accept-encoding", config.compressions)
  addUserHeaders(h, Server.sentHeaders(ctx))
  if (error.metadata !== undefined) addUserHeaders(h, error.metadata)
  Server.sentTrailers(ctx)?.forEach((v, k) => h.append(`trailer-${k}`, v))
  writer.head(Code.toHttpStatus(error.code), h, textEncoder.encode(JSON.stringify(errorToJson(error))))
}

/** Serves a unary Connect call (POST or GET). */
const serveUnary = (
  route: Server.Route,
  request: ServerRequest,
  writer: ResponseWriter,
  config: Server.ServerConfig,
  codecName: "proto" | "json" | undefined
): Effect.Effect<void, never, any> => {
  const method = route.method
  let ctx: HandlerContext | undefined
  const program = Effect.suspend(() => {
    let timeoutMs: number | undefined
    let requestCompression: Compression | undefined
    let codec: Codec
    let bodyEffect: Effect.Effect<Uint8Array, ConnectError.ConnectError>
    let responseCompression: Compression | undefined
    try {
      timeoutMs = parseTimeout(Server.requestHeader(request, "connect-timeout-ms"))
      if (codecName === undefined) {
        // GET
        const url = new URL(request.url, "http://localhost")
        const q = url.searchParams
        const connect = q.get("connect")
        if (connect === null) {
          if (config.requireConnectProtocolHeader) {
            throw ConnectError.make("invalid_argument", "missing required query parameter: set connect to \"v1\"")
          }
        } else if (connect !== "v1") {
          throw ConnectError.make("invalid_argument", `connect must be "v1": got ${JSON.stringify(connect)}`)
        }
        const encoding = q.get("encoding")
        if (encoding !== "proto" && encoding !== "json") {
          throw ConnectError.make("invalid_argument", `unsupported message encoding ${JSON.stringify(encoding)}`)
        }
        codec = encoding === "proto" ? config.proto : config.json
        requestCompression = findRequestCompression(q.get("compression") || null, config.compressions)
        const raw = q.get("message") ?? ""
        let bytes: Uint8Array
        if (q.get("base64") === "1") {
          try {
            bytes = base64Decode(raw)
          } catch {
            throw ConnectError.make("invalid_argument", "invalid base64 in message query parameter")
          }
        } else {
          bytes = textEncoder.encode(raw)
        }
        if (requestCompression === undefined && bytes.byteLength > config.readMaxBytes) {
          throw ConnectError.make(
            "resource_exhausted",
            `message size ${bytes.byteLength} is larger than configured max ${config.readMaxBytes}`
          )
        }
        bodyEffect = Effect.succeed(bytes)
        codecName = encoding
      } else {
        checkProtocolVersion(request, config)
        codec = codecName === "proto" ? config.proto : config.json
        requestCompression = findRequestCompression(Server.requestHeader(request, "content-encoding") || null, config.compressions)
        bodyEffect = request.readAll(config.readMaxBytes)
      }
      responseCompression = negotiate(Server.requestHeader(request, "accept-encoding"), config.compressions)
    } catch (e) {
      return Effect.fail(ConnectError.from(e, "internal"))
    }
    const context = Server.makeContext(method, "connect", request, timeoutMs)
    ctx = context
    const name = codecName
    const read = requestCompression === undefined
      ? bodyEffect
      : Effect.flatMap(bodyEffect, (b) =>
        // an empty body is an empty message whatever the encoding says
        b.byteLength === 0 ? Effect.succeed(b) : requestCompression.decompress(b, config.readMaxBytes))
    const work = Effect.flatMap(read, (bytes) => {
      let input: unknown
      try {
        input = decodeMessage(codec, method.input, bytes, "invalid_argument")
      } catch (e) {
        return Effect.fail(ConnectError.from(e, "invalid_argument"))
      }
      const handler = route.handler
      if (handler === undefined) return Effect.fail(Server.unimplemented(route))
      if (method.methodKind === "unary") return handler(input, context) as Effect.Effect<unknown, ConnectError.ConnectError>
      // a client-streaming method cannot be called with the unary protocol (router prevents it)
      return Effect.fail(ConnectError.make("internal", "unexpected method kind for unary protocol"))
    })
    const send = (bytes: Uint8Array, compression: Compression | undefined) =>
      Effect.sync(() => {
        const h = unaryHeaders(name, compression, config)
        addUserHeaders(h, Server.sentHeaders(context))
        Server.sentTrailers(context)?.forEach((v, k) => h.append(`trailer-${k}`, v))
        writer.head(200, h, bytes)
      })
    return Effect.flatMap(
      Server.around(route, context, timeoutMs, work),
      (output) => writePayload(codec, method.output, output, responseCompression, config, send)
    )
  })
  return Effect.catchCause(program, (cause) =>
    Effect.sync(() => writeUnaryError(writer, Server.errorFromCause(cause), ctx, config)))
}

/** Serves a streaming-protocol Connect call (any method kind may use it except unary). */
const serveStream = (
  route: Server.Route,
  request: ServerRequest,
  writer: ResponseWriter,
  config: Server.ServerConfig,
  codecName: "proto" | "json"
): Effect.Effect<void, never, any> => {
  let timeoutMs: number | undefined
  let requestCompression: Compression | undefined
  let responseCompression: Compression | undefined
  const headers = () => {
    const h = new Headers()
    h.set("content-type", `application/connect+${codecName}`)
    if (responseCompression !== undefined) h.set("connect-content-encoding", responseCompression.name)
    setAcceptEncoding(h, "connect-accept-encoding", config.compressions)
    return h
  }
  const finish = (
    error: ConnectError.ConnectError | undefined,
    ctx: HandlerContext | undefined,
    headersSent: boolean
  ): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (!headersSent) {
        const h = headers()
        addUserHeaders(h, Server.sentHeaders(ctx))
        writer.head(200, h)
      }
      const trailers = new Headers()
      appendAll(trailers, Server.sentTrailers(ctx))
      if (error?.metadata !== undefined) addUserHeaders(trailers, error.metadata)
      return Effect.map(
        writer.write(Envelope.encode(Envelope.FLAG_END_STREAM, endStreamToJson(error, trailers))),
        () => writer.end()
      )
    })
  try {
    checkProtocolVersion(request, config)
    timeoutMs = parseTimeout(Server.requestHeader(request, "connect-timeout-ms"))
    responseCompression = negotiate(Server.requestHeader(request, "connect-accept-encoding"), config.compressions)
    requestCompression = findRequestCompression(Server.requestHeader(request, "connect-content-encoding") || null, config.compressions)
  } catch (e) {
    return finish(ConnectError.from(e, "internal"), undefined, false)
  }
  return serveEnveloped(route, request, writer, config, {
    protocol: "connect",
    codec: codecName === "proto" ? config.proto : config.json,
    timeoutMs,
    requestCompression,
    responseCompression,
    endFlag: Envelope.FLAG_END_STREAM,
    headers,
    finish
  })
}

/**
 * Serves one Connect request on a route. `kind` comes from {@link classify}; the router has
 * already checked that the request's kind suits the method.
 */
export const serve = (
  route: Server.Route,
  request: ServerRequest,
  writer: ResponseWriter,
  config: Server.ServerConfig,
  kind: ContentType | "get"
): Effect.Effect<void, never, any> =>
  kind === "get"
    ? serveUnary(route, request, writer, config, undefined)
    : kind.stream
    ? serveStream(route, request, writer, config, kind.codec)
    : serveUnary(route, request, writer, config, kind.codec)

/** True when a method may be called with a GET request. */
export const allowsGet = (method: DescMethod): boolean =>
  method.methodKind === "unary" && method.idempotency === 1 /* NO_SIDE_EFFECTS */


// -----------------------------------------------------------------------------
// client
// -----------------------------------------------------------------------------

/** A resolved client configuration (one type for every protocol). */
export type { ClientConfig }

const splitTrailers = (headers: Headers): { headers: Headers; trailers: Headers } => {
  const h = new Headers()
  const t = new Headers()
  headers.forEach((value, key) => {
    if (key.startsWith("trailer-")) t.append(key.slice(8), value)
    else h.append(key, value)
  })
  return { headers: h, trailers: t }
}

const userHeaders = (options: CallOptions | undefined): Headers => new Headers(options?.headers)

/** Performs a unary call over the Connect protocol. */
export const unaryCall = (
  http: HttpClient["Service"],
  config: ClientConfig,
  method: DescMethod,
  request: unknown,
  options: CallOptions | undefined
): Effect.Effect<unknown, ConnectError.ConnectError> =>
  Effect.flatMap(effectiveTimeout(config, options), (timeoutMs) => {
    let message: unknown
    const url = methodUrl(config.baseUrl, method)
    const headers = userHeaders(options)
    const info: ClientRequestInfo = { method, url, headers }
    const exchange = Effect.suspend(() => {
      const useGet = config.useHttpGet && allowsGet(method)
      return writePayload(config.codec, method.input, request, config.sendCompression, config, (payload, compression) => {
        const h = new Headers()
        headers.forEach((v, k) => h.append(k, v))
        if (timeoutMs !== undefined) h.set("connect-timeout-ms", String(timeoutMs))
        setAcceptEncoding(h, "accept-encoding", config.compressions)
        let target = url
        if (useGet) {
          const q = new URLSearchParams()
          q.set("connect", "v1")
          q.set("encoding", config.codec.name)
          if (compression !== undefined) q.set("compression", compression.name)
          q.set("base64", "1")
          q.set("message", base64Encode(payload, "url"))
          target = `${url}?${q.toString()}`
        } else {
          h.set("content-type", `application/${config.codec.name}`)
          h.set("connect-protocol-version", PROTOCOL_VERSION)
          if (compression !== undefined) h.set("content-encoding", compression.name)
        }
        return Effect.scoped(Effect.flatMap(
          http.request({ method: useGet ? "GET" : "POST", url: target, headers: h, body: useGet ? undefined : payload }),
          (response) => {
            const { headers: responseHeaders, trailers } = splitTrailers(response.headers)
            options?.onHeaders?.(responseHeaders)
            const compression = (() => {
              try {
                return { ok: findResponseCompression(response.headers.get("content-encoding") || null, config.compressions) }
              } catch (e) {
                return { error: ConnectError.from(e, "internal") }
              }
            })()
            if ("error" in compression) return Effect.fail(compression.error!)
            // a compressed body may be a little larger than its message (incompressible bytes): some
            // room, but never unbounded; what it inflates to is bounded by readMaxBytes too, error
            // bodies included (a bomb in an error response must not exhaust the client)
            const readLimit = compression.ok === undefined ? config.readMaxBytes : config.readMaxBytes + BODY_HEADROOM
            return Effect.flatMap(readResponseBody(response, readLimit, config.readMaxBytes), (raw) => {
              const decompressed = compression.ok === undefined
                ? Effect.succeed(raw)
                : compression.ok.decompress(raw, config.readMaxBytes)
              return Effect.flatMap(decompressed, (bytes) => {
                options?.onTrailers?.(trailers)
                if (response.status !== 200) {
                  return Effect.fail(unaryErrorFromResponse(response.status, response.headers, bytes, responseHeaders, trailers))
                }
                const ct = parseContentType(response.headers.get("content-type"))
                if (ct === undefined || ct.stream || ct.codec !== config.codec.name) {
                  return Effect.fail(
                    ConnectError.make(
                      contentTypeMismatchCode(response.headers.get("content-type")),
                      `protocol error: unexpected content-type ${JSON.stringify(response.headers.get("content-type"))}`,
                      { metadata: mergeMeta(responseHeaders, trailers) }
                    )
                  )
                }
                try {
                  message = decodeMessage(config.codec, method.output, bytes, "internal")
                } catch (e) {
                  return Effect.fail(ConnectError.from(e, "internal"))
                }
                return Effect.succeed<ClientResponseInfo>({ headers: responseHeaders, trailers })
              })
            })
          }
        ))
      })
    })
    const intercepted = runInterceptors(config.interceptors, info, exchange)
    return Effect.map(deadlineEffect(intercepted, timeoutMs), () => message)
  })

/** A response content type that is not ours: `unknown` when it is not an application type at all, else `internal`. */
const contentTypeMismatchCode = (value: string | null): Code.Code =>
  value !== null && value.toLowerCase().startsWith("application/") ? "internal" : "unknown"

const unaryErrorFromResponse = (
  status: number,
  rawHeaders: Headers,
  body: Uint8Array,
  headers: Headers,
  trailers: Headers
): ConnectError.ConnectError => {
  const metadata = mergeMeta(headers, trailers)
  const ct = rawHeaders.get("content-type")
  if (ct !== null && ct.toLowerCase().startsWith("application/json")) {
    try {
      const json: unknown = JSON.parse(textDecoder.decode(body))
      const parsed = errorFromJson(json, metadata)
      if (parsed !== undefined) return parsed
      const message = typeof json === "object" && json !== null && typeof (json as { message?: unknown }).message === "string"
        ? (json as { message: string }).message
        : `HTTP ${status}`
      return ConnectError.make(Code.fromHttpStatus(status), message, { metadata })
    } catch {
      // fall through to the HTTP status
    }
  }
  return ConnectError.make(Code.fromHttpStatus(status), `HTTP ${status}`, { metadata })
}

/** Performs a streaming call (client, server or bidi) over the Connect protocol. */
export const streamCall = <E>(
  http: HttpClient["Service"],
  config: ClientConfig,
  method: DescMethod,
  requests: Stream.Stream<unknown, E>,
  options: CallOptions | undefined
): Stream.Stream<unknown, ConnectError.ConnectError | E> =>
  Stream.unwrap(Effect.flatMap(effectiveTimeout(config, options), (timeoutMs) => {
    const url = methodUrl(config.baseUrl, method)
    const headers = userHeaders(options)
    const info: ClientRequestInfo = { method, url, headers }
    const compression = config.sendCompression
    let requestError: { readonly error: E } | undefined
    const frames = requestFrames(requests, config, method, (e) => {
      requestError = { error: e }
    })
    let responseStream: Stream.Stream<unknown, ConnectError.ConnectError> | undefined
    const exchange = Effect.suspend(() => {
      const h = new Headers()
      headers.forEach((v, k) => h.append(k, v))
      h.set("content-type", `application/connect+${config.codec.name}`)
      h.set("connect-protocol-version", PROTOCOL_VERSION)
      if (timeoutMs !== undefined) h.set("connect-timeout-ms", String(timeoutMs))
      if (compression !== undefined) h.set("connect-content-encoding", compression.name)
      setAcceptEncoding(h, "connect-accept-encoding", config.compressions)
      return Effect.flatMap(http.request({ method: "POST", url, headers: h, body: frames }), (response) => {
        options?.onHeaders?.(response.headers)
        if (response.status !== 200) {
          return Effect.flatMap(Effect.orElseSucceed(readAll(response.body, 64 * 1024), () => new Uint8Array(0)), (bytes) => {
            options?.onTrailers?.(new Headers())
            return Effect.fail(unaryErrorFromResponse(response.status, response.headers, bytes, response.headers, new Headers()))
          })
        }
        const ct = parseContentType(response.headers.get("content-type"))
        if (ct === undefined || !ct.stream || ct.codec !== config.codec.name) {
          options?.onTrailers?.(new Headers())
          return Effect.fail(
            ConnectError.make(
              contentTypeMismatchCode(response.headers.get("content-type")),
              `protocol error: unexpected content-type ${JSON.stringify(response.headers.get("content-type"))}`,
              { metadata: response.headers }
            )
          )
        }
        let responseCompression: Compression | undefined
        try {
          responseCompression = findResponseCompression(response.headers.get("connect-content-encoding") || null, config.compressions)
        } catch (e) {
          return Effect.fail(ConnectError.from(e, "internal"))
        }
        responseStream = readStreamResponse(response.body, config, method, responseCompression, response.headers, options)
        return Effect.succeed<ClientResponseInfo>({ headers: response.headers, trailers: new Headers() })
      })
    })
    // the exchange needs the Scope of the unwrapped stream; interceptors pass it through untouched
    const opened = Effect.map(
      runInterceptors(config.interceptors, info, exchange as Effect.Effect<ClientResponseInfo, ConnectError.ConnectError>),
      () => responseStream!
    )
    const withRequestError = (s: Stream.Stream<unknown, ConnectError.ConnectError>) =>
      Stream.catchCause(s, (cause): Stream.Stream<never, ConnectError.ConnectError | E> =>
        requestError !== undefined ? Stream.fail(requestError.error) : Stream.failCause(cause))
    const result = withRequestError(Stream.unwrap(opened))
    return Effect.succeed(deadlineStream(result, timeoutMs))
  })) as Stream.Stream<unknown, ConnectError.ConnectError | E>

const readStreamResponse = (
  body: Stream.Stream<Uint8Array, ConnectError.ConnectError>,
  config: ClientConfig,
  method: DescMethod,
  compression: Compression | undefined,
  headers: Headers,
  options: CallOptions | undefined
): Stream.Stream<unknown, ConnectError.ConnectError> =>
  Stream.transformPull(
    readEnvelopes("client", config.readMaxBytes)(body),
    (upstream) =>
      Effect.sync(() => {
        let ended = false
        // the end-stream error is raised after the messages that came before it are emitted
        let endError: ConnectError.ConnectError | undefined
        const onDone = (): Effect.Effect<never, ConnectError.ConnectError | Cause.Done> => {
          if (ended) return endError !== undefined ? Effect.fail(endError) : Cause.done()
          options?.onTrailers?.(new Headers())
          return Effect.fail(ConnectError.make("internal", "protocol error: missing end-stream message", { metadata: headers }))
        }
        const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<unknown>, ConnectError.ConnectError> = Effect.flatMap(
          Pull.catchDone(upstream, onDone),
          (envelopes) => {
            if (ended) {
              return Effect.fail(ConnectError.make("internal", "protocol error: received data after end-stream message"))
            }
            const out: Array<unknown> = []
            const pending: Array<Effect.Effect<unknown, ConnectError.ConnectError>> = []
            for (const env of envelopes) {
              if (ended) {
                return Effect.fail(ConnectError.make("internal", "protocol error: received data after end-stream message"))
              }
              const data = env.data
              if ((env.flags & Envelope.FLAG_COMPRESSED) !== 0 && compression === undefined) {
                return Effect.fail(ConnectError.make("internal", "protocol error: received a compressed message without connect-content-encoding"))
              }
              if ((env.flags & Envelope.FLAG_END_STREAM) !== 0) {
                ended = true
                const handleEnd = (bytes: Uint8Array) => {
                  let end: { readonly trailers: Headers; readonly error: ConnectError.ConnectError | undefined }
                  try {
                    end = endStreamFromJson(bytes)
                  } catch (e) {
                    endError = ConnectError.from(e, "internal")
                    return Effect.succeed(undefined)
                  }
                  options?.onTrailers?.(end.trailers)
                  if (end.error !== undefined) {
                    const meta = mergeMeta(headers, end.trailers)
                    endError = ConnectError.withMetadata(
                      ConnectError.make(end.error.code, end.error.message, { details: end.error.details }),
                      meta
                    )
                  }
                  return Effect.succeed(undefined)
                }
                pending.push(
                  (env.flags & Envelope.FLAG_COMPRESSED) !== 0
                    ? Effect.flatMap(compression!.decompress(data, config.readMaxBytes), handleEnd)
                    : handleEnd(data)
                )
                continue
              }
              if (pending.length > 0 || (env.flags & Envelope.FLAG_COMPRESSED) !== 0) {
                // checked above: a compressed envelope has its compression
                const read = readEnvelope(env, compression, config.codec, method.output, config.readMaxBytes, "client", "connect-content-encoding")
                pending.push(read as Effect.Effect<unknown, ConnectError.ConnectError>)
                continue
              }
              try {
                out.push(decodeMessage(config.codec, method.output, data, "internal"))
              } catch (e) {
                return Effect.fail(ConnectError.from(e, "internal"))
              }
            }
            if (pending.length === 0) {
              return out.length > 0 ? Effect.succeed(out as unknown as Arr.NonEmptyReadonlyArray<unknown>) : pull
            }
            return Effect.flatMap(Effect.forEach(pending, (e) => e), (results) => {
              for (const r of results) if (r !== undefined) out.push(r)
              return out.length > 0 ? Effect.succeed(out as unknown as Arr.NonEmptyReadonlyArray<unknown>) : pull
            })
          }
        )
        return pull
      })
  )

/** Builds a Connect-protocol `Transport` over an `HttpClient`. */
export const makeTransport = (http: HttpClient["Service"], config: ClientConfig): TransportShape => ({
  unary: (method, request, options) => unaryCall(http, config, method, request, options),
  stream: (method, requests, options) => streamCall(http, config, method, requests, options)
})
