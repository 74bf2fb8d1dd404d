/**
 * The server side of the Connect protocol: unary POST and GET, streaming with the end-stream
 * message, compression negotiation and timeouts.
 */
import { base64Decode } from "@bufbuild/protobuf/wire"
import * as Effect from "effect/Effect"
import * as Code from "../Code.ts"
import type { Codec } from "../Codec.ts"
import type { Compression } from "../Compression.ts"
import * as ConnectError from "../ConnectError.ts"
import * as Envelope from "../Envelope.ts"
import type { HandlerContext } from "../HandlerContext.ts"
import type { ResponseWriter, ServerRequest } from "../Http.ts"
import { HeaderList } from "../internal/headerList.ts"
import { appendAll } from "../internal/headers.ts"
import { parsedBy, type ServerProtocol } from "../protocol/protocol.ts"
import * as Server from "../protocol/server.ts"
import { addAcceptEncoding, negotiate, requestCompression as findRequestCompression } from "../protocol/compressionNegotiation.ts"
import { serveEnveloped } from "../protocol/envelopedServer.ts"
import { allowsGet, type ContentType, endStreamToJson, errorToJson, parseContentType, parseTimeout, PROTOCOL_VERSION } from "./wire.ts"
import { decodeMessage, writePayload } from "../protocol/pipeline.ts"

const textEncoder = new TextEncoder()

/**
 * Whether the router should treat a request as Connect, and if so how.
 *
 * @category handlers
 * @since 0.1.0
 */
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

/** The content types of unary responses (constants: no string built per call). */
const UNARY_CONTENT_TYPE = { proto: "application/proto", json: "application/json" } as const
const STREAM_CONTENT_TYPE = { proto: "application/connect+proto", json: "application/connect+json" } as const

const unaryHeaders = (codecName: "proto" | "json", compression: Compression | undefined, config: Server.ServerConfig) => {
  const h = new HeaderList()
  h.add("content-type", UNARY_CONTENT_TYPE[codecName])
  if (compression !== undefined) h.add("content-encoding", compression.name)
  addAcceptEncoding(h, "accept-encoding", config.compressions)
  return h
}

const writeUnaryError = (
  writer: ResponseWriter,
  error: ConnectError.ConnectError,
  ctx: HandlerContext | undefined,
  config: Server.ServerConfig
) => {
  const h = new HeaderList()
  h.add("content-type", "application/json")
  addAcceptEncoding(h, "accept-encoding", config.compressions)
  Server.addUserHeaders(h, Server.sentHeaders(ctx))
  if (error.metadata !== undefined) Server.addUserHeaders(h, error.metadata)
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
        Server.addUserHeaders(h, Server.sentHeaders(context))
        Server.sentTrailers(context)?.forEach((v, k) => h.append(`trailer-${k}`, v))
        writer.head(200, h, bytes)
      })
    return Effect.flatMap(
      Server.around(route, context, timeoutMs, work),
      (output) => writePayload(codec, method.output, output, responseCompression, config, send)
    )
  })
  return Effect.catchCause(program, (cause) =>
    Server.sendFailure(cause, method, (error) => Effect.sync(() => writeUnaryError(writer, error, ctx, config))))
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
    const h = new HeaderList()
    h.add("content-type", STREAM_CONTENT_TYPE[codecName])
    if (responseCompression !== undefined) h.add("connect-content-encoding", responseCompression.name)
    addAcceptEncoding(h, "connect-accept-encoding", config.compressions)
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
        Server.addUserHeaders(h, Server.sentHeaders(ctx))
        writer.head(200, h)
      }
      const trailers = new Headers()
      appendAll(trailers, Server.sentTrailers(ctx))
      if (error?.metadata !== undefined) Server.addUserHeaders(trailers, error.metadata)
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
 *
 * @category handlers
 * @since 0.1.0
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

const connectParameters = (p: string) => p === "" || p === "charset=utf-8" || p === "charset=\"utf-8\""

/** Connect: unary and streaming content types, GET for side-effect-free unary methods. */
export const connectServer: ServerProtocol<ContentType | "get"> = {
  name: "connect",
  contentTypes: parsedBy(parseContentType, [
    "application/proto",
    "application/json",
    "application/connect+proto",
    "application/connect+json"
  ]),
  acceptsParameters: connectParameters,
  // the unary content types only suit unary methods, the streaming ones every other kind
  accepts: (kind, method) => kind !== "get" && kind.stream !== (method.methodKind === "unary"),
  get: (method) => allowsGet(method) ? "get" : undefined,
  needsTrailers: false,
  serve
}
