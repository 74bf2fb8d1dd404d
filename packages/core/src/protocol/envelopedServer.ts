import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { DescMessage } from "@bufbuild/protobuf"
import type { Codec } from "../Codec.ts"
import type { Compression } from "../Compression.ts"
import * as ConnectError from "../ConnectError.ts"
import * as Envelope from "../Envelope.ts"
import type { HandlerContext } from "../HandlerContext.ts"
import type { ProtocolName, ResponseWriter, ServerRequest } from "../Http.ts"
import { decodeMessage, decodeMessageRange, frameMessages, namingReadMax, readEnvelope, splitEnvelopes } from "./pipeline.ts"
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
  const write = (out: Uint8Array): Effect.Effect<void, ConnectError.ConnectError> => {
    if (!headersSent) {
      headersSent = true
      const h = call.headers()
      Server.addUserHeaders(h, Server.sentHeaders(ctx))
      writer.head(200, h)
    }
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
    requestMessages(request, call, config, method.input)
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
      // one parameter: Effect wraps callbacks of another arity in one more closure
      onSuccess: (_: void) => call.finish(undefined, ctx, headersSent),
      onFailure: (cause) => Server.sendFailure(cause, method, (error) => call.finish(error, ctx, headersSent))
    })
  )
}

/**
 * The request messages of a client-streaming or bidi call, as one Stream stage over the body:
 * each pull of the body is split into envelopes and decoded synchronously into one chunk of
 * messages (an Effect only for a compressed one). A stage per step (envelopes, flatten,
 * mapEffect, map) kept ~2 KB of closures, contexts and fiber frames per open call. Errors come
 * in the order a per-message decoder raises them: the messages before a bad one are emitted,
 * then the stream fails; an envelope over `readMaxBytes` or a truncated tail fails it at once.
 */
const requestMessages = (
  request: ServerRequest,
  call: EnvelopedCall,
  config: Server.ServerConfig,
  schema: DescMessage
): Stream.Stream<unknown, ConnectError.ConnectError> => {
  // on the body's own pull when the adapter offers it (one Stream stage less per open call),
  // built at once: a thunk building it on the first run kept a closure and its context alive
  // as long as the call (the body can be read only once either way)
  const bodyPull = request.bodyPull
  return bodyPull !== undefined
    ? Stream.fromPull(Effect.succeed(new RequestMessages(bodyPull, call, config, schema).pull))
    : Stream.transformPull(request.body, (upstream) => Effect.sync(() => new RequestMessages(upstream, call, config, schema).pull))
}

/**
 * `RequestMessages.decoded` and `envelopes` between pulls (each pull starts new arrays). The
 * state object lives as long as the call, so V8 may allocate it in the old generation; a pull's
 * arrays left on it would then be kept alive (and promoted) by the scavenger after the call, so
 * a pull lets go of them: keeping them cost client streams over HTTP/2 a mark-compact per second.
 */
const NOTHING_DECODED: Array<unknown> = []
const NO_ENVELOPES: Array<Envelope.Envelope> = []

type MessagesPull = Pull.Pull<Arr.NonEmptyReadonlyArray<unknown>, ConnectError.ConnectError>

/**
 * The decoding state of {@link requestMessages} (methods, not closures: an open call keeps it),
 * its own envelope parser (one object less per call).
 */
class RequestMessages extends Envelope.Parser {
  readonly call: EnvelopedCall
  readonly config: Server.ServerConfig
  readonly schema: DescMessage
  envelopes: Array<Envelope.Envelope> = []
  next = 0
  /** Messages of this pull decoded in place (see `complete`), before those of `envelopes`. */
  decoded: Array<unknown> = NOTHING_DECODED
  /** The failure of a message decoded in place: the pull emits those before it, then fails. */
  decodeFailure: ConnectError.ConnectError | undefined = undefined
  failure: ConnectError.ConnectError | undefined = undefined
  readonly pullBody: MessagesPull
  readonly pull: MessagesPull
  constructor(
    upstream: Pull.Pull<Arr.NonEmptyReadonlyArray<Uint8Array>, ConnectError.ConnectError>,
    call: EnvelopedCall,
    config: Server.ServerConfig,
    schema: DescMessage
  ) {
    super(config.readMaxBytes)
    this.call = call
    this.config = config
    this.schema = schema
    // one frame per pull and two closures (`flatMap` over `Pull.catchDone` kept two frames and
    // four closures with their contexts alive while the call waits for a message); callbacks
    // of one parameter, which Effect does not wrap
    this.pullBody = Effect.matchCauseEffect(upstream, {
      onSuccess: (chunks: Arr.NonEmptyReadonlyArray<Uint8Array>) => this.split(chunks),
      onFailure: (cause: Cause.Cause<ConnectError.ConnectError | Cause.Done>) => this.upstreamFailed(cause)
    })
    this.pull = Effect.suspend(() => this.failure !== undefined ? Effect.fail(this.failure) : this.pullBody)
  }
  /** As `Pull.catchDone`: the body's end (a truncated envelope fails), else its failure as it is. */
  upstreamFailed(cause: Cause.Cause<ConnectError.ConnectError | Cause.Done>): MessagesPull {
    const done = Pull.filterDoneLeftover(cause)
    if (Result.isFailure(done)) return Effect.failCause(done.failure)
    return this.pending > 0 ? Effect.fail(truncated(this.pending)) : Cause.done()
  }
  split(chunks: Arr.NonEmptyReadonlyArray<Uint8Array>): MessagesPull {
    this.envelopes = []
    this.next = 0
    const decoded: Array<unknown> = (this.decoded = [])
    this.decodeFailure = undefined
    try {
      for (const c of chunks) this.push(c, this.envelopes)
    } catch (e) {
      return Effect.fail(ConnectError.from(e, "internal"))
    } finally {
      this.decoded = NOTHING_DECODED
    }
    // the messages decoded in place come first; a failure among them ends the stream after them
    if (this.decodeFailure !== undefined) return this.emitThenFail(decoded, this.decodeFailure)
    return this.drain(decoded)
  }
  /**
   * A plain envelope is decoded in place while nothing else is queued before it (no Envelope
   * object, no view of its payload per message); the rest go through `envelopes`.
   */
  protected override complete(bytes: Uint8Array, at: number, n: number, out: Array<Envelope.Envelope>): void {
    const codec = this.call.codec
    if (bytes[at] !== 0 || codec.decodeRange === undefined || out.length > 0 || this.decodeFailure !== undefined) {
      return super.complete(bytes, at, n, out)
    }
    try {
      this.decoded.push(decodeMessageRange(codec, this.schema, bytes, at + 5, at + n, "invalid_argument"))
    } catch (e) {
      this.decodeFailure = ConnectError.from(e, "internal")
    }
  }
  /** Decodes the envelopes left into `out`; pulls the body again when none came out. */
  drain(out: Array<unknown>): MessagesPull {
    while (this.next < this.envelopes.length) {
      const r = this.decodeInto(this.envelopes[this.next++]!, out)
      if (r === undefined) continue
      if (ConnectError.isConnectError(r)) return this.emitThenFail(out, r)
      return Effect.matchEffect(r, {
        onFailure: (e) => this.emitThenFail(out, e),
        onSuccess: (m) => {
          out.push(m)
          return this.drain(out)
        }
      })
    }
    this.envelopes = NO_ENVELOPES
    this.next = 0
    return out.length > 0 ? Effect.succeed(out as unknown as Arr.NonEmptyReadonlyArray<unknown>) : this.pullBody
  }
  emitThenFail(out: Array<unknown>, error: ConnectError.ConnectError): MessagesPull {
    if (out.length === 0) return Effect.fail(error)
    this.failure = error
    return Effect.succeed(out as unknown as Arr.NonEmptyReadonlyArray<unknown>)
  }
  /** A message into `out` (`undefined`), or its failure, or the Effect of a compressed one. */
  decodeInto(
    env: Envelope.Envelope,
    out: Array<unknown>
  ): ConnectError.ConnectError | Effect.Effect<unknown, ConnectError.ConnectError> | undefined {
    if ((env.flags & this.call.endFlag) !== 0) {
      return ConnectError.make("invalid_argument", "protocol error: client sent an end-of-stream frame")
    }
    const { codec, requestCompression } = this.call
    if ((env.flags & Envelope.FLAG_COMPRESSED) !== 0) {
      return readEnvelope(env, requestCompression, codec, this.schema, this.config.readMaxBytes, "server", "a message encoding")
    }
    try {
      out.push(decodeMessage(codec, this.schema, env.data, "invalid_argument"))
    } catch (e) {
      return ConnectError.from(e, "internal")
    }
    return undefined
  }
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
