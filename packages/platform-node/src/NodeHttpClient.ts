/**
 * Client `HttpClient`s over `node:http`/`node:https` (HTTP/1.1, keep-alive agent) and
 * `node:http2` (one reused session per authority, full duplex).
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import type * as http2 from "node:http2"
import * as https from "node:https"
import type * as tls from "node:tls"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ClientRequest } from "@connect-effect/core/Http"
import { HttpClient } from "@connect-effect/core/Http"
import * as Http1 from "./internal/client/http1.ts"
import * as Http2Call from "./internal/client/http2Call.ts"
import * as SessionPool from "./internal/client/sessionPool.ts"

/**
 * TLS settings of a client, used for `https:` URLs (PEM). `cert` and `key` present a client
 * certificate (mutual TLS).
 *
 * @category options
 * @since 0.1.0
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

/**
 * Options of {@link layerHttp1}.
 *
 * @category options
 * @since 0.1.0
 */
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

/**
 * Options of {@link layerHttp2}.
 *
 * @category options
 * @since 0.1.0
 */
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

/**
 * Options of {@link layer}.
 *
 * @category options
 * @since 0.1.0
 */
export type Options =
  | ({ readonly httpVersion: "1.1" } & Http1Options)
  | ({ readonly httpVersion: "2" } & Http2Options)

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

/**
 * An `HttpClient` over `node:http` / `node:https` with keep-alive agents owned by the
 * layer (destroyed when it is released).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerHttp1 = (options: Http1Options = {}): Layer.Layer<HttpClient> =>
  Layer.effect(
    HttpClient,
    Effect.map(
      Effect.acquireRelease(
        Effect.sync((): Http1.Agents => {
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
      (agents) => ({ request: (request: ClientRequest) => Http1.request(agents, request) })
    )
  )

/**
 * An `HttpClient` over `node:http2` (h2c or h2 over TLS by URL scheme): one session per
 * authority, reused across calls, re-established after it closed, errored or received
 * GOAWAY; idle sessions are unref'd and closed after `idleTimeoutMs`. All sessions are
 * destroyed when the layer is released.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerHttp2 = (options: Http2Options = {}): Layer.Layer<HttpClient> =>
  Layer.effect(
    HttpClient,
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() =>
          new SessionPool.SessionPool({
            pingIntervalMs: options.pingIntervalMs ?? 0,
            pingTimeoutMs: options.pingTimeoutMs ?? 15_000,
            idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
            settings: options.settings,
            tls: tlsConnectOptions(options.tls),
            onSession: options.onSession
          })
        ),
        (pool) => Effect.sync(() => pool.destroyAll())
      ),
      (pool) => ({ request: (request: ClientRequest) => Http2Call.request(pool, request) })
    )
  )

/**
 * The HTTP/1.1 or the HTTP/2 transport.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<HttpClient> =>
  options.httpVersion === "2" ? layerHttp2(options) : layerHttp1(options)
