/**
 * The HTTP/2 side of the server (h2c and TLS): a `node:http2` server that never listens
 * (connections are handed to it), its exchanges, its header-list limits, and its sessions.
 *
 * @internal
 */
import * as http2 from "node:http2"
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Http from "@connect-effect/core/Http"
import { BodyReader, type BodyOptions } from "../body.ts"
import { forWrite } from "../buffer.ts"
import { waitDrain } from "../drain.ts"
import * as NodeHeaders from "../headers.ts"
import * as Exchange from "./exchange.ts"
import * as IdleSessions from "./idleSessions.ts"
import * as NodeRequest from "./request.ts"
import * as RequestTimeouts from "./requestTimeouts.ts"

/** Settings of the HTTP/2 server (defaults resolved). */
export interface Config {
  /** The header block limit for both protocols (the default SETTINGS_MAX_HEADER_LIST_SIZE). */
  readonly maxHeaderSize: number
  readonly maxConcurrentStreams: number
  /** HTTP/2 settings sent to clients (merged over the defaults). */
  readonly settings: http2.Settings | undefined
  readonly maxSessionMemory: number | undefined
}

/** The bookkeeping the HTTP/2 side uses: exchanges and idle sessions. */
export interface State extends Exchange.State {
  /** Sessions without open streams, closed once idle for `http2IdleTimeoutMs`. */
  readonly idleSessions: IdleSessions.IdleSessions
}

/** The default `onDefect`: logs the cause at error level with Effect's logger. */
export const logDefect = (cause: Cause.Cause<unknown>): Effect.Effect<void> =>
  Effect.logError("[connect-effect] handler defect", cause)

/** Settings of {@link makeState}. */
export interface StateOptions {
  /** Defaults to logging the cause with {@link logDefect} in `context`. */
  readonly onDefect?: ((cause: Cause.Cause<unknown>) => void) | undefined
  /** The request (body) timeout; defaults to 300 seconds. */
  readonly requestTimeoutMs?: number | undefined
  /** How long a session without open streams stays open (0: never closed for idleness). */
  readonly idleTimeoutMs: number
}

/** The bookkeeping of a server (or adapter) whose handlers run in `context`. */
export const makeState = <R>(context: Context.Context<R>, options: StateOptions): State => ({
  closing: false,
  inflight: 0,
  running: new Exchange.Running(),
  runFork: Effect.runForkWith(context) as unknown as Exchange.State["runFork"],
  onDefect: options.onDefect ?? ((cause) => Effect.runSyncWith(context)(logDefect(cause))),
  onIdle: undefined,
  killed: false,
  requestTimeouts: RequestTimeouts.make(options.requestTimeoutMs ?? 300_000),
  idleSessions: IdleSessions.make(options.idleTimeoutMs)
})

/** The HTTP/2 server and its open sessions (shutdown closes them). */
export interface Server {
  readonly server: http2.Http2Server
  readonly sessions: Set<http2.ServerHttp2Session>
}

const noop = (): void => {}

/**
 * HTTP/2: the size of a request header list as SETTINGS_MAX_HEADER_LIST_SIZE counts it (name +
 * value + 32 per field; Node's header strings are latin1, one char per byte). nghttp2 applies
 * the limit we announce only to streams opened after the client acknowledged our SETTINGS,
 * and clients (curl, Go, browsers) send their first request before that: those streams are
 * checked here.
 */
const headerListSize = (rawHeaders: ReadonlyArray<string>): number => {
  let size = 0
  for (let i = 0; i < rawHeaders.length; i++) size += rawHeaders[i]!.length
  return size + (rawHeaders.length >> 1) * 32
}

/** nghttp2's fatal error for a header block in more than 8 CONTINUATION frames (CVE-2024-28182). */
const NGHTTP2_ERR_TOO_MANY_CONTINUATIONS = -905

/**
 * A header block in more CONTINUATION frames than nghttp2 accepts (8, fixed: Node exposes no
 * option) is a fatal session error, which Node turns into GOAWAY(INTERNAL_ERROR): send
 * ENHANCE_YOUR_CALM instead, so that the client learns it sent too much, not that the server
 * broke. Node reports binding errors through `session.destroy(error)`, hence the wrapper.
 */
const calmOnContinuationFlood = (session: http2.ServerHttp2Session): void => {
  const destroy = session.destroy
  session.destroy = function(this: http2.ServerHttp2Session, error?: Error, code?: number) {
    if (code === undefined && (error as { errno?: unknown } | undefined)?.errno === NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
      code = http2.constants.NGHTTP2_ENHANCE_YOUR_CALM
    }
    return destroy.call(this, error, code)
  }
}

const END_STREAM: http2.ServerStreamResponseOptions = { endStream: true }
const WAIT_FOR_TRAILERS: http2.ServerStreamResponseOptions = { waitForTrailers: true }

/** False once this Node turned down a raw header list in `Http2Stream.respond` (taken since 22.x / 24). */
let rawRespond = true

/**
 * Sends the response headers: as a raw header list where Node takes one (it copies a header
 * object into a new one first), else as an object.
 */
const respondH2 = (
  stream: http2.ServerHttp2Stream,
  status: number,
  headers: Headers | undefined,
  options: http2.ServerStreamResponseOptions
): void => {
  if (rawRespond) {
    const raw: Array<string> = [":status", String(status)]
    if (headers !== undefined) NodeHeaders.toRawList(headers, raw)
    try {
      stream.respond(raw as unknown as http2.OutgoingHttpHeaders, options)
      return
    } catch (e) {
      if ((e as { code?: unknown } | undefined)?.code !== "ERR_INVALID_ARG_TYPE") throw e
      rawRespond = false
    }
  }
  const out = (headers === undefined ? {} : NodeHeaders.toNode(headers)) as http2.OutgoingHttpHeaders
  out[":status"] = status
  stream.respond(out, options)
}

/**
 * How an HTTP/2 request body maps Node's events: the peer canceled; a stream reset counts as a
 * premature end; the rest of an oversized body is discarded so the stream can complete. One
 * object for all streams (per-stream closures stayed alive as long as the stream). Its 'error'
 * and 'close' come through the exchange's listeners below (`forwarded`).
 */
const h2BodyOptions: BodyOptions = {
  ...NodeRequest.bodyOptions,
  isAborted: (readable) => (readable as http2.ServerHttp2Stream).aborted,
  onAbandon: (readable) => {
    readable.resume()
  },
  forwarded: true
}

/**
 * Where a stream keeps its exchange, for the listeners below: one set of listener functions for
 * all streams instead of closures per stream (an open stream keeps them alive).
 */
const kExchange = Symbol("@connect-effect/platform-node/H2Exchange")
type OwnedStream = http2.ServerHttp2Stream & { [kExchange]: H2Exchange }

// EventEmitter calls listeners with the emitter as `this`
/** Keeps stream errors from crashing the process, and fails the request body being read. */
function onStreamError(this: OwnedStream, error: unknown): void {
  const reader = this[kExchange].reader
  if (reader.attached) reader.onErrorEvent(error)
}
/** The exchange ends (completed or cut by the peer), then the body being read learns it. */
function onStreamClose(this: OwnedStream): void {
  const ex = this[kExchange]
  const state = ex.state
  Exchange.onClose(state, ex)
  if (ex.activity !== undefined) IdleSessions.streamClosed(state.idleSessions, ex.activity)
  if (ex.reader.attached) ex.reader.onClose()
}
function onWantTrailers(this: OwnedStream): void {
  this[kExchange].sendTrailers()
}
/**
 * The request (body) timeout expired: called as a method of the exchange (`ex.expire()`), so one
 * function serves every stream.
 */
function expireH2(this: H2Exchange): void {
  const stream = this.stream
  this.reader.fail(RequestTimeouts.requestTimeout(this.state.requestTimeouts.timeoutMs))
  setTimeout(() => {
    if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL)
  }, RequestTimeouts.CUT_AFTER_MS).unref()
}

/**
 * One HTTP/2 exchange and its response sink. Prototype methods rather than a closure per
 * callback: an open stream (an idle bidi call) keeps all of it alive.
 */
class H2Exchange extends Exchange.Exchange implements Http.ResponseSink {
  readonly stream: http2.ServerHttp2Stream
  readonly state: State
  readonly reader: BodyReader
  readonly writer: Http.ResponseWriter
  /** The stream's session activity (idle timeout), counted while the stream is open. */
  readonly activity: IdleSessions.SessionActivity | undefined
  /** The trailers sent on 'wantTrailers' (`undefined`: empty trailers). */
  endTrailers: Headers | undefined = undefined
  aborting = false
  constructor(state: State, stream: http2.ServerHttp2Stream, activity: IdleSessions.SessionActivity | undefined) {
    super()
    this.stream = stream
    this.state = state
    this.activity = activity
    this.reader = new BodyReader(stream, h2BodyOptions)
    this.writer = Http.responseWriter(this, this)
  }
  override finish(): void {
    this.writer.end()
  }
  override abort(): void {
    this.ended = true
    if (!this.headSent) {
      this.headSent = true
      this.respond(500, undefined, true)
    } else {
      this.aborting = true
      this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
    }
  }
  sendTrailers(): void {
    // when resetting, END_STREAM must not go out before RST_STREAM (it would look complete)
    if (this.aborting) return
    try {
      this.stream.sendTrailers(this.endTrailers === undefined ? NodeHeaders.EMPTY : NodeHeaders.toNode(this.endTrailers))
    } catch {
      // stream already gone
    }
  }
  waitForTrailers(): void {
    // 'wantTrailers' fires once per stream: `on` spares the `once` wrapper and its removal
    this.stream.on("wantTrailers", onWantTrailers)
  }
  respond(status: number, out: Headers | undefined, endStream: boolean): boolean {
    try {
      if (endStream) {
        respondH2(this.stream, status, out, END_STREAM)
      } else {
        respondH2(this.stream, status, out, WAIT_FOR_TRAILERS)
        this.waitForTrailers()
      }
      return true
    } catch (e) {
      this.headFailed(e)
      return false
    }
  }
  /**
   * Sending the head failed on a stream that is still open: a header Node refuses (a
   * connection-specific field such as `upgrade` set by a handler). The exchange is reset
   * (INTERNAL_ERROR) and the cause reported, so that the peer is not left waiting for an answer
   * that cannot come (nor gets Node's default head in its place).
   */
  headFailed(error: unknown): void {
    this.ended = true
    const stream = this.stream
    if (stream.destroyed || stream.closed) return
    this.aborting = true
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
    this.state.onDefect(Cause.die(error))
  }
  head(status: number, headers: Headers, body?: Uint8Array): void {
    if (body !== undefined) {
      try {
        if (body.byteLength === 0) {
          // HEADERS with END_STREAM and no DATA frame (gRPC trailers-only responses)
          respondH2(this.stream, status, headers, END_STREAM)
        } else {
          // END_STREAM goes out as an empty DATA frame (empty trailers) after the body: with
          // END_STREAM on the last DATA frame, Node closes the stream before the write
          // completes, and its Writable then builds an ERR_STREAM_DESTROYED error (a stack
          // capture, ~15 % of a small call's CPU) that nobody sees
          respondH2(this.stream, status, headers, WAIT_FOR_TRAILERS)
          this.waitForTrailers()
          this.stream.end(forWrite(body))
        }
      } catch (e) {
        this.headFailed(e)
      }
      this.reader.discard()
    } else {
      this.respond(status, headers, false)
    }
  }
  write(chunk: Uint8Array): Effect.Effect<void> {
    return this.stream.write(forWrite(chunk)) ? Effect.void : waitDrain(this.stream)
  }
  end(t?: Headers): void {
    if (Http.hasHeaders(t)) this.endTrailers = t
    this.stream.end()
    this.reader.discard()
  }
  endWithoutHead(t?: Headers): void {
    if (Http.hasHeaders(t)) {
      this.respond(200, undefined, false)
      this.end(t)
    } else {
      this.respond(200, undefined, true)
      this.reader.discard()
    }
  }
}

/**
 * Serves one HTTP/2 stream: runs `handler` as one exchange of `state`. Used by the server below
 * and by the request listener of `NodeAdapter` (the stream of a compat-API request), which
 * passes `url` when it mounted the routes under a prefix.
 */
export const handle = (
  state: State,
  handler: Exchange.Handler,
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  rawHeaders: ReadonlyArray<string>,
  url: string = headers[":path"] ?? "/"
): void => {
  const ex = new H2Exchange(state, stream, IdleSessions.streamOpened(state.idleSessions, stream))
  ;(stream as OwnedStream)[kExchange] = ex
  stream.on("error", onStreamError)
  stream.on("close", onStreamClose)
  const request = new NodeRequest.NodeRequest(headers[":method"] ?? "GET", url, "2", rawHeaders, ex.reader, ex, stream)
  RequestTimeouts.arm(state.requestTimeouts, stream, ex, expireH2)
  Exchange.run(state, handler(request, ex.writer), ex)
}

/**
 * The HTTP/2 server serving `handler`. It never listens: connections are handed to it with
 * `emit("connection", socket)`.
 */
export const make = (state: State, handler: Exchange.Handler, config: Config): Server => {
  const sessions = new Set<http2.ServerHttp2Session>()
  const server = http2.createServer({
    maxHeaderListPairs: 256,
    settings: {
      enablePush: false,
      maxHeaderListSize: config.maxHeaderSize,
      maxConcurrentStreams: config.maxConcurrentStreams,
      ...config.settings
    },
    ...(config.maxSessionMemory !== undefined ? { maxSessionMemory: config.maxSessionMemory } : {})
  })
  /** The SETTINGS_MAX_HEADER_LIST_SIZE announced to HTTP/2 clients. */
  const maxHeaderListSize = config.settings?.maxHeaderListSize ?? config.maxHeaderSize
  server.on("stream", (stream, headers, _flags, rawHeaders) => {
    if (headerListSize(rawHeaders) > maxHeaderListSize) {
      // refused as nghttp2 refuses it once our SETTINGS are acknowledged: this stream only,
      // RST_STREAM(ENHANCE_YOUR_CALM), the handler never runs
      stream.on("error", noop)
      stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM)
    } else handle(state, handler, stream, headers, rawHeaders)
  })
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session)
    calmOnContinuationFlood(session)
    session.on("error", noop)
    if (state.idleSessions.timeoutMs > 0 && !state.closing) {
      const activity = IdleSessions.watch(state.idleSessions, session)
      session.once("close", () => {
        sessions.delete(session)
        state.idleSessions.disarm(activity)
      })
    } else session.once("close", () => sessions.delete(session))
    if (state.closing) session.close()
  })
  server.on("sessionError", noop)
  return { server, sessions }
}
