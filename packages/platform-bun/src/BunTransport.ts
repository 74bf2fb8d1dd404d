/**
 * Client transports for Bun: Connect and gRPC-Web over Bun's `fetch`, with gzip, br and zstd.
 * (Bun's fetch exposes no HTTP trailers, so gRPC is not offered.)
 *
 * @since 0.1.0
 */
import * as Layer from "effect/Layer"
import * as FetchHttpClient from "@connect-effect/core/FetchHttpClient"
import { type ClientOptions, Transport, type TransportConfigError, layerConnect as transportConnect, layerGrpcWeb as transportGrpcWeb } from "@connect-effect/core/Transport"
import * as BunCompression from "./BunCompression.ts"

/**
 * TLS settings for `https:` base URLs (Bun's `fetch` `tls` option).
 *
 * @category options
 * @since 0.1.0
 */
export interface TlsOptions {
  readonly ca?: string | Buffer | undefined
  readonly cert?: string | Buffer | undefined
  readonly key?: string | Buffer | undefined
  readonly rejectUnauthorized?: boolean | undefined
}

/**
 * Options of the Bun client transports.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options<R = never> extends ClientOptions<R> {
  readonly tls?: TlsOptions | undefined
}

/**
 * Bun's fetch as an `HttpClient`: content decoding left to the protocol (`decompress: false`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerHttp = (options: { readonly tls?: TlsOptions | undefined } = {}) =>
  FetchHttpClient.layer({
    init: { decompress: false, ...(options.tls !== undefined ? { tls: options.tls } : {}) } as RequestInit,
    transparentDecompression: false
  })

const http = layerHttp

/**
 * The Connect protocol over Bun's fetch.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConnect = <R = never>(options: Options<R>): Layer.Layer<Transport, TransportConfigError, R> =>
  transportConnect(options).pipe(Layer.provide(Layer.merge(http(options), BunCompression.layer)))

/**
 * The gRPC-Web protocol over Bun's fetch.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGrpcWeb = <R = never>(options: Options<R>): Layer.Layer<Transport, TransportConfigError, R> =>
  transportGrpcWeb(options).pipe(Layer.provide(Layer.merge(http(options), BunCompression.layer)))
