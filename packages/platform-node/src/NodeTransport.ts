/**
 * Client transports for Node: Connect, gRPC or gRPC-Web over Node's HTTP/1.1 or HTTP/2
 * client, with gzip, br and zstd from `node:zlib`. Generated clients need the `Transport`
 * these layers provide.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { HttpClient } from "@connect-effect/core/Http"
import { type ClientOptions, Transport, type TransportConfigError, layerConnect as transportConnect, layerGrpc as transportGrpc, layerGrpcWeb as transportGrpcWeb } from "@connect-effect/core/Transport"
import * as NodeCompression from "./NodeCompression.ts"
import * as NodeHttpClient from "./NodeHttpClient.ts"
import { unwrapConfig } from "./internal/config.ts"

/**
 * Options of the Node client transports.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options<R = never> extends ClientOptions<R> {
  /** `"2"` for HTTP/2 (h2c with prior knowledge, or h2 over TLS), `"1.1"` (default) for HTTP/1.1. */
  readonly httpVersion?: "1.1" | "2" | undefined
  /** TLS settings for `https:` base URLs (trusted CAs, client certificate for mutual TLS). */
  readonly tls?: NodeHttpClient.TlsOptions | undefined
}

/**
 * The Connect protocol over the `HttpClient` in context (use it to pick your own HTTP
 * client, or a test double).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConnectWith = <R = never>(options: ClientOptions<R>): Layer.Layer<Transport, TransportConfigError, HttpClient | R> =>
  transportConnect(options).pipe(Layer.provide(NodeCompression.layer))

/**
 * The gRPC protocol over the `HttpClient` in context (gRPC needs HTTP/2 trailers).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGrpcWith = <R = never>(options: ClientOptions<R>): Layer.Layer<Transport, TransportConfigError, HttpClient | R> =>
  transportGrpc(options).pipe(Layer.provide(NodeCompression.layer))

/**
 * The gRPC-Web protocol over the `HttpClient` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGrpcWebWith = <R = never>(options: ClientOptions<R>): Layer.Layer<Transport, TransportConfigError, HttpClient | R> =>
  transportGrpcWeb(options).pipe(Layer.provide(NodeCompression.layer))

const httpLayer = (options: Options<any>) =>
  options.httpVersion === "2"
    ? NodeHttpClient.layerHttp2({ tls: options.tls })
    : NodeHttpClient.layerHttp1({ tls: options.tls })

/**
 * The gRPC protocol over Node's HTTP/2 client (always HTTP/2: gRPC needs trailers).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGrpc = <R = never>(options: Omit<Options<R>, "httpVersion" | "useHttpGet">): Layer.Layer<Transport, TransportConfigError, R> =>
  layerGrpcWith(options).pipe(Layer.provide(NodeHttpClient.layerHttp2({ tls: options.tls })))

/**
 * The gRPC-Web protocol over Node's HTTP/1.1 (default) or HTTP/2 client.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGrpcWeb = <R = never>(options: Omit<Options<R>, "useHttpGet">): Layer.Layer<Transport, TransportConfigError, R> =>
  layerGrpcWebWith(options).pipe(Layer.provide(httpLayer(options)))

/**
 * The Connect protocol over Node's HTTP client: HTTP/1.1 by default, HTTP/2 with
 * `httpVersion: "2"`. Connections are pooled and closed with the layer.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConnect = <R = never>(options: Options<R>): Layer.Layer<Transport, TransportConfigError, R> =>
  layerConnectWith(options).pipe(Layer.provide(httpLayer(options)))

/**
 * The options of the `*Config` layers that configuration can give (the base URL, the codec,
 * limits, timeouts, the HTTP version): each may be a `Config`, e.g.
 * `{ baseUrl: Config.String("ELIZA_URL"), timeout: Config.Duration("ELIZA_TIMEOUT") }`.
 *
 * @category options
 * @since 0.1.0
 */
export type ConfigOptions = Pick<
  Options,
  | "baseUrl"
  | "codec"
  | "useHttpGet"
  | "sendCompression"
  | "compressMinBytes"
  | "readMaxBytes"
  | "writeMaxBytes"
  | "timeoutMs"
  | "timeout"
  | "httpVersion"
>

/** `options` with every defined value of `configured` over it. */
const overlay = <R>(options: Partial<Options<R>>, configured: object): Options<R> => {
  const out: Record<string, unknown> = { ...options }
  for (const [key, value] of Object.entries(configured)) if (value !== undefined) out[key] = value
  return out as unknown as Options<R>
}

/** A transport layer built from `config` read when the layer is built, over the plain `options`. */
const fromConfig = <R, C>(
  config: Config.Wrap<C>,
  options: Partial<Options<R>>,
  build: (options: Options<R>) => Layer.Layer<Transport, TransportConfigError, R>
): Layer.Layer<Transport, TransportConfigError | Config.ConfigError, R> =>
  Layer.unwrap(Effect.map(unwrapConfig(config), (configured) => build(overlay(options, configured as object))))

/**
 * {@link layerConnect} with its options read from Effect's `Config` (the `ConfigProvider` in
 * context, environment variables by default) when the layer is built: `config` is a `Config` of
 * {@link ConfigOptions} or a record whose fields are `Config`s; what it gives wins over the
 * plain `options` (interceptors, headers, TLS, compressions). Missing or invalid configuration
 * fails the layer with a `Config.ConfigError`.
 *
 * @example
 * ```ts
 * import * as Config from "effect/Config"
 * import { NodeTransport } from "@connect-effect/platform-node"
 *
 * const TransportLive = NodeTransport.layerConnectConfig({ baseUrl: Config.String("ELIZA_URL") })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConnectConfig = <R = never>(
  config: Config.Wrap<ConfigOptions>,
  options: Partial<Options<R>> = {}
): Layer.Layer<Transport, TransportConfigError | Config.ConfigError, R> => fromConfig(config, options, layerConnect)

/**
 * {@link layerGrpc} with its options read from Effect's `Config` when the layer is built (see
 * {@link layerConnectConfig}).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGrpcConfig = <R = never>(
  config: Config.Wrap<Omit<ConfigOptions, "httpVersion" | "useHttpGet">>,
  options: Partial<Omit<Options<R>, "httpVersion" | "useHttpGet">> = {}
): Layer.Layer<Transport, TransportConfigError | Config.ConfigError, R> => fromConfig(config, options, layerGrpc)

/**
 * {@link layerGrpcWeb} with its options read from Effect's `Config` when the layer is built (see
 * {@link layerConnectConfig}).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGrpcWebConfig = <R = never>(
  config: Config.Wrap<Omit<ConfigOptions, "useHttpGet">>,
  options: Partial<Omit<Options<R>, "useHttpGet">> = {}
): Layer.Layer<Transport, TransportConfigError | Config.ConfigError, R> => fromConfig(config, options, layerGrpcWeb)
