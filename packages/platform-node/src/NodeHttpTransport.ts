/**
 * Client `HttpTransport`s over `node:http`/`node:https` (HTTP/1.1, keep-alive agent) and
 * `node:http2` (one reused session per authority, full duplex).
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import * as https from "node:https"
import type * as tls from "node:tls"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import type { ClientRequest, ClientResponse } from "@connect-effect/core/Http"
import { HttpTransport } from "@connect-effect/core/Http"
import { BodyReader } from "./internal/body.ts"
import * as NodeHeaders from "./internal/headers.ts"
import { waitDrain } from "./internal/drain.ts"
import { forWrite } from "./internal/buffer.ts"

/**
 * TLS settings of a client, used for `https:` URLs (PEM). `cert` and `key` present a client
 * certificate (mutual TLS).
 */
export interface TlsOptions {
  /** CAs trusted for the server certificate (Node's default roots when absent). */
  readonly ca?: string | Buffer | undefined
  /** Client certificate chain. */
  readonly cert?: string | Buffer | undefined
  /** Private key of `cert`. */
  readonly key?: string | Buffer | undefined
  /** Server name for SNI and certificate verification (default: the URL's host). */
  readonly serverName?: string | undefined
  /** Verifies the server certificate (default `true`). */
  readonly rejectUnauthorized?: boolean | undefined
}

/** Options of {@link layerHttp1}. */
export interface Http1Options {
  /** Maximum sockets per origin (default: unlimited). */
  readonly maxSockets?: number | undefined
  /** Maximum idle sockets kept per origin (default 256). */
  readonly maxFreeSockets?: number | undefined
  /** TCP keep-alive initial delay for pooled sockets (default 1000 ms). */
  readonly keepAliveMsecs?: number | undefined
  /** TLS settings for `https:` URLs. */
  readonly tls?: TlsOptions | undefined
}

/** Options of {@link layerHttp2}. */
export interface Http2Options {
  /** Sends a PING this often on every session; `0` (the default) disables keepalive pings. */
  readonly pingIntervalMs?: number | undefined
  /** A session whose PING is not acknowledged within this time is closed (default 15000 ms). */
  readonly pingTimeoutMs?: number | undefined
  /** A session without open streams for this long is closed (default 60000 ms). */
  readonly idleTimeoutMs?: number | undefined
  /** HTTP/2 settings sent to servers (merged over `enablePush: false`). */
  readonly settings?: http2.Settings | undefined
  /** TLS settings for `https:` URLs. */
  readonly tls?: TlsOptions | undefined
  /** Called with every new session (for instrumentation: logging, metrics, tests). */
  readonly onSession?: ((session: http2.ClientHttp2Session) => void) | undefined
}

/** Options of {@link layer}. */
export type Options =
  | ({ readonly httpVersion: "1.1" } & Http1Options)
  | ({ readonly httpVersion: "2" } & Http2Options)

const noop = (): void => {}

type Resume<A> = (effect: Effect.Effect<A, ConnectError.ConnectError>) => void

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_PING_CANCEL",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_HTTP2_ERROR",
  "ERR_SOCKET_CLOSED",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET"
])

/** Certificate verification failures reported by `node:tls` (OpenSSL X509 codes). */
const CERT_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "PATH_LENGTH_EXCEEDED",
  "HOSTNAME_MISMATCH"
])

/** A TLS handshake or certificate error: `unavailable`, with OpenSSL's reason when it has one. */
const fromTlsError = (e: { code?: unknown; message?: unknown; reason?: unknown; library?: unknown }) => {
  const code = typeof e.code === "string" ? e.code : undefined
  const isTls = code !== undefined &&
    (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || CERT_CODES.has(code))
  if (!isTls && e.library !== "SSL routines") return undefined
  const detail = typeof e.reason === "string" && e.reason !== ""
    ? e.reason
    : typeof e.message === "string"
    ? e.message
    : String(e)
  return ConnectError.make("unavailable", `tls: ${detail}${code !== undefined ? ` (${code})` : ""}`)
}

/** A Node error (socket, DNS, TLS, HTTP/2 session) as a `ConnectError`. */
const fromNodeError = (error: unknown): ConnectError.ConnectError => {
  if (ConnectError.isConnectError(error)) return error
  const e = error as { code?: unknown; message?: unknown; syscall?: unknown; cause?: unknown }
  if (e?.cause !== undefined && e.cause !== null) {
    // e.g. ERR_HTTP2_STREAM_CANCEL caused by ECONNREFUSED
    const cause = fromNodeError(e.cause)
    if (cause.code === "unavailable") return cause
  }
  if (typeof e === "object" && e !== null) {
    const tlsError = fromTlsError(e)
    if (tlsError !== undefined) return tlsError
  }
  const message = typeof e?.message === "string" ? e.message : String(error)
  if (typeof e?.code === "string" && NETWORK_CODES.has(e.code)) {
    const unavailable = ConnectError.make("unavailable", message)
    // a failed connect or DNS lookup: no byte of the request left this process
    return e.syscall === "connect" || e.syscall === "getaddrinfo" ? ConnectError.notSent(unavailable) : unavailable
  }
  if (message === "socket hang up" || typeof e?.syscall === "string") return ConnectError.make("unavailable", message)
  return ConnectError.make("internal", message)
}

/** An HTTP/2 RST_STREAM code received from the server as a `ConnectError`. */
const fromRstCode = (rstCode: number | undefined): ConnectError.ConnectError => {
  const c = http2.constants
  switch (rstCode) {
    case c.NGHTTP2_CANCEL:
      return ConnectError.make("canceled", "http/2 stream canceled by the server (RST_STREAM CANCEL)")
    case c.NGHTTP2_REFUSED_STREAM:
      // RFC 9113 §8.7: a refused stream was not processed
      return ConnectError.notSent(
        ConnectError.make("unavailable", "http/2 stream refused by the server (RST_STREAM REFUSED_STREAM)")
      )
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      return ConnectError.make("resource_exhausted", "http/2 stream reset by the server (ENHANCE_YOUR_CALM)")
    case c.NGHTTP2_INADEQUATE_SECURITY:
      return ConnectError.make("permission_denied", "http/2 stream reset by the server (INADEQUATE_SECURITY)")
    default:
      return ConnectError.make("internal", `http/2 stream closed with error code ${rstCode ?? "unknown"}`)
  }
}

const canceledByClient = () => ConnectError.make("canceled", "the call was canceled")

/**
 * Writes a streaming request body with backpressure, then ends the request. A failing body
 * aborts the exchange with its error.
 */
const writeBody = (
  body: Stream.Stream<Uint8Array, ConnectError.ConnectError>,
  writable: NodeJS.WritableStream & NodeJS.EventEmitter & { readonly destroyed: boolean },
  onFailure: (error: ConnectError.ConnectError) => void
): Effect.Effect<void> =>
  Stream.runForEachArray(body, (chunks) => {
    if (writable.destroyed) return Effect.void
    let ok = true
    for (const chunk of chunks) ok = writable.write(forWrite(chunk))
    return ok ? Effect.void : waitDrain(writable)
  }).pipe(
    Effect.matchEffect({
      onFailure: (error) => Effect.sync(() => onFailure(error)),
      onSuccess: () => Effect.sync(() => writable.destroyed || writable.end())
    })
  )

/** Parsed URL parts, cached per URL string (RPC clients call few distinct URLs). */
interface Target {
  readonly https: boolean
  readonly hostname: string
  readonly port: number
  readonly path: string
  readonly origin: string
}

const targets = new Map<string, Target>()
const parseTarget = (url: string): Target => {
  let t = targets.get(url)
  if (t !== undefined) return t
  const u = new URL(url)
  const isHttps = u.protocol === "https:"
  t = {
    https: isHttps,
    hostname: u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname,
    port: u.port === "" ? (isHttps ? 443 : 80) : Number(u.port),
    path: u.pathname + u.search,
    origin: u.origin
  }
  if (targets.size >= 1024) targets.clear()
  targets.set(url, t)
  return t
}

const invalidUrl = (url: string, e: unknown) =>
  ConnectError.make("invalid_argument", `invalid url ${url}: ${e instanceof Error ? e.message : String(e)}`)

/** {@link TlsOptions} as `tls.connect` options. */
const tlsConnectOptions = (options: TlsOptions | undefined): tls.ConnectionOptions => {
  const out: tls.ConnectionOptions = {}
  if (options === undefined) return out
  if (options.ca !== undefined) out.ca = options.ca
  if (options.cert !== undefined) out.cert = options.cert
  if (options.key !== undefined) out.key = options.key
  if (options.serverName !== undefined) out.servername = options.serverName
  if (options.rejectUnauthorized !== undefined) out.rejectUnauthorized = options.rejectUnauthorized
  return out
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1
// ---------------------------------------------------------------------------------------------

interface Agents {
  readonly http: http.Agent
  readonly https: https.Agent
}

interface Http1Call {
  readonly req: http.ClientRequest
  readonly response: Effect.Effect<ClientResponse, ConnectError.ConnectError>
  /** Aborts the exchange with an error of the request body. */
  readonly fail: (error: ConnectError.ConnectError) => void
  readonly release: () => void
}

const startHttp1 = (agents: Agents, target: Target, request: ClientRequest): Http1Call => {
  const headers = NodeHeaders.toNode(request.headers)
  const body = request.body
  if (body instanceof Uint8Array && headers["content-length"] === undefined) {
    headers["content-length"] = body.byteLength
  }
  const options: http.RequestOptions = {
    method: request.method,
    hostname: target.hostname,
    port: target.port,
    path: target.path,
    headers
  }
  const req = target.https
    ? https.request({ ...options, agent: agents.https })
    : http.request({ ...options, agent: agents.http })

  let res: http.IncomingMessage | undefined
  let responseReady: ClientResponse | undefined
  let reader: BodyReader | undefined
  let resume: Resume<ClientResponse> | undefined
  let failure: ConnectError.ConnectError | undefined
  let canceled = false
  let requestFinished = false
  let released = false

  const fail = (error: ConnectError.ConnectError) => {
    if (failure === undefined) failure = error
    const r = resume
    if (r !== undefined) {
      resume = undefined
      r(Effect.fail(failure))
    }
  }

  req.on("error", (error) => {
    if (res === undefined) fail(canceled ? canceledByClient() : fromNodeError(error))
  })
  req.on("close", () => {
    if (res === undefined) fail(canceled ? canceledByClient() : ConnectError.make("unavailable", "socket hang up"))
  })
  req.on("finish", () => {
    requestFinished = true
  })
  req.on("response", (incoming: http.IncomingMessage) => {
    res = incoming
    reader = new BodyReader(incoming, {
      deferEnd: true,
      onError: (e) => (canceled ? canceledByClient() : failure ?? fromNodeError(e)),
      onPrematureClose: () =>
        canceled
          ? canceledByClient()
          : failure ?? ConnectError.make("unavailable", "connection closed before the response ended")
    })
    const trailers: Effect.Effect<Headers> = Effect.suspend(() =>
      incoming.complete
        ? Effect.succeed(NodeHeaders.fromRaw(incoming.rawTrailers))
        : Effect.callback<Headers>((resume) => {
          const done = () => {
            incoming.removeListener("end", done)
            incoming.removeListener("close", done)
            resume(Effect.succeed(NodeHeaders.fromRaw(incoming.rawTrailers)))
          }
          incoming.on("end", done)
          incoming.on("close", done)
          return Effect.sync(() => {
            incoming.removeListener("end", done)
            incoming.removeListener("close", done)
          })
        })
    )
    const r = resume
    resume = undefined
    const bodyReader = reader
    const response: ClientResponse = {
      status: incoming.statusCode ?? 0,
      headers: NodeHeaders.fromRaw(incoming.rawHeaders),
      body: reader.stream,
      trailers,
      readAll: (maxBytes) => bodyReader.readAll(maxBytes)
    }
    if (r !== undefined) r(Effect.succeed(response))
    else responseReady = response
  })

  if (body === undefined) req.end()
  else if (body instanceof Uint8Array) req.end(forWrite(body))
  else req.flushHeaders()

  return {
    req,
    response: Effect.suspend(() => {
      if (responseReady !== undefined) return Effect.succeed(responseReady)
      if (failure !== undefined) return Effect.fail(failure)
      return Effect.callback<ClientResponse, ConnectError.ConnectError>((r) => {
        resume = r
      })
    }),
    fail: (error) => {
      failure ??= error
      reader?.fail(error)
      fail(error)
      req.destroy()
    },
    release: () => {
      if (released) return
      released = true
      if (res !== undefined && res.complete && requestFinished) {
        // the exchange is over: let the socket go back to the pool
        if (!res.readableEnded) res.resume()
        return
      }
      canceled = true
      failure ??= canceledByClient()
      req.destroy()
    }
  }
}

const requestHttp1 = (
  agents: Agents,
  request: ClientRequest
): Effect.Effect<ClientResponse, ConnectError.ConnectError, Scope.Scope> =>
  Effect.suspend(() => {
    let target: Target
    try {
      target = parseTarget(request.url)
    } catch (e) {
      return Effect.fail(invalidUrl(request.url, e))
    }
    return Effect.acquireRelease(
      Effect.sync(() => startHttp1(agents, target, request)),
      (call) => Effect.sync(call.release)
    ).pipe(
      Effect.flatMap((call) => {
        const body = request.body
        if (body === undefined || body instanceof Uint8Array) return call.response
        return Effect.andThen(Effect.forkScoped(writeBody(body, call.req, call.fail)), call.response)
      })
    )
  })

/**
 * An `HttpTransport` over `node:http` / `node:https` with keep-alive agents owned by the
 * layer (destroyed when it is released).
 */
export const layerHttp1 = (options: Http1Options = {}): Layer.Layer<HttpTransport> =>
  Layer.effect(
    HttpTransport,
    Effect.map(
      Effect.acquireRelease(
        Effect.sync((): Agents => {
          const agentOptions: http.AgentOptions = {
            keepAlive: true,
            keepAliveMsecs: options.keepAliveMsecs ?? 1000,
            maxFreeSockets: options.maxFreeSockets ?? 256,
            scheduling: "lifo",
            ...(options.maxSockets !== undefined ? { maxSockets: options.maxSockets } : {})
          }
          return {
            http: new http.Agent(agentOptions),
            https: new https.Agent({ ...agentOptions, ...tlsConnectOptions(options.tls), ALPNProtocols: ["http/1.1"] })
          }
        }),
        (agents) =>
          Effect.sync(() => {
            agents.http.destroy()
            agents.https.destroy()
          })
      ),
      (agents) => ({ request: (request: ClientRequest) => requestHttp1(agents, request) })
    )
  )

// ---------------------------------------------------------------------------------------------
// HTTP/2
// ---------------------------------------------------------------------------------------------

/** One pooled HTTP/2 session. */
interface Session {
  readonly origin: string
  readonly session: http2.ClientHttp2Session
  active: number
  dead: boolean
  /** Last stream id the server promised to process, once it sent GOAWAY. */
  goawayLastStreamId: number | undefined
  idleTimer: ReturnType<typeof setTimeout> | undefined
  pingTimer: ReturnType<typeof setInterval> | undefined
}

/** Sessions by origin: created on demand, reused, dropped once closed, errored or sent GOAWAY. */
class SessionPool {
  readonly options: Http2Options
  readonly sessions = new Map<string, Session>()
  readonly all = new Set<Session>()
  closed = false

  constructor(options: Http2Options) {
    this.options = options
  }

  get(origin: string): Session {
    const existing = this.sessions.get(origin)
    if (existing !== undefined && !existing.dead && !existing.session.closed && !existing.session.destroyed) {
      return existing
    }
    return this.connect(origin)
  }

  private connect(origin: string): Session {
    const session = http2.connect(origin, {
      ...tlsConnectOptions(this.options.tls),
      ALPNProtocols: ["h2"],
      settings: { enablePush: false, ...this.options.settings }
    })
    const entry: Session = {
      origin,
      session,
      active: 0,
      dead: false,
      goawayLastStreamId: undefined,
      idleTimer: undefined,
      pingTimer: undefined
    }
    this.sessions.set(origin, entry)
    this.all.add(entry)
    const retire = () => this.retire(entry)
    session.on("error", retire)
    session.on("goaway", (_code: number, lastStreamId: number) => {
      entry.goawayLastStreamId = lastStreamId
      retire()
    })
    session.once("close", () => {
      retire()
      this.all.delete(entry)
    })
    const pingIntervalMs = this.options.pingIntervalMs ?? 0
    if (pingIntervalMs > 0) {
      const pingTimeoutMs = this.options.pingTimeoutMs ?? 15_000
      let pinging = false
      entry.pingTimer = setInterval(() => {
        // one PING at a time: an unanswered one is judged by its own timeout
        // a draining session (GOAWAY received) keeps pinging while its streams finish
        if (pinging || session.destroyed || session.connecting) return
        const timeout = setTimeout(() => {
          const error = Object.assign(new Error("http/2 keepalive ping timed out"), { code: "ERR_HTTP2_PING_CANCEL" })
          session.destroy(error)
        }, pingTimeoutMs)
        timeout.unref()
        pinging = true
        try {
          const sent = session.ping((error) => {
            pinging = false
            clearTimeout(timeout)
            if (error !== null && !session.destroyed) session.destroy(error)
          })
          if (!sent) {
            pinging = false
            clearTimeout(timeout)
          }
        } catch {
          pinging = false
          clearTimeout(timeout)
        }
      }, pingIntervalMs)
      entry.pingTimer.unref()
    }
    this.options.onSession?.(session)
    return entry
  }

  private retire(entry: Session): void {
    if (!entry.dead) {
      entry.dead = true
      if (this.sessions.get(entry.origin) === entry) this.sessions.delete(entry.origin)
    }
    if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer)
    entry.idleTimer = undefined
    if (entry.active === 0 || entry.session.destroyed) this.stopPing(entry)
    if (entry.active === 0 && !entry.session.closed && !entry.session.destroyed) entry.session.close()
  }

  private stopPing(entry: Session): void {
    if (entry.pingTimer !== undefined) clearInterval(entry.pingTimer)
    entry.pingTimer = undefined
  }

  /** A stream is opened on the session. */
  acquire(entry: Session): void {
    if (entry.active++ === 0) {
      if (entry.idleTimer !== undefined) {
        clearTimeout(entry.idleTimer)
        entry.idleTimer = undefined
      }
      entry.session.ref()
    }
  }

  /** A stream of the session closed. */
  release(entry: Session): void {
    if (--entry.active > 0) return
    if (entry.dead) {
      this.stopPing(entry)
      if (!entry.session.closed && !entry.session.destroyed) entry.session.close()
      return
    }
    entry.session.unref()
    const idleTimeoutMs = this.options.idleTimeoutMs ?? 60_000
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = undefined
      if (entry.active === 0) this.retire(entry)
    }, idleTimeoutMs)
    entry.idleTimer.unref()
  }

  /** Destroys every session (layer release). */
  destroyAll(): void {
    this.closed = true
    for (const entry of this.all) {
      this.retire(entry)
      entry.session.destroy()
    }
    this.all.clear()
    this.sessions.clear()
  }
}

interface Http2Call {
  readonly stream: http2.ClientHttp2Stream | undefined
  readonly response: Effect.Effect<ClientResponse, ConnectError.ConnectError>
  readonly fail: (error: ConnectError.ConnectError) => void
  readonly release: () => void
  /** True when the call failed before the server processed it (safe to send again). */
  readonly unprocessed: () => boolean
}

const startHttp2 = (pool: SessionPool, target: Target, request: ClientRequest): Http2Call => {
  const entry = pool.get(target.origin)
  const headers = NodeHeaders.toNode(request.headers) as http2.OutgoingHttpHeaders
  headers[":method"] = request.method
  headers[":path"] = target.path
  const body = request.body
  let stream: http2.ClientHttp2Stream
  // a streaming body ends with an empty DATA frame carrying END_STREAM ('wantTrailers'), so
  // that canceling mid-body sends RST_STREAM without a premature END_STREAM
  const streaming = body !== undefined && !(body instanceof Uint8Array)
  try {
    stream = entry.session.request(headers, { endStream: body === undefined, waitForTrailers: streaming })
  } catch (e) {
    entry.dead = true
    const error = fromNodeError(e)
    if (error.code === "internal") {
      // e.g. ERR_HTTP2_INVALID_SESSION / GOAWAY races: the connection is unusable
      const unavailable = ConnectError.make("unavailable", error.message)
      return failedCall(ConnectError.notSent(unavailable))
    }
    return failedCall(ConnectError.notSent(error))
  }
  pool.acquire(entry)

  let response: ClientResponse | undefined
  let resume: Resume<ClientResponse> | undefined
  let failure: ConnectError.ConnectError | undefined
  let canceled = false
  let released = false
  let trailers: Headers | undefined

  const streamError = (e: unknown): ConnectError.ConnectError => {
    if (canceled) return canceledByClient()
    if (failure !== undefined) return failure
    const code = (e as { code?: unknown } | undefined)?.code
    if (code === "ERR_HTTP2_STREAM_ERROR") return sessionGone() ?? fromRstCode(stream.rstCode)
    return fromNodeError(e)
  }
  // streams of a session that went away are closed locally with CANCEL: not the server's RST
  const sessionGone = (): ConnectError.ConnectError | undefined =>
    entry.session.destroyed || entry.session.socket?.destroyed === true
      ? ConnectError.make("unavailable", "http/2 connection closed")
      : undefined
  const closedEarly = (): ConnectError.ConnectError => {
    if (canceled) return canceledByClient()
    if (failure !== undefined) return failure
    const gone = sessionGone()
    if (gone !== undefined) return gone
    const rst = stream.rstCode
    if (rst === undefined || rst === http2.constants.NGHTTP2_NO_ERROR) {
      return ConnectError.make("unavailable", "http/2 stream closed before the response ended")
    }
    return fromRstCode(rst)
  }
  const fail = (error: ConnectError.ConnectError) => {
    if (failure === undefined) failure = error
    const r = resume
    if (r !== undefined) {
      resume = undefined
      r(Effect.fail(failure))
    }
  }

  const reader = new BodyReader(stream, {
    onError: streamError,
    onPrematureClose: closedEarly,
    // Node ends the readable of a stream reset (or of a connection that dropped) mid-response;
    // once the request is fully sent `aborted` stays false, but the reset code tells. A reset
    // with NO_ERROR is how a server ends an exchange whose response is complete while the
    // request is still open (RFC 9113 §8.1): not an abort — the protocol layer still notices a
    // response cut short (missing end-stream message or grpc-status).
    isAborted: () =>
      stream.rstCode !== undefined ? stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR : stream.aborted
  })
  if (streaming) {
    stream.once("wantTrailers", () => {
      if (canceled || failure !== undefined) return
      try {
        stream.sendTrailers({})
      } catch {
        // stream already gone
      }
    })
  }
  const settled = (): boolean => stream.readableEnded || stream.closed || stream.destroyed
  // Node emits 'trailers' on a nextTick, and the body's end can be seen first when the trailers
  // frame and the end of stream arrive together: give pending nextTicks one turn (setImmediate
  // runs after them) before concluding there were no trailers.
  const afterPendingEvents: Effect.Effect<Headers> = Effect.callback<Headers>((resume) => {
    const t = setImmediate(() => resume(Effect.succeed(trailers ?? new Headers())))
    return Effect.sync(() => clearImmediate(t))
  })
  const trailersEffect: Effect.Effect<Headers> = Effect.suspend(() =>
    settled()
      ? trailers !== undefined ? Effect.succeed(trailers) : afterPendingEvents
      : Effect.callback<Headers>((resume) => {
        const done = () => {
          stream.removeListener("end", done)
          stream.removeListener("close", done)
          resume(trailers !== undefined ? Effect.succeed(trailers) : afterPendingEvents)
        }
        stream.on("end", done)
        stream.on("close", done)
        return Effect.sync(() => {
          stream.removeListener("end", done)
          stream.removeListener("close", done)
        })
      })
  )

  stream.on("error", (e) => {
    if (response === undefined) fail(streamError(e))
  })
  stream.on("close", () => {
    pool.release(entry)
    if (response === undefined) fail(closedEarly())
  })
  stream.on("trailers", (h: http2.IncomingHttpHeaders) => {
    trailers = NodeHeaders.fromObject(h)
  })
  stream.on("response", (h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader) => {
    response = {
      status: h[":status"] ?? 0,
      headers: NodeHeaders.fromObject(h),
      body: reader.stream,
      trailers: trailersEffect,
      readAll: (maxBytes) => reader.readAll(maxBytes)
    }
    const r = resume
    if (r !== undefined) {
      resume = undefined
      r(Effect.succeed(response))
    }
  })

  if (body instanceof Uint8Array) stream.end(forWrite(body))

  return {
    stream,
    response: Effect.suspend(() => {
      if (response !== undefined) return Effect.succeed(response)
      if (failure !== undefined) return Effect.fail(failure)
      return Effect.callback<ClientResponse, ConnectError.ConnectError>((r) => {
        resume = r
      })
    }),
    fail: (error) => {
      failure ??= error
      reader.fail(error)
      fail(error)
      if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL)
    },
    unprocessed: () => {
      if (response !== undefined || canceled) return false
      if (stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) return true
      const last = entry.goawayLastStreamId
      return last !== undefined && (stream.id === undefined || stream.id > last)
    },
    release: () => {
      if (released) return
      released = true
      if (stream.destroyed || (stream.readableEnded && stream.writableFinished)) return
      // Node keeps a closed stream (and so its session) until the response is read to its
      // end: drop whatever nobody read
      reader.discard()
      if (stream.closed) return
      canceled = true
      stream.close(http2.constants.NGHTTP2_CANCEL)
    }
  }
}

const failedCall = (error: ConnectError.ConnectError): Http2Call => ({
  stream: undefined,
  response: Effect.fail(error),
  fail: noop,
  release: noop,
  unprocessed: () => true
})

const requestHttp2 = (
  pool: SessionPool,
  request: ClientRequest
): Effect.Effect<ClientResponse, ConnectError.ConnectError, Scope.Scope> =>
  Effect.suspend(() => {
    let target: Target
    try {
      target = parseTarget(request.url)
    } catch (e) {
      return Effect.fail(invalidUrl(request.url, e))
    }
    if (pool.closed) return Effect.fail(ConnectError.make("unavailable", "the http/2 transport was shut down"))
    const body = request.body
    const attempt = (retries: number): Effect.Effect<ClientResponse, ConnectError.ConnectError, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.sync(() => startHttp2(pool, target, request)),
        (call) => Effect.sync(call.release)
      ).pipe(
        Effect.flatMap((call) => {
          if (body === undefined || body instanceof Uint8Array || call.stream === undefined) {
            // a replayable request the server never processed (GOAWAY race, REFUSED_STREAM)
            // is sent once more on a fresh session
            return retries > 0
              ? Effect.catch(call.response, (error) => call.unprocessed() ? attempt(retries - 1) : Effect.fail(error))
              : Effect.catch(call.response, (error) =>
                Effect.fail(call.unprocessed() ? ConnectError.notSent(error) : error))
          }
          return Effect.andThen(Effect.forkScoped(writeBody(body, call.stream, call.fail)), call.response)
        })
      )
    return attempt(1)
  })

/**
 * An `HttpTransport` over `node:http2` (h2c or h2 over TLS by URL scheme): one session per
 * authority, reused across calls, re-established after it closed, errored or received
 * GOAWAY; idle sessions are unref'd and closed after `idleTimeoutMs`. All sessions are
 * destroyed when the layer is released.
 */
export const layerHttp2 = (options: Http2Options = {}): Layer.Layer<HttpTransport> =>
  Layer.effect(
    HttpTransport,
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => new SessionPool(options)),
        (pool) => Effect.sync(() => pool.destroyAll())
      ),
      (pool) => ({ request: (request: ClientRequest) => requestHttp2(pool, request) })
    )
  )

/** The HTTP/1.1 or the HTTP/2 transport. */
export const layer = (options: Options): Layer.Layer<HttpTransport> =>
  options.httpVersion === "2" ? layerHttp2(options) : layerHttp1(options)
