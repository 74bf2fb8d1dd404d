/**
 * Client transports for Node: a protocol (Connect for now) over Node's HTTP/1.1 or HTTP/2
 * client, with gzip, br and zstd from `node:zlib`. Generated clients need the `Transport`
 * these layers provide.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { HttpTransport } from "@connect-effect/core/Http"
import * as Codec from "@connect-effect/core/Codec"
import * as ProtocolConnect from "@connect-effect/core/ProtocolConnect"
import * as ProtocolGrpc from "@connect-effect/core/ProtocolGrpc"
import { Transport, type ClientOptions } from "@connect-effect/core/Transport"
import * as NodeCompression from "./NodeCompression.ts"
import * as NodeHttpTransport from "./NodeHttpTransport.ts"

/** Options of the Node client transports. */
export interface Options extends ClientOptions {
  /** `"2"` for HTTP/2 (h2c with prior knowledge, or h2 over TLS), `"1.1"` (default) for HTTP/1.1. */
  readonly httpVersion?: "1.1" | "2" | undefined
  /** TLS settings for `https:` base URLs (trusted CAs, client certificate for mutual TLS). */
  readonly tls?: NodeHttpTransport.TlsOptions | undefined
}

const resolve = (options: ClientOptions): ProtocolConnect.ClientConfig => {
  const compressions = options.compressions ?? NodeCompression.all
  const sendCompression = options.sendCompression === undefined
    ? undefined
    : compressions.find((c) => c.name === options.sendCompression)
  if (options.sendCompression !== undefined && sendCompression === undefined) {
    throw new Error(`sendCompression ${options.sendCompression} is not among the available compressions`)
  }
  return {
    baseUrl: options.baseUrl,
    codec: options.codec === "json" ? (options.json !== undefined ? Codec.json(options.json) : Codec.jsonDefault) : Codec.proto,
    useHttpGet: options.useHttpGet ?? false,
    compressions,
    sendCompression,
    compressMinBytes: options.compressMinBytes ?? 1024,
    readMaxBytes: options.readMaxBytes ?? 4 * 1024 * 1024,
    writeMaxBytes: options.writeMaxBytes ?? 4 * 1024 * 1024,
    interceptors: options.interceptors ?? [],
    timeoutMs: options.timeoutMs
  }
}

/**
 * The Connect protocol over the `HttpTransport` in context (use it to pick your own HTTP
 * client, or a test double).
 */
export const layerConnectWith = (options: ClientOptions): Layer.Layer<Transport, never, HttpTransport> =>
  Layer.effect(
    Transport,
    Effect.map(Effect.service(HttpTransport), (http) => ProtocolConnect.makeTransport(http, resolve(options)))
  )

/** The gRPC protocol over the `HttpTransport` in context (gRPC needs HTTP/2 trailers). */
export const layerGrpcWith = (options: ClientOptions): Layer.Layer<Transport, never, HttpTransport> =>
  Layer.effect(
    Transport,
    Effect.map(Effect.service(HttpTransport), (http) => ProtocolGrpc.makeTransport(http, resolve(options), false))
  )

/** The gRPC-Web protocol over the `HttpTransport` in context. */
export const layerGrpcWebWith = (options: ClientOptions): Layer.Layer<Transport, never, HttpTransport> =>
  Layer.effect(
    Transport,
    Effect.map(Effect.service(HttpTransport), (http) => ProtocolGrpc.makeTransport(http, resolve(options), true))
  )

const httpLayer = (options: Options) =>
  options.httpVersion === "2"
    ? NodeHttpTransport.layerHttp2({ tls: options.tls })
    : NodeHttpTransport.layerHttp1({ tls: options.tls })

/** The gRPC protocol over Node's HTTP/2 client (always HTTP/2: gRPC needs trailers). */
export const layerGrpc = (options: Omit<Options, "httpVersion" | "useHttpGet">): Layer.Layer<Transport> =>
  layerGrpcWith(options).pipe(Layer.provide(NodeHttpTransport.layerHttp2({ tls: options.tls })))

/** The gRPC-Web protocol over Node's HTTP/1.1 (default) or HTTP/2 client. */
export const layerGrpcWeb = (options: Omit<Options, "useHttpGet">): Layer.Layer<Transport> =>
  layerGrpcWebWith(options).pipe(Layer.provide(httpLayer(options)))

/**
 * The Connect protocol over Node's HTTP client: HTTP/1.1 by default, HTTP/2 with
 * `httpVersion: "2"`. Connections are pooled and closed with the layer.
 */
export const layerConnect = (options: Options): Layer.Layer<Transport> =>
  layerConnectWith(options).pipe(Layer.provide(httpLayer(options)))
