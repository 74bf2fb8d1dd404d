/**
 * Serves a Connect handler on Node: one TCP port speaking HTTP/1.1 and HTTP/2 with prior
 * knowledge (h2c), or HTTPS with HTTP/1.1 and HTTP/2 chosen by ALPN (optionally mutual TLS),
 * each request run as one fiber, graceful shutdown when the scope closes.
 *
 * @since 0.1.0
 */
import type * as http2 from "node:http2"
import type * as tls from "node:tls"
import type * as Cause from "effect/Cause"
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { Compressions } from "@connect-effect/core/Compression"
import * as Router from "@connect-effect/core/Router"
import type { ResponseWriter, ServerRequest } from "@connect-effect/core/Http"
import * as Http1 from "./internal/server/http1.ts"
import * as Http2 from "./internal/server/http2.ts"
import * as Listen from "./internal/server/listen.ts"
import * as NodeCompression from "./NodeCompression.ts"
import { unwrapConfig } from "./internal/config.ts"

/**
 * What a server runs for every request. It must not fail; defects become a 500 or a reset.
 *
 * @category handlers
 * @since 0.1.0
 */
export type Handler<R> = (request: ServerRequest, writer: ResponseWriter) => Effect.Effect<void, never, R>

/**
 * TLS settings of a server (PEM). With `requestCert: true` and a `ca`, the server requires
 * client certificates signed by that CA (mutual TLS) and refuses the handshake otherwise.
 *
 * @category options
 * @since 0.1.0
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

/**
 * Options of {@link make}.
 *
 * @category options
 * @since 0.1.0
 */
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
  /**
   * Called with the cause when a handler dies (the exchange is then answered 500, or reset once
   * the response started). Defaults to `Effect.logError` with the loggers, log level and
   * annotations of the context the server was started in (the layer's).
   */
  readonly onDefect?: ((cause: Cause.Cause<unknown>) => void) | undefined
}

/**
 * A listening server.
 *
 * @category models
 * @since 0.1.0
 */
export interface Info {
  readonly port: number
  readonly host: string
  /** `http://host:port`, or `https://host:port` with `tls`. */
  readonly url: string
  /** Number of open TCP connections (both protocols). */
  readonly connections: () => number
}

/**
 * The server could not start listening.
 *
 * @category errors
 * @since 0.1.0
 */
export class ServeError extends Data.TaggedError("ServeError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The running server as a service, so that tests and callers can read the bound port.
 *
 * @category services
 * @since 0.1.0
 */
export class NodeServer extends Context.Service<NodeServer, Info>()("@connect-effect/platform-node/NodeServer") {}

const formatUrl = (scheme: string, host: string, port: number): string =>
  host.includes(":") ? `${scheme}://[${host}]:${port}` : `${scheme}://${host}:${port}`

/** {@link TlsOptions} as the certificate settings of `tls.createServer`. */
const tlsServerOptions = (options: TlsOptions): tls.TlsOptions => ({
  cert: options.cert,
  key: options.key,
  ...(options.ca !== undefined ? { ca: options.ca } : {}),
  requestCert: options.requestCert === true,
  rejectUnauthorized: options.requestCert === true
})

/**
 * Listens and serves `handler` until the scope closes. Closing the scope stops accepting
 * connections, lets in-flight requests finish for up to `gracePeriodMs`, then interrupts
 * the remaining handlers and destroys the connections.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <R>(
  handler: Handler<R>,
  options: Options = {}
): Effect.Effect<Info, ServeError, R | Scope.Scope> =>
  Effect.flatMap(Effect.context<R>(), (context) => {
    const host = options.host ?? "127.0.0.1"
    const port = options.port ?? 0
    const headersTimeoutMs = options.headersTimeoutMs ?? 60_000
    const maxHeaderSize = options.maxHeaderSize ?? 16 * 1024
    const keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 65_000
    const state = Http2.makeState(context, {
      onDefect: options.onDefect,
      requestTimeoutMs: options.requestTimeoutMs,
      idleTimeoutMs: options.http2IdleTimeoutMs ?? keepAliveTimeoutMs
    })
    const h1 = Http1.make(state, handler, { maxHeaderSize, headersTimeoutMs, keepAliveTimeoutMs })
    const h2 = Http2.make(state, handler, {
      maxHeaderSize,
      maxConcurrentStreams: options.maxConcurrentStreams ?? 1000,
      settings: options.http2Settings,
      maxSessionMemory: options.http2MaxSessionMemory
    })
    const tlsOptions = options.tls
    return Listen.listen(state, h1, h2, {
      host,
      port,
      mode: options.http ?? "auto",
      tls: tlsOptions === undefined ? undefined : tlsServerOptions(tlsOptions),
      headersTimeoutMs,
      gracePeriodMs: options.gracePeriodMs ?? 5000
    }).pipe(
      Effect.mapError((error) =>
        new ServeError({ message: `cannot listen on ${host}:${port}: ${error.message}`, cause: error })
      ),
      Effect.map((listening): Info => ({
        port: listening.port,
        host,
        url: formatUrl(tlsOptions === undefined ? "http" : "https", host, listening.port),
        connections: listening.connections
      }))
    )
  })

/**
 * Serves `handler` for the lifetime of the layer and provides the bound address as {@link NodeServer}.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <R>(handler: Handler<R>, options?: Options): Layer.Layer<NodeServer, ServeError, R> =>
  Layer.effect(NodeServer, make(handler, options))

/**
 * Serves a `Router` (or an effect building one, such as `Router.fromServices`) for the
 * lifetime of the layer. Compressions default to the provided `Compressions` reference, or
 * to gzip, br and zstd when none was provided.
 *
 * @category layers
 * @since 0.1.0
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

/**
 * The options of {@link layerConfig} that configuration can give (numbers, strings and
 * literals): each may be a `Config`, e.g. `{ port: Config.Port("PORT") }`.
 *
 * @category options
 * @since 0.1.0
 */
export type ConfigOptions = Pick<
  Options,
  | "port"
  | "host"
  | "http"
  | "gracePeriodMs"
  | "maxHeaderSize"
  | "keepAliveTimeoutMs"
  | "http2IdleTimeoutMs"
  | "headersTimeoutMs"
  | "requestTimeoutMs"
  | "maxConcurrentStreams"
  | "http2MaxSessionMemory"
>

/**
 * The options of {@link layerRouterConfig} that configuration can give: those of
 * {@link ConfigOptions} and the router's message limits.
 *
 * @category options
 * @since 0.1.0
 */
export type RouterConfigOptions =
  & ConfigOptions
  & Pick<Router.ServerOptions, "readMaxBytes" | "writeMaxBytes" | "compressMinBytes" | "requireConnectProtocolHeader">

/** `options` with every defined value of `configured` over it. */
const overlay = <A extends object>(options: A, configured: object): A => {
  const out: Record<string, unknown> = { ...(options as Record<string, unknown>) }
  for (const [key, value] of Object.entries(configured)) if (value !== undefined) out[key] = value
  return out as A
}

/**
 * {@link layer} with its options read from Effect's `Config` (the `ConfigProvider` in context,
 * environment variables by default) when the layer is built: `config` is a `Config` of
 * {@link ConfigOptions} or a record whose fields are `Config`s; what it gives wins over the
 * plain `options` (TLS, `onDefect`, HTTP/2 settings). Missing or invalid configuration fails the
 * layer with a `Config.ConfigError`.
 *
 * @example
 * ```ts
 * import * as Config from "effect/Config"
 * import { NodeServer } from "@connect-effect/platform-node"
 *
 * declare const handler: NodeServer.Handler<never>
 * const ServerLive = NodeServer.layerConfig(handler, {
 *   port: Config.Port("PORT"),
 *   host: Config.String("HOST").pipe(Config.withDefault("0.0.0.0"))
 * })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = <R>(
  handler: Handler<R>,
  config: Config.Wrap<ConfigOptions>,
  options: Options = {}
): Layer.Layer<NodeServer, ServeError | Config.ConfigError, R> =>
  Layer.effect(
    NodeServer,
    Effect.flatMap(unwrapConfig(config), (configured) => make(handler, overlay(options, configured)))
  )

/**
 * {@link layerRouter} with its options read from Effect's `Config` when the layer is built:
 * `config` is a `Config` of {@link RouterConfigOptions} or a record whose fields are `Config`s
 * (`{ port: Config.Port("PORT"), readMaxBytes: Config.Int("READ_MAX_BYTES") }`); what it gives
 * wins over the plain `options` (TLS, interceptors, compressions, CORS). Missing or invalid
 * configuration fails the layer with a `Config.ConfigError`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRouterConfig = <R, E = never, R2 = never>(
  router: Router.Router<R> | Effect.Effect<Router.Router<R>, E, R2>,
  config: Config.Wrap<RouterConfigOptions>,
  options: Options & Router.ServerOptions = {}
): Layer.Layer<NodeServer, ServeError | Config.ConfigError | E, R | R2> =>
  Layer.unwrap(Effect.map(unwrapConfig(config), (configured) => layerRouter(router, overlay(options, configured))))
