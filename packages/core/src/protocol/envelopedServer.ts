import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Codec } from "../Codec.ts"
import type { Compression } from "../Compression.ts"
import * as ConnectError from "../ConnectError.ts"
import * as Envelope from "../Envelope.ts"
import type { HandlerContext } from "../HandlerContext.ts"
import type { ProtocolName, ResponseWriter, ServerRequest } from "../Http.ts"
import { frameMessages, namingReadMax, readEnvelope, readEnvelopes, splitEnvelopes } from "./pipeline.ts"
import * as Server from "./server.ts"

/** What a protocol with enveloped bodies (Connect streaming, gRPC, gRPC-Web) decides for one call. */
export interface EnvelopedCall {
  readonly protocol: ProtocolName
  readonly codec: Codec
  readonly timeoutMs: number | undefined
  readonly requestCompression: Compression | undefined
  readonly responseCompression: Compression | undefined
  /** The response headers the protocol sends before the first message (user headers are added). */
  readonly headers: () => Headers
  /**
   * Ends the response: `error` is the call's failure, if any; `headersSent` tells whether
   * the headers already went out (else the protocol may answer "trailers-only").
   */
  readonly finish: (
    error: ConnectError.ConnectError | undefined,
    ctx: HandlerContext,
    headersSent: boolean
  ) => Effect.Effect<void>
  /** Flag bit that marks a trailer/end frame in requests, which clients must not send. */
  readonly endFlag: number
}

/**
 * Serves one call whose request and response bodies are enveloped messages, for every method
 * kind: decodes requests lazily as the handler pulls them, batches response frames per chunk,
 * applies interceptors and the deadline, and lets the protocol write the end of the response.
 */
export const serveEnveloped = (
  route: Server.Route,
  request: ServerRequest,
  writer: ResponseWriter,
  config: Server.ServerConfig,
  call: EnvelopedCall
): Effect.Effect<void, never, any> => {
  const method = route.method
  const { codec, responseCompression, requestCompression } = call
  const ctx = Server.makeContext(method, call.protocol, request, call.timeoutMs)
  let headersSent = false
  const sendHeaders = () => {
    if (headersSent) return
    headersSent = true
    const h = call.headers()
    Server.addUserHeaders(h, Server.sentHeaders(ctx))
    writer.head(200, h)
  }
  const write = (out: Uint8Array): Effect.Effect<void, ConnectError.ConnectError> => {
    sendHeaders()
    return writer.write(out)
  }
  const writeMessages = (messages: ReadonlyArray<unknown>): Effect.Effect<void, ConnectError.ConnectError> =>
    frameMessages(codec, method.output, messages, responseCompression, config, write)
  const decodeEnvelope = (env: Envelope.Envelope): Effect.Effect<unknown, ConnectError.ConnectError> => {
    if ((env.flags & call.endFlag) !== 0) {
      return Effect.fail(ConnectError.make("invalid_argument", "protocol error: client sent an end-of-stream frame"))
    }
    const read = readEnvelope(env, requestCompression, codec, method.input, config.readMaxBytes, "server", "a message encoding")
    return ConnectError.isConnectError(read) ? Effect.fail(read) : read
  }
  const messages = (): Stream.Stream<unknown, ConnectError.ConnectError> =>
    request.body.pipe(
      readEnvelopes("server", config.readMaxBytes),
      Stream.mapEffect(decodeEnvelope)
    )
  const handler = route.handler
  let work: Effect.Effect<void, ConnectError.ConnectError, any>
  if (handler === undefined) {
    work = Effect.fail(Server.unimplemented(route))
  } else {
    switch (method.methodKind) {
      case "unary":
        work = Effect.flatMap(readSingle(request, config, decodeEnvelope), (input) =>
          Effect.flatMap(handler(input, ctx) as Effect.Effect<unknown, ConnectError.ConnectError>, (output) =>
            writeMessages([output])))
        break
      case "server_streaming":
        work = Effect.flatMap(readSingle(request, config, decodeEnvelope), (input) =>
          Stream.runForEachArray(handler(input, ctx) as Stream.Stream<unknown, ConnectError.ConnectError>, writeMessages))
        break
      case "client_streaming":
        work = Effect.flatMap(
          handler(messages(), ctx) as Effect.Effect<unknown, ConnectError.ConnectError>,
          (output) => writeMessages([output])
        )
        break
      case "bidi_streaming":
        work = Stream.runForEachArray(handler(messages(), ctx) as Stream.Stream<unknown, ConnectError.ConnectError>, writeMessages)
        break
    }
  }
  return Server.around(route, ctx, call.timeoutMs, work).pipe(
    Effect.matchCauseEffect({
      onSuccess: () => call.finish(undefined, ctx, headersSent),
      onFailure: (cause) => Server.sendFailure(cause, method, (error) => call.finish(error, ctx, headersSent))
    })
  )
}

/**
 * Reads the single request message of a unary or server-streaming call: the whole body in one
 * buffer (no Stream), split into envelopes synchronously. Errors come out in the order the
 * streaming decoder would raise them: a bad envelope header, then the first message, then the
 * second one, then a truncated tail; zero or several messages are `unimplemented`.
 */
const readSingle = (
  request: ServerRequest,
  config: Server.ServerConfig,
  decodeEnvelope: (env: Envelope.Envelope) => Effect.Effect<unknown, ConnectError.ConnectError>
): Effect.Effect<unknown, ConnectError.ConnectError> =>
  Effect.flatMap(readBody(request, config.readMaxBytes), (body) => {
    const envelopes: Array<Envelope.Envelope> = []
    const parser = splitEnvelopes(body, config.readMaxBytes, envelopes)
    if (ConnectError.isConnectError(parser)) return Effect.fail(parser)
    const first = envelopes[0]
    if (first === undefined) return Effect.fail(parser.pending > 0 ? truncated(parser.pending) : missingRequest())
    return Effect.flatMap(decodeEnvelope(first), (input) => {
      const second = envelopes[1]
      if (second !== undefined) return Effect.flatMap(decodeEnvelope(second), () => Effect.fail(moreThanOne()))
      if (parser.pending > 0) return Effect.fail(truncated(parser.pending))
      return Effect.succeed(input)
    })
  })

/** The whole body of a single-message call: one envelope header plus at most `readMaxBytes`. */
const readBody = (request: ServerRequest, readMaxBytes: number): Effect.Effect<Uint8Array, ConnectError.ConnectError> =>
  namingReadMax(request.readAll(readMaxBytes + 5), readMaxBytes)

const truncated = (pending: number) =>
  ConnectError.make("invalid_argument", `protocol error: incomplete envelope: stream ended with ${pending} unread bytes`)
const missingRequest = () => ConnectError.make("unimplemented", "protocol error: missing request message")
const moreThanOne = () => ConnectError.make("unimplemented", "protocol error: received more than one request message")
