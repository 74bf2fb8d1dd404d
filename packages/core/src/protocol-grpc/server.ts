/**
 * The server side of gRPC and gRPC-Web.
 */
import * as Effect from "effect/Effect"
import type { Compression } from "../Compression.ts"
import * as ConnectError from "../ConnectError.ts"
import * as Envelope from "../Envelope.ts"
import type { HandlerContext } from "../HandlerContext.ts"
import type { ResponseWriter, ServerRequest } from "../Http.ts"
import { addAcceptEncoding, negotiate, requestCompression as findRequestCompression } from "../protocol/compressionNegotiation.ts"
import { serveEnveloped } from "../protocol/envelopedServer.ts"
import { HeaderList } from "../internal/headerList.ts"
import { isProtocolHeader } from "../internal/headers.ts"
import { parsedBy, type ServerProtocol } from "../protocol/protocol.ts"
import * as Server from "../protocol/server.ts"
import { type ContentType, parseContentType, parseTimeout, statusTrailers, trailersToWebFrame } from "./wire.ts"

const hasUserHeaders = (headers: Headers | undefined): boolean => {
  let found = false
  headers?.forEach((_, key) => {
    if (!isProtocolHeader(key)) found = true
  })
  return found
}

/**
 * Serves one gRPC or gRPC-Web request on a route.
 *
 * @category handlers
 * @since 0.1.0
 */
export const serve = (
  route: Server.Route,
  request: ServerRequest,
  writer: ResponseWriter,
  config: Server.ServerConfig,
  contentType: ContentType
): Effect.Effect<void, never, any> => {
  const web = contentType.web
  const protocol = web ? "grpc-web" : "grpc"
  /** The head every response starts with; `grpc-encoding` when the messages are compressed. */
  const baseHeaders = (compression: Compression | undefined) => {
    const h = new HeaderList()
    h.add("content-type", contentType.value)
    if (compression !== undefined) h.add("grpc-encoding", compression.name)
    addAcceptEncoding(h, "grpc-accept-encoding", config.compressions)
    return h
  }
  const trailersOnly = (error: ConnectError.ConnectError, ctx: HandlerContext | undefined) => {
    const h = baseHeaders(undefined)
    Server.addUserHeaders(h, Server.sentHeaders(ctx))
    statusTrailers(error, Server.sentTrailers(ctx), h)
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
    headers: () => baseHeaders(responseCompression),
    finish: (error, ctx, headersSent) =>
      Effect.suspend(() => {
        // trailers-only when there is nothing else to say; with response headers set, send them
        // as headers (gRPC clients read a trailers-only block as trailers)
        if (!headersSent && error !== undefined && !hasUserHeaders(Server.sentHeaders(ctx))) {
          trailersOnly(error, ctx)
          return Effect.void
        }
        if (!headersSent) {
          const h = baseHeaders(undefined)
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

const anyParameters = () => true
const everyMethod = () => true
const noGet = () => undefined

/** gRPC over HTTP/2: every method kind, status in HTTP trailers. */
export const grpcServer: ServerProtocol<ContentType> = {
  name: "grpc",
  contentTypes: parsedBy(parseContentType, ["application/grpc", "application/grpc+proto", "application/grpc+json"]),
  acceptsParameters: anyParameters,
  accepts: everyMethod,
  get: noGet,
  needsTrailers: true,
  serve
}

/** gRPC-Web: gRPC with the status in the body, so no trailers are needed. */
export const grpcWebServer: ServerProtocol<ContentType> = {
  ...grpcServer,
  name: "grpc-web",
  contentTypes: parsedBy(parseContentType, [
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web+json"
  ]),
  needsTrailers: false
}
