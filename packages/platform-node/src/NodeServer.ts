/**
 * Serves a Connect handler on Node: one TCP port speaking HTTP/1.1 and HTTP/2 with prior
 * knowledge (h2c), or HTTPS with HTTP/1.1 and HTTP/2 chosen by ALPN (optionally mutual TLS),
 * each request run as one fiber, graceful shutdown when the scope closes.
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import * as net from "node:net"
import type { Readable } from "node:stream"
import * as tls from "node:tls"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { Compressions } from "@connect-effect/core/Compression"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as Router from "@connect-effect/core/Router"
import type { ResponseWriter, ServerRequest } from "@connect-effect/core/Http"
import { BodyReader } from "./internal/body.ts"
import * as NodeHeaders from "./internal/headers.ts"
import * as NodeCompression from "./NodeCompression.ts"
import { waitDrain } from "./internal/drain.ts"
import { forWrite } from "./internal/buffer.ts"

/** What a server runs for every request. It must not fail; defects become a 500 or a reset. */
export type Handler<R> = (request: ServerRequest, writer: ResponseWriter) => Effect.Effect<void, never, R>

/**
 * TLS settings of a server (PEM). With `requestCert: true` and a `ca`, the server requires
 * client certificates signed by that CA (mutual TLS) and refuses the handshake otherwise.
 */
export interface TlsOptions {
  /** The server certificate chain. */
  readonly cert: string | Buffer
  /** The private key of `cert`. */
  readonly key: string | Buffer
  /** CAs trusted for client certificates (Node's default roots when absent). */
  readonly ca?: string | Buffer | undefined
  /** Requires and verifies a client certificate (mutual TLS). */
  readonly requestCert?: boolean | undefined
}

/** Options of {@link make}. */
export interface Options {
  /** TCP port; `0` (the default) picks a free one. */
  readonly port?: number | undefined
  /** Interface to bind (default `127.0.0.1`). */
  readonly host?: string | undefined
  /**
   * Protocols spoken on the port: `"auto"` (default) sniffs the HTTP/2 preface per connection
   * (with `tls`: offers `h2` and `http/1.1` by ALPN).
   */
  readonly http?: "1.1" | "2" | "auto" | undefined
  /** Serves HTTPS (HTTP/1.1 and HTTP/2 chosen by ALPN) instead of cleartext. */
  readonly tls?: TlsOptions | undefined
  /** How long shutdown waits for in-flight requests before interrupting them (default 5000). */
  readonly gracePeriodMs?: number | undefined
  /**
   * Largest request header block in bytes, for both protocols (default 16 KiB). HTTP/1.1: a
   * larger one is answered 431 and the connection closed. HTTP/2: announced as
   * SETTINGS_MAX_HEADER_LIST_SIZE (name + value + 32 per field); a larger list is refused with
   * RST_STREAM(ENHANCE_YOUR_CALM) on its stream only. Past nghttp2's fixed ceilings the whole
   * connection ends whatever this limit: a single name or value over 65536 bytes
   * (GOAWAY(COMPRESSION_ERROR)), a block in more than 9 frames, i.e. over 144 KiB of HPACK in
   * 16 KiB frames (GOAWAY(ENHANCE_YOUR_CALM)).
   */
  readonly maxHeaderSize?: number | undefined
  /** HTTP/1.1 keep-alive idle timeout (default 65000 ms: longer than the idle timeouts of common clients and proxies, so they close first). */
  readonly keepAliveTimeoutMs?: number | undefined
  /**
   * HTTP/2 (h2c and TLS): an idle session — no open stream — is closed after this long with
   * GOAWAY(NO_ERROR), then its socket (default: `keepAliveTimeoutMs`, so 65000 ms, one idle
   * timeout for both protocols as Go's `http.Server.IdleTimeout`; `0` keeps idle sessions open,
   * as grpc-go's default `MaxConnectionIdle`). Idle means no stream, not a quiet socket: a
   * session holding a long-lived stream that sends nothing stays open, one kept up only by
   * PINGs does not. Checked by one sweep per server every 1/8 of the timeout (at most 1 s), so
   * it fires up to two sweeps late. Clients see a graceful close and reconnect on their next call.
   */
  readonly http2IdleTimeoutMs?: number | undefined
  /**
   * Time a new connection may take to send its first bytes (TLS: to complete its handshake), and
   * an HTTP/1.1 request — the first on a connection and every later keep-alive one — to complete
   * its header block, counted from its first byte (default 60000 ms). Past it the server answers
   * `408` and closes the connection (a silent cleartext connection in `"auto"` mode is just
   * closed). Checked by Node's own sweep every 1/8 of the timeout (at most 1 s), so it fires up
   * to one sweep late.
   */
  readonly headersTimeoutMs?: number | undefined
  /**
   * Time a client has to send a whole request body, counted from the request headers, while the
   * server has not started answering (default 300000 ms, as Node's own `requestTimeout`; `0`
   * disables it). Past it the body fails with `deadline_exceeded`, the handler gets 1 s to
   * answer, then the exchange is cut (HTTP/1.1: the connection; HTTP/2: RST_STREAM CANCEL): a
   * client trickling its body (slowloris) cannot hold a request open. A stream the server has
   * answered (response headers sent) is bounded by its RPC deadline instead; raise this for
   * client-streaming uploads that last longer. Checked by one sweep per server every 1/8 of
   * the timeout (at most 1 s), so it fires up to two sweeps late.
   */
  readonly requestTimeoutMs?: number | undefined
  /**
   * HTTP/2: concurrent streams a client may open on one connection (SETTINGS_MAX_CONCURRENT_STREAMS,
   * default 1000; Node's own default is unlimited). Clients queue calls past it.
   */
  readonly maxConcurrentStreams?: number | undefined
  /** HTTP/2 settings sent to clients (merged over `enablePush: false`). */
  readonly http2Settings?: http2.Settings | undefined
  /** Per-session memory limit of the HTTP/2 server in MB (Node's default is 10). */
  readonly http2MaxSessionMemory?: number | undefined
  /** Called with the cause when a handler dies; defaults to `console.error`. */
  readonly onDefect?: ((cause: Cause.Cause<unknown>) => void) | undefined
}

/** A listening server. */
export interface Info {
  readonly port: number
  readonly host: string
  /** `http://host:port`, or `https://host:port` with `tls`. */
  readonly url: string
  /** Number of open TCP connections (both protocols). */
  readonly connections: () => number
}

/** The server could not start listening. */
export class ServeError extends Data.TaggedError("ServeError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** The running server as a service, so that tests and callers can read the bound port. */
export class NodeServer extends Context.Service<NodeServer, Info>()("@connect-effect/platform-node/NodeServer") {}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1")
const EMPTY_HEADERS: http.OutgoingHttpHeaders = {}
const noop = (): void => {}
const canceledByPeer = () => ConnectError.make("canceled", "peer closed the request")
const bodyOptions = { onError: canceledByPeer, onPrematureClose: canceledByPeer }

/**
 * Arms the request (body) timeout of one exchange; `expire` runs when the body is still
 * incomplete. One sweeping interval per server checks the armed exchanges (a Node timer per
 * request costs more than the rest of a small call's bookkeeping); it runs only while some
 * exchange is armed, and fires at most two sweep periods (1/8 of the timeout, ≤ 1 s) late.
 * Deadlines are counted in sweeps (small integers: a Date.now() stored per exchange made V8
 * box a double on every request object and kept short-lived garbage alive longer).
 */
const requestTimer = (state: State, readable: Readable, ex: Exchange, expire: () => void): void => {
  const ms = state.requestTimeoutMs
  if (ms <= 0 || readable.readableEnded) return
  ex.timedReadable = readable
  ex.expire = expire
  ex.expireAtSweep = state.sweeps + state.sweepsPerTimeout
  state.timed.add(ex)
  if (state.sweeper === undefined) state.sweeper = setInterval(() => sweep(state), state.sweepPeriodMs).unref()
}

const sweep = (state: State): void => {
  const n = ++state.sweeps
  for (const ex of state.timed) {
    // answered exchanges cannot time out any more: drop them early
    if (ex.headSent) state.timed.delete(ex)
    else if (ex.expireAtSweep <= n) {
      state.timed.delete(ex)
      if (!ex.closed && ex.timedReadable?.readableEnded === false) ex.expire?.()
    }
  }
  if (state.timed.size === 0 && state.sweeper !== undefined) {
    clearInterval(state.sweeper)
    state.sweeper = undefined
  }
}

const requestTimeout = (ms: number) =>
  ConnectError.make("deadline_exceeded", `request not received within ${ms} ms (requestTimeoutMs)`)

/** After a request timeout, the handler's time to answer before the exchange is cut. */
const CUT_AFTER_MS = 1000

/** A complete HTTP/1.1 error answer with a short text body (as Go's net/http writes them). */
const errorAnswer = (status: string): Buffer =>
  Buffer.from(
    `HTTP/1.1 ${status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${status.length}\r\nconnection: close\r\n\r\n${status}`,
    "latin1"
  )
const BAD_REQUEST = errorAnswer("400 Bad Request")
const REQUEST_TIMEOUT = errorAnswer("408 Request Timeout")
const PAYLOAD_TOO_LARGE = errorAnswer("413 Payload Too Large")
const HEADERS_TOO_LARGE = errorAnswer("431 Request Header Fields Too Large")
/** Connections already answered by {@link onClientError} (the parser keeps failing on later bytes). */
const answered = new WeakSet<object>()

/**
 * The HTTP/1.1 server's `clientError`: a request it could not parse (400; 431 for a header block
 * over `maxHeaderSize`, 413 for oversized chunk extensions) or whose headers did not arrive within
 * `headersTimeoutMs` (408). Answers as Node does by default, then closes; never over a response
 * that has started, nor to a socket that is gone (destroyed at once then). A bad request
 * pipelined behind requests still being answered is answered after them (as Go does); a header
 * timeout there closes at once (the late header block must not start a request).
 */
const onClientError = (err: NodeJS.ErrnoException, socket: import("node:stream").Duplex): void => {
  if (answered.has(socket)) return
  const timeout = err.code === "ERR_HTTP_REQUEST_TIMEOUT"
  const inFlight = (socket as { _httpMessage?: http.ServerResponse | null })._httpMessage
  // with a response in flight, the error is in its request's body, or in a request pipelined behind
  const pipelined = inFlight != null && inFlight.req.complete
  if (err.code === "ECONNRESET" || !socket.writable || (inFlight != null && (timeout || (!pipelined && inFlight.headersSent)))) {
    socket.destroy()
    return
  }
  answered.add(socket)
  const answer = timeout
    ? REQUEST_TIMEOUT
    : err.code === "HPE_HEADER_OVERFLOW"
    ? HEADERS_TOO_LARGE
    : err.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW"
    ? PAYLOAD_TOO_LARGE
    : BAD_REQUEST
  if (pipelined) answerWhenIdle(socket, answer)
  else answerAndClose(socket, answer, timeout)
}

/** Waits for the responses in flight on `socket` (Node assigns the next one on 'finish'), then answers. */
const answerWhenIdle = (socket: import("node:stream").Duplex, answer: Buffer): void => {
  const inFlight = (socket as { _httpMessage?: http.ServerResponse | null })._httpMessage
  if (inFlight != null) inFlight.once("finish", () => answerWhenIdle(socket, answer))
  else if (socket.writable) answerAndClose(socket, answer, false)
  else socket.destroy()
}

/**
 * Writes `answer` and closes our side. After a parse error the connection stays half-open, reading
 * (and discarding) for at most {@link CUT_AFTER_MS}, so that unread bytes do not turn the close into
 * a reset that loses the answer; after a timeout it is destroyed once the answer is written.
 */
const answerAndClose = (socket: import("node:stream").Duplex, answer: Buffer, timeout: boolean): void => {
  socket.end(answer, timeout ? () => socket.destroy() : undefined)
  setTimeout(() => socket.destroy(), CUT_AFTER_MS).unref()
}

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

const isEmpty = (headers: Headers): boolean => {
  for (const _ of headers.keys()) return false
  return true
}

/** Shared bookkeeping of a running server. */
interface State {
  closing: boolean
  inflight: number
  readonly fibers: Set<Fiber.Fiber<void>>
  readonly runFork: (effect: Effect.Effect<void, never, any>) => Fiber.Fiber<void>
  readonly onDefect: (cause: Cause.Cause<unknown>) => void
  onIdle: (() => void) | undefined
  /** Shutdown gave up waiting and destroyed the connections: exchanges are not answered any more. */
  killed: boolean
  /** `requestTimeoutMs` (0: off). */
  readonly requestTimeoutMs: number
  /** Exchanges whose request timeout is armed. */
  readonly timed: Set<Exchange>
  /** The interval that sweeps `timed`, while it is not empty. */
  sweeper: ReturnType<typeof setInterval> | undefined
  /** Sweeps so far (the clock of `Exchange.expireAtSweep`). */
  sweeps: number
  readonly sweepPeriodMs: number
  /** Sweeps after which an armed exchange has certainly waited `requestTimeoutMs`. */
  readonly sweepsPerTimeout: number
  /** HTTP/2 sessions without open streams, oldest idle first (while `http2IdleTimeoutMs` > 0). */
  readonly idleSessions: Set<SessionActivity>
  /** The interval that sweeps `idleSessions`, while it is not empty. */
  idleSweeper: ReturnType<typeof setInterval> | undefined
  /** Idle sweeps so far (the clock of `SessionActivity.closeAtSweep`). */
  idleSweeps: number
  readonly idleSweepPeriodMs: number
  /** Idle sweeps after which a session has certainly been idle for `http2IdleTimeoutMs`. */
  readonly idleSweepsPerTimeout: number
}

/** Streams open on one HTTP/2 session, for its idle timeout. */
interface SessionActivity {
  readonly session: http2.ServerHttp2Session
  /** Open streams: the session is idle at 0. */
  streams: number
  /** The idle sweep at which the session, still without a stream, is closed. */
  closeAtSweep: number
}

/** Where a session keeps its {@link SessionActivity} (absent when the idle timeout is off). */
const ACTIVITY = Symbol("activity")

/** The session of `stream` opened it: not idle any more. */
const streamOpened = (state: State, stream: http2.ServerHttp2Stream): SessionActivity | undefined => {
  const activity = (stream.session as { [ACTIVITY]?: SessionActivity } | undefined)?.[ACTIVITY]
  if (activity !== undefined && activity.streams++ === 0) state.idleSessions.delete(activity)
  return activity
}

const streamClosed = (state: State, activity: SessionActivity): void => {
  if (--activity.streams === 0 && !activity.session.closed) sessionIdle(state, activity)
}

/**
 * A session has no open stream: it is closed with GOAWAY(NO_ERROR) unless a stream opens within
 * `http2IdleTimeoutMs`. Counted in streams, not socket activity: Node's `session.setTimeout`
 * would close a session holding a quiet long-lived stream and spare one kept up by PINGs. One
 * interval per server sweeps the idle sessions, only while there are some; it stops at the
 * first one not yet due, as they are in the order they became idle.
 */
const sessionIdle = (state: State, activity: SessionActivity): void => {
  activity.closeAtSweep = state.idleSweeps + state.idleSweepsPerTimeout
  state.idleSessions.add(activity)
  if (state.idleSweeper === undefined) {
    state.idleSweeper = setInterval(() => sweepIdle(state), state.idleSweepPeriodMs).unref()
  }
}

const sweepIdle = (state: State): void => {
  const n = ++state.idleSweeps
  for (const activity of state.idleSessions) {
    if (activity.closeAtSweep > n) break
    state.idleSessions.delete(activity)
    const session = activity.session
    if (!session.closed && !session.destroyed) session.close()
  }
  if (state.idleSessions.size === 0 && state.idleSweeper !== undefined) {
    clearInterval(state.idleSweeper)
    state.idleSweeper = undefined
  }
}

const exchangeDone = (state: State): void => {
  state.inflight--
  if (state.inflight === 0 && state.onIdle !== undefined) state.onIdle()
}

/** Runs the handler's fiber for one exchange and wires peer-close and exit handling. */
const run = (
  state: State,
  effect: Effect.Effect<void, never, any>,
  ex: Exchange
): void => {
  state.inflight++
  const fiber = state.runFork(effect)
  ex.fiber = fiber
  state.fibers.add(fiber)
  fiber.addObserver((exit) => {
    state.fibers.delete(fiber)
    ex.fiberDone = true
    if (!ex.ended && !ex.closed && !state.killed) {
      if (Exit.isSuccess(exit)) {
        ex.finish()
      } else {
        if (!Cause.hasInterruptsOnly(exit.cause)) state.onDefect(exit.cause)
        ex.abort()
      }
    }
    if (ex.closed) exchangeDone(state)
  })
}

/** Per-request state shared by both protocols. */
interface Exchange {
  headSent: boolean
  ended: boolean
  closed: boolean
  fiberDone: boolean
  fiber: Fiber.Fiber<void> | undefined
  peerClose: Array<() => void> | undefined
  /** The sweep at which the request (body) timeout expires (armed while in `State.timed`). */
  expireAtSweep: number
  /** The request body the timeout watches. */
  timedReadable: Readable | undefined
  /** Runs when the request timeout expired (the body still incomplete, nothing answered). */
  expire: (() => void) | undefined
  /** Ends a response the handler left open after succeeding. */
  readonly finish: () => void
  /** Responds 500 when nothing was sent yet, else resets the exchange. */
  readonly abort: () => void
}

/**
 * A request as the router sees it (a class, not an object literal with getters: those are slow
 * to create). The web `Headers` are built on first use; the protocols read single headers
 * through `header` without them.
 */
class NodeRequest implements ServerRequest {
  readonly method: string
  readonly url: string
  readonly httpVersion: "1.1" | "2"
  /** HTTP/1.1: Node's `rawHeaders`. */
  readonly rawHeaders: ReadonlyArray<string> | undefined
  /** HTTP/2: Node's header object. */
  readonly objectHeaders: http2.IncomingHttpHeaders | undefined
  readonly reader: BodyReader
  readonly ex: Exchange
  webHeaders: Headers | undefined = undefined
  constructor(
    method: string,
    url: string,
    httpVersion: "1.1" | "2",
    rawHeaders: ReadonlyArray<string> | undefined,
    objectHeaders: http2.IncomingHttpHeaders | undefined,
    reader: BodyReader,
    ex: Exchange
  ) {
    this.method = method
    this.url = url
    this.httpVersion = httpVersion
    this.rawHeaders = rawHeaders
    this.objectHeaders = objectHeaders
    this.reader = reader
    this.ex = ex
  }
  get headers(): Headers {
    return (this.webHeaders ??= this.rawHeaders !== undefined
      ? NodeHeaders.fromRaw(this.rawHeaders)
      : NodeHeaders.fromObject(this.objectHeaders ?? {}))
  }
  header(name: string): string | null {
    if (this.webHeaders !== undefined) return this.webHeaders.get(name)
    return this.rawHeaders !== undefined
      ? NodeHeaders.getRaw(this.rawHeaders, name)
      : NodeHeaders.getObject(this.objectHeaders ?? {}, name)
  }
  get body(): Stream.Stream<Uint8Array, ConnectError.ConnectError> {
    return this.reader.stream
  }
  readAll(maxBytes: number): Effect.Effect<Uint8Array, ConnectError.ConnectError> {
    return this.reader.readAll(maxBytes)
  }
  onPeerClose(f: () => void): void {
    ;(this.ex.peerClose ??= []).push(f)
  }
}

const onExchangeClose = (state: State, ex: Exchange): void => {
  if (ex.closed) return
  ex.closed = true
  if (ex.expire !== undefined) {
    state.timed.delete(ex)
    ex.expire = undefined
  }
  if (!ex.ended) {
    const callbacks = ex.peerClose
    if (callbacks !== undefined) {
      ex.peerClose = undefined
      for (const f of callbacks) f()
    }
    if (!ex.fiberDone) ex.fiber?.interruptUnsafe()
  }
  if (ex.fiberDone) exchangeDone(state)
}

const handleHttp1 = (state: State, handler: Handler<any>, req: http.IncomingMessage, res: http.ServerResponse): void => {
  res.on("error", noop)
  const reader = new BodyReader(req, {
    ...bodyOptions,
    onAbandon: () => {
      // the rest of the body stays unread: the connection cannot be reused
      if (!res.headersSent) res.setHeader("connection", "close")
      else req.resume()
    }
  })
  const ex: Exchange = {
    headSent: false,
    ended: false,
    closed: false,
    fiberDone: false,
    fiber: undefined,
    peerClose: undefined,
    expireAtSweep: 0,
    timedReadable: undefined,
    expire: undefined,
    finish: () => writer.end(),
    abort: () => {
      if (!ex.headSent) {
        ex.headSent = true
        ex.ended = true
        res.writeHead(500, { "content-length": 0 })
        res.end()
      } else {
        ex.ended = true
        res.destroy()
      }
    }
  }
  const writer: ResponseWriter = {
    head: (status, headers, body) => {
      if (ex.headSent || ex.closed) return
      ex.headSent = true
      const out = NodeHeaders.toNode(headers)
      if (state.closing) out["connection"] = "close"
      if (body !== undefined) {
        ex.ended = true
        // a 204 (a CORS preflight answer) must not carry Content-Length (RFC 9110 §8.6)
        if (status !== 204) out["content-length"] = body.byteLength
        res.writeHead(status, out)
        res.end(forWrite(body))
        reader.discard()
      } else {
        res.writeHead(status, out)
      }
    },
    write: (chunk) => {
      if (ex.ended || ex.closed) return Effect.void
      if (!ex.headSent) writer.head(200, new Headers())
      return res.write(forWrite(chunk)) ? Effect.void : waitDrain(res)
    },
    end: (trailers) => {
      if (ex.ended || ex.closed) return
      const hasTrailers = trailers !== undefined && !isEmpty(trailers)
      if (!ex.headSent) {
        ex.headSent = true
        res.writeHead(
          200,
          hasTrailers ? (state.closing ? { connection: "close" } : EMPTY_HEADERS) : state.closing
          ? { "content-length": 0, connection: "close" }
          : { "content-length": 0 }
        )
      }
      ex.ended = true
      if (hasTrailers) res.addTrailers(NodeHeaders.toNode(trailers) as http.OutgoingHttpHeaders)
      res.end()
      reader.discard()
    }
  }
  const request = new NodeRequest(req.method ?? "GET", req.url ?? "/", "1.1", req.rawHeaders, undefined, reader, ex)
  res.on("close", () => onExchangeClose(state, ex))
  requestTimer(state, req, ex, () => {
    if (!res.headersSent) res.setHeader("connection", "close")
    reader.fail(requestTimeout(state.requestTimeoutMs))
    setTimeout(() => req.socket.destroy(), CUT_AFTER_MS).unref()
  })
  run(state, handler(request, writer), ex)
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

const handleHttp2 = (
  state: State,
  handler: Handler<any>,
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders
): void => {
  stream.on("error", noop)
  let trailers: Headers | undefined
  let aborting = false
  const sendTrailers = () => {
    // when resetting, END_STREAM must not go out before RST_STREAM (it would look complete)
    if (aborting) return
    try {
      stream.sendTrailers(trailers === undefined ? EMPTY_HEADERS : NodeHeaders.toNode(trailers))
    } catch {
      // stream already gone
    }
  }
  const reader = new BodyReader(stream, {
    ...bodyOptions,
    isAborted: () => stream.aborted,
    // discard the rest of an oversized body so the stream can complete
    onAbandon: () => stream.resume()
  })
  const respond = (status: number, out: Headers | undefined, endStream: boolean): boolean => {
    try {
      if (endStream) {
        respondH2(stream, status, out, END_STREAM)
      } else {
        respondH2(stream, status, out, WAIT_FOR_TRAILERS)
        // 'wantTrailers' fires once per stream: `on` spares the `once` wrapper and its removal
        stream.on("wantTrailers", sendTrailers)
      }
      return true
    } catch {
      return false
    }
  }
  const ex: Exchange = {
    headSent: false,
    ended: false,
    closed: false,
    fiberDone: false,
    fiber: undefined,
    peerClose: undefined,
    expireAtSweep: 0,
    timedReadable: undefined,
    expire: undefined,
    finish: () => writer.end(),
    abort: () => {
      ex.ended = true
      if (!ex.headSent) {
        ex.headSent = true
        respond(500, undefined, true)
      } else {
        aborting = true
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
      }
    }
  }
  const writer: ResponseWriter = {
    head: (status, headers, body) => {
      if (ex.headSent || ex.closed) return
      ex.headSent = true
      if (body !== undefined) {
        ex.ended = true
        try {
          if (body.byteLength === 0) {
            // HEADERS with END_STREAM and no DATA frame (gRPC trailers-only responses)
            respondH2(stream, status, headers, END_STREAM)
          } else {
            // END_STREAM goes out as an empty DATA frame (empty trailers) after the body: with
            // END_STREAM on the last DATA frame, Node closes the stream before the write
            // completes, and its Writable then builds an ERR_STREAM_DESTROYED error (a stack
            // capture, ~15 % of a small call's CPU) that nobody sees
            respondH2(stream, status, headers, WAIT_FOR_TRAILERS)
            stream.on("wantTrailers", sendTrailers)
            stream.end(forWrite(body))
          }
        } catch {
          // stream already gone
        }
        reader.discard()
      } else {
        respond(status, headers, false)
      }
    },
    write: (chunk) => {
      if (ex.ended || ex.closed) return Effect.void
      if (!ex.headSent) writer.head(200, new Headers())
      return stream.write(forWrite(chunk)) ? Effect.void : waitDrain(stream)
    },
    end: (t) => {
      if (ex.ended || ex.closed) return
      ex.ended = true
      const hasTrailers = t !== undefined && !isEmpty(t)
      if (!ex.headSent) {
        ex.headSent = true
        if (!hasTrailers) {
          respond(200, undefined, true)
          reader.discard()
          return
        }
        respond(200, undefined, false)
      }
      if (hasTrailers) trailers = t
      stream.end()
      reader.discard()
    }
  }
  const request = new NodeRequest(headers[":method"] ?? "GET", headers[":path"] ?? "/", "2", undefined, headers, reader, ex)
  const activity = streamOpened(state, stream)
  stream.on("close", () => {
    onExchangeClose(state, ex)
    if (activity !== undefined) streamClosed(state, activity)
  })
  requestTimer(state, stream, ex, () => {
    reader.fail(requestTimeout(state.requestTimeoutMs))
    setTimeout(() => {
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL)
    }, CUT_AFTER_MS).unref()
  })
  run(state, handler(request, writer), ex)
}

const formatUrl = (scheme: string, host: string, port: number): string =>
  host.includes(":") ? `${scheme}://[${host}]:${port}` : `${scheme}://${host}:${port}`

/**
 * Listens and serves `handler` until the scope closes. Closing the scope stops accepting
 * connections, lets in-flight requests finish for up to `gracePeriodMs`, then interrupts
 * the remaining handlers and destroys the connections.
 */
export const make = <R>(
  handler: Handler<R>,
  options: Options = {}
): Effect.Effect<Info, ServeError, R | Scope.Scope> =>
  Effect.flatMap(Effect.context<R>(), (context) => {
    const host = options.host ?? "127.0.0.1"
    const mode = options.http ?? "auto"
    const gracePeriodMs = options.gracePeriodMs ?? 5000
    const headersTimeoutMs = options.headersTimeoutMs ?? 60_000
    const maxHeaderSize = options.maxHeaderSize ?? 16 * 1024
    const requestTimeoutMs = options.requestTimeoutMs ?? 300_000
    const sweepPeriodMs = Math.min(1000, Math.max(10, Math.floor(requestTimeoutMs / 8)))
    const http2IdleTimeoutMs = options.http2IdleTimeoutMs ?? options.keepAliveTimeoutMs ?? 65_000
    const idleSweepPeriodMs = Math.min(1000, Math.max(10, Math.floor(http2IdleTimeoutMs / 8)))
    const state: State = {
      closing: false,
      inflight: 0,
      fibers: new Set(),
      runFork: Effect.runForkWith(context) as unknown as State["runFork"],
      onDefect: options.onDefect ?? ((cause) => console.error("[connect-effect] handler defect", Cause.pretty(cause))),
      onIdle: undefined,
      killed: false,
      requestTimeoutMs,
      timed: new Set(),
      sweeper: undefined,
      sweeps: 0,
      sweepPeriodMs,
      sweepsPerTimeout: Math.ceil(requestTimeoutMs / sweepPeriodMs) + 1,
      idleSessions: new Set(),
      idleSweeper: undefined,
      idleSweeps: 0,
      idleSweepPeriodMs,
      idleSweepsPerTimeout: Math.ceil(http2IdleTimeoutMs / idleSweepPeriodMs) + 1
    }
    /** Open connections (for TLS: the raw socket until the handshake completes, then the TLS socket). */
    const sockets = new Set<net.Socket>()
    const http1Sockets = new Set<net.Socket>()
    /** Sockets handed to the HTTP/2 server (their sessions close them gracefully). */
    const http2Sockets = new Set<net.Socket>()
    const sessions = new Set<http2.ServerHttp2Session>()

    const h1 = http.createServer({
      maxHeaderSize,
      // bodies have their own timeout (requestTimeoutMs, counted from the headers, answered 504)
      requestTimeout: 0,
      headersTimeout: headersTimeoutMs,
      // Node checks every connection's header deadline in one sweep per server, every 30 s by
      // default: here every 1/8 of the timeout (at most 1 s), so it fires at most that late
      connectionsCheckingInterval: headersTimeoutMs > 0 ? Math.min(1000, Math.max(10, Math.floor(headersTimeoutMs / 8))) : 30_000,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000
    }, (req, res) => handleHttp1(state, handler, req, res))
    h1.on("clientError", onClientError)
    // h1 never listens (connections are handed to it), and Node starts tracking connections and
    // the sweep that enforces headersTimeout on 'listening' (without it, a client trickling its
    // header bytes holds a connection forever): start them as listen() would. Stopped by
    // h1.close() when the server has shut down.
    h1.emit("listening")

    const h2 = http2.createServer({
      maxHeaderListPairs: 256,
      settings: {
        enablePush: false,
        maxHeaderListSize: maxHeaderSize,
        maxConcurrentStreams: options.maxConcurrentStreams ?? 1000,
        ...options.http2Settings
      },
      ...(options.http2MaxSessionMemory !== undefined ? { maxSessionMemory: options.http2MaxSessionMemory } : {})
    })
    /** The SETTINGS_MAX_HEADER_LIST_SIZE announced to HTTP/2 clients. */
    const maxHeaderListSize = options.http2Settings?.maxHeaderListSize ?? maxHeaderSize
    h2.on("stream", (stream, headers, _flags, rawHeaders) => {
      if (headerListSize(rawHeaders) > maxHeaderListSize) {
        // refused as nghttp2 refuses it once our SETTINGS are acknowledged: this stream only,
        // RST_STREAM(ENHANCE_YOUR_CALM), the handler never runs
        stream.on("error", noop)
        stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM)
      } else handleHttp2(state, handler, stream, headers)
    })
    h2.on("session", (session: http2.ServerHttp2Session) => {
      sessions.add(session)
      calmOnContinuationFlood(session)
      session.on("error", noop)
      if (http2IdleTimeoutMs > 0 && !state.closing) {
        const activity: SessionActivity = { session, streams: 0, closeAtSweep: 0 }
        ;(session as { [ACTIVITY]?: SessionActivity })[ACTIVITY] = activity
        sessionIdle(state, activity)
        session.once("close", () => {
          sessions.delete(session)
          state.idleSessions.delete(activity)
        })
      } else session.once("close", () => sessions.delete(session))
      if (state.closing) session.close()
    })
    h2.on("sessionError", noop)

    const toHttp1 = (socket: net.Socket) => {
      http1Sockets.add(socket)
      h1.emit("connection", socket)
    }

    const toHttp2 = (socket: net.Socket) => {
      http2Sockets.add(socket)
      h2.emit("connection", socket)
    }

    const sniff = (socket: net.Socket) => {
      let seen: Buffer | undefined
      // one deadline from the accept, not an inactivity timer: a client dripping the preface a
      // byte at a time must not hold the connection longer than headersTimeoutMs
      const timer = headersTimeoutMs > 0 ? setTimeout(() => socket.destroy(), headersTimeoutMs).unref() : undefined
      const cleanup = () => {
        socket.removeListener("data", onData)
        socket.removeListener("close", cleanup)
        clearTimeout(timer)
      }
      const onData = (chunk: Buffer) => {
        const buf: Buffer = seen === undefined ? chunk : Buffer.concat([seen, chunk])
        const n = Math.min(buf.length, PREFACE.length)
        const isH2 = buf.compare(PREFACE, 0, n, 0, n) === 0
        if (isH2 && buf.length < PREFACE.length) {
          seen = buf
          return
        }
        cleanup()
        socket.pause()
        socket.unshift(buf)
        if (isH2) {
          // the HTTP/2 session reads the unshifted bytes itself
          toHttp2(socket)
        } else {
          toHttp1(socket)
          socket.resume()
        }
      }
      socket.once("close", cleanup)
      socket.on("data", onData)
    }

    const track = (socket: net.Socket) => {
      sockets.add(socket)
      socket.on("error", noop)
      socket.once("close", () => {
        sockets.delete(socket)
        http1Sockets.delete(socket)
        http2Sockets.delete(socket)
      })
    }

    const onConnection = (socket: net.Socket) => {
      track(socket)
      if (state.closing) {
        socket.destroy()
        return
      }
      if (mode === "1.1") toHttp1(socket)
      else if (mode === "2") toHttp2(socket)
      else sniff(socket)
    }

    /** A TLS connection completed its handshake: dispatch by the ALPN protocol. */
    const onSecureConnection = (socket: tls.TLSSocket) => {
      // the TLS socket replaces the raw one counted since the first byte
      const raw = (socket as unknown as { readonly _parent?: net.Socket | null })._parent
      if (raw != null) sockets.delete(raw)
      track(socket)
      if (state.closing) {
        socket.destroy()
        return
      }
      if (mode === "2" || (mode === "auto" && socket.alpnProtocol === "h2")) toHttp2(socket)
      else toHttp1(socket)
    }

    const tlsOptions = options.tls
    const server: net.Server = tlsOptions === undefined
      ? net.createServer({ noDelay: true }, onConnection)
      : tls.createServer({
        noDelay: true,
        ALPNProtocols: mode === "1.1" ? ["http/1.1"] : mode === "2" ? ["h2"] : ["h2", "http/1.1"],
        cert: tlsOptions.cert,
        key: tlsOptions.key,
        ...(tlsOptions.ca !== undefined ? { ca: tlsOptions.ca } : {}),
        requestCert: tlsOptions.requestCert === true,
        rejectUnauthorized: tlsOptions.requestCert === true,
        handshakeTimeout: headersTimeoutMs
      }, onSecureConnection)
    if (tlsOptions !== undefined) {
      // connections are counted (and destroyed on shutdown) from the first byte
      server.on("connection", (socket: net.Socket) => {
        if (state.closing) socket.destroy()
        else track(socket)
      })
      server.on("tlsClientError", noop)
    }

    const listen = Effect.callback<Info, ServeError>((resume) => {
      const onError = (error: Error) => {
        h1.close()
        resume(Effect.fail(new ServeError({ message: `cannot listen on ${host}:${options.port ?? 0}: ${error.message}`, cause: error })))
      }
      server.once("error", onError)
      server.listen({ port: options.port ?? 0, host }, () => {
        server.removeListener("error", onError)
        server.on("error", noop)
        const address = server.address() as net.AddressInfo
        resume(Effect.succeed({
          port: address.port,
          host,
          url: formatUrl(tlsOptions === undefined ? "http" : "https", host, address.port),
          connections: () => sockets.size
        }))
      })
    })

    const shutdown = Effect.callback<void>((resume) => {
      state.closing = true
      let finished = false
      let graceTimer: ReturnType<typeof setTimeout> | undefined
      let forceTimer: ReturnType<typeof setTimeout> | undefined
      const finish = () => {
        if (finished) return
        finished = true
        if (graceTimer !== undefined) clearTimeout(graceTimer)
        if (forceTimer !== undefined) clearTimeout(forceTimer)
        state.onIdle = undefined
        // stops the header-timeout sweep started by h1.emit("listening")
        h1.close()
        resume(Effect.void)
      }
      server.close(() => finish())
      h1.closeIdleConnections()
      for (const session of sessions) session.close()
      const onIdle = () => {
        // every exchange is done: finish the idle HTTP/1.1 connections gracefully
        h1.closeIdleConnections()
        for (const socket of http1Sockets) socket.end()
        // connections still sniffing or handshaking; HTTP/2 sessions close themselves after GOAWAY
        for (const socket of sockets) if (!http1Sockets.has(socket) && !http2Sockets.has(socket)) socket.destroy()
      }
      state.onIdle = onIdle
      if (state.inflight === 0) onIdle()
      graceTimer = setTimeout(() => {
        graceTimer = undefined
        // the connections go away first, so that clients see the server leaving (`unavailable`)
        // rather than a reset of each exchange; then the remaining handlers are interrupted.
        // Sockets before sessions: a destroyed HTTP/2 session resets its streams with
        // RST_STREAM(NO_ERROR), which Node clients take for a complete response.
        state.killed = true
        for (const socket of sockets) socket.destroy()
        for (const session of sessions) session.destroy()
        for (const fiber of Array.from(state.fibers)) fiber.interruptUnsafe()
        forceTimer = setTimeout(() => {
          forceTimer = undefined
          for (const socket of sockets) socket.destroy()
        }, 1000)
      }, gracePeriodMs)
      return Effect.sync(finish)
    })

    return Effect.acquireRelease(listen, () => shutdown)
  })

/** Serves `handler` for the lifetime of the layer and provides the bound address as {@link NodeServer}. */
export const layer = <R>(handler: Handler<R>, options?: Options): Layer.Layer<NodeServer, ServeError, R> =>
  Layer.effect(NodeServer, make(handler, options))

/**
 * Serves a `Router` (or an effect building one, such as `Router.fromServices`) for the
 * lifetime of the layer. Compressions default to the provided `Compressions` reference, or
 * to gzip, br and zstd when none was provided.
 */
export const layerRouter = <R, E = never, R2 = never>(
  router: Router.Router<R> | Effect.Effect<Router.Router<R>, E, R2>,
  options: Options & Router.ServerOptions = {}
): Layer.Layer<NodeServer, ServeError | E, R | R2> =>
  Layer.effect(
    NodeServer,
    Effect.gen(function*() {
      const r = Effect.isEffect(router) ? yield* router : router
      const provided = yield* Effect.service(Compressions)
      const handler = yield* Router.toHttpHandler(r, {
        ...options,
        compressions: options.compressions ?? (provided.length > 0 ? provided : NodeCompression.all)
      })
      return yield* make(handler, options)
    })
  )
