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
  /** Largest request header block in bytes, for both protocols (default 16 KiB). */
  readonly maxHeaderSize?: number | undefined
  /** HTTP/1.1 keep-alive idle timeout (default 65000 ms: longer than the idle timeouts of common clients and proxies, so they close first). */
  readonly keepAliveTimeoutMs?: number | undefined
  /** Time a new connection may take to send its first bytes / request headers (default 60000 ms). */
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
  stream.on("close", () => onExchangeClose(state, ex))
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
      sweepsPerTimeout: Math.ceil(requestTimeoutMs / sweepPeriodMs) + 1
    }
    /** Open connections (for TLS: the raw socket until the handshake completes, then the TLS socket). */
    const sockets = new Set<net.Socket>()
    const http1Sockets = new Set<net.Socket>()
    /** Sockets handed to the HTTP/2 server (their sessions close them gracefully). */
    const http2Sockets = new Set<net.Socket>()
    const sessions = new Set<http2.ServerHttp2Session>()

    const h1 = http.createServer({
      maxHeaderSize,
      requestTimeout: 0,
      headersTimeout: headersTimeoutMs,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000
    }, (req, res) => handleHttp1(state, handler, req, res))
    h1.on("clientError", (err: NodeJS.ErrnoException, socket) => {
      // an oversized header block is answered 431 (as Node does by default), anything else dropped
      const busy = (socket as { _httpMessage?: unknown })._httpMessage != null // a response is being written
      if (err.code === "HPE_HEADER_OVERFLOW" && socket.writable && !busy) {
        socket.end("HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
        setTimeout(() => socket.destroy(), CUT_AFTER_MS).unref()
      } else socket.destroy()
    })

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
    h2.on("stream", (stream, headers) => handleHttp2(state, handler, stream, headers))
    h2.on("session", (session: http2.ServerHttp2Session) => {
      sessions.add(session)
      session.on("error", noop)
      session.once("close", () => sessions.delete(session))
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
      const cleanup = () => {
        socket.removeListener("data", onData)
        socket.removeListener("timeout", onTimeout)
        socket.setTimeout(0)
      }
      const onTimeout = () => socket.destroy()
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
      socket.setTimeout(headersTimeoutMs)
      socket.on("timeout", onTimeout)
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
