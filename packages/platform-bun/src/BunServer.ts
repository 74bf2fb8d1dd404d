/**
 * Serves a router with `Bun.serve` (HTTP/1.1, and TLS with mutual TLS; with `http2: true` also
 * HTTP/2 on the same port: h2 by ALPN over TLS, h2c by prior knowledge, full-duplex bidi),
 * through the core's web-standard fetch handler: Connect (unary, GET, streaming) and gRPC-Web.
 * gRPC needs HTTP/2 trailers, which a fetch `Response` cannot carry, so gRPC requests are
 * answered 415.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as FetchHandler from "@connect-effect/core/FetchHandler"
import * as Router from "@connect-effect/core/Router"
import { Compressions } from "@connect-effect/core/Compression"
import type { Peer } from "@connect-effect/core/Http"
import * as BunCompression from "./BunCompression.ts"
import { bun, type BunServer as BunServerHandle, type BunTlsOptions } from "./internal/bun.ts"
import { unwrapConfig } from "./internal/config.ts"

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
  /** TLS (with `ca` and `requestCert: true`: mutual TLS). */
  readonly tls?: BunTlsOptions | undefined
  /**
   * Also serve HTTP/2 on the same port (`Bun.serve({ http2: true })`, Bun 1.4.5 or later): h2 by
   * ALPN over TLS, h2c by prior knowledge in cleartext, with full-duplex bidi streams; HTTP/1.1
   * keeps working beside it. Default `false` (HTTP/1.1 only), since Bun's HTTP/2 server is new
   * and older Bun versions silently ignore the option.
   */
  readonly http2?: boolean | undefined
  /** Seconds a connection may stay idle (Bun's `idleTimeout`, default 120; 0 disables). */
  readonly idleTimeoutSeconds?: number | undefined
  /** How long shutdown waits for in-flight requests before closing them (default 5000 ms). */
  readonly gracePeriodMs?: number | undefined
}

/**
 * A listening Bun server.
 *
 * @category models
 * @since 0.1.0
 */
export interface Info {
  readonly port: number
  readonly host: string
  /** `http://host:port` or `https://host:port`. */
  readonly url: string
}

/**
 * The server could not start listening.
 *
 * @category errors
 * @since 0.1.0
 */
export class ServeError extends Data.TaggedError("ServeError")<{ readonly message: string; readonly cause?: unknown }> {}

/**
 * The running server, as a service.
 *
 * @category services
 * @since 0.1.0
 */
export class BunServer extends Context.Service<BunServer, Info>()("@connect-effect/platform-bun/BunServer") {}

/**
 * Serves a fetch handler on `Bun.serve`; closing the scope stops accepting, lets in-flight
 * requests finish for `gracePeriodMs`, then closes what is left.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (handler: FetchHandler.FetchHandler, options: Options = {}): Effect.Effect<Info, ServeError, Scope.Scope> =>
  serve(handler, options, undefined)

/** Where the peer resolver of {@link layerRouter} finds the Bun server (set once it listens). */
interface Served {
  server: BunServerHandle | undefined
}

/** The client end of a request's connection, as Bun tells it (asked only when a handler reads it). */
const peerOf = (served: Served, request: Request): Peer | undefined => {
  const ip = served.server?.requestIP(request)
  return ip == null ? undefined : { address: ip.address, port: ip.port }
}

const serve = (handler: FetchHandler.FetchHandler, options: Options, served: Served | undefined): Effect.Effect<Info, ServeError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const host = options.host ?? "127.0.0.1"
        const server = bun().serve({
          port: options.port ?? 0,
          hostname: host,
          fetch: handler,
          idleTimeout: options.idleTimeoutSeconds ?? 120,
          ...(options.http2 === true ? { http2: true } : {}),
          ...(options.tls !== undefined ? { tls: { ...options.tls, rejectUnauthorized: options.tls.rejectUnauthorized ?? options.tls.requestCert === true } } : {})
        })
        if (served !== undefined) served.server = server
        return { server, host }
      },
      catch: (cause) => new ServeError({ message: `cannot listen: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
    }),
    ({ server }) =>
      Effect.promise(async () => {
        const graceful = server.stop(false)
        const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), options.gracePeriodMs ?? 5000).unref?.())
        if ((await Promise.race([graceful.then(() => "done" as const), timeout])) === "timeout") await server.stop(true)
      })
  ).pipe(Effect.map(({ server, host }) => ({
    port: server.port,
    host,
    url: `${options.tls !== undefined ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${server.port}`
  })))

/**
 * Serves a router (or an effect building one) on Bun. Compressions default to Bun's zlib
 * (gzip, br, zstd) unless a `Compressions` reference is provided.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRouter = <R, E = never, R2 = never>(
  router: Router.Router<R> | Effect.Effect<Router.Router<R>, E, R2>,
  options: Options & Router.ServerOptions = {}
): Layer.Layer<BunServer, ServeError | E, R | R2> =>
  Layer.effect(
    BunServer,
    Effect.gen(function*() {
      const r = Effect.isEffect(router) ? yield* router : router
      const provided = yield* Compressions
      const served: Served = { server: undefined }
      const handler = yield* FetchHandler.fromRouter(r, {
        ...options,
        compressions: options.compressions ?? (provided.length > 0 ? provided : BunCompression.all),
        peer: (request) => peerOf(served, request),
        // Bun builds request.signal on first access: fast calls skip it
        deferAbortWatch: true
      })
      return yield* serve(handler, options, served)
    })
  )

/**
 * The options of {@link layerRouterConfig} that configuration can give (numbers, strings): each
 * may be a `Config`, e.g. `{ port: Config.Port("PORT") }`.
 *
 * @category options
 * @since 0.1.0
 */
export type RouterConfigOptions =
  & Pick<Options, "port" | "host" | "idleTimeoutSeconds" | "gracePeriodMs">
  & Pick<Router.ServerOptions, "readMaxBytes" | "writeMaxBytes" | "compressMinBytes" | "requireConnectProtocolHeader">

/**
 * {@link layerRouter} with its options read from Effect's `Config` (the `ConfigProvider` in
 * context, environment variables by default) when the layer is built: `config` is a `Config` of
 * {@link RouterConfigOptions} or a record whose fields are `Config`s; what it gives wins over the
 * plain `options` (TLS, interceptors, compressions, CORS). Missing or invalid configuration
 * fails the layer with a `Config.ConfigError`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRouterConfig = <R, E = never, R2 = never>(
  router: Router.Router<R> | Effect.Effect<Router.Router<R>, E, R2>,
  config: Config.Wrap<RouterConfigOptions>,
  options: Options & Router.ServerOptions = {}
): Layer.Layer<BunServer, ServeError | Config.ConfigError | E, R | R2> =>
  Layer.unwrap(Effect.map(unwrapConfig(config), (configured) => {
    const merged: Record<string, unknown> = { ...options }
    for (const [key, value] of Object.entries(configured)) if (value !== undefined) merged[key] = value
    return layerRouter(router, merged as Options & Router.ServerOptions)
  }))
