/**
 * Protocol transports over any `HttpClient`: Connect, gRPC and gRPC-Web. Platform layers
 * (`NodeTransport`, `BunTransport`, `FetchHttpClient`, `MemoryTransport`) provide the
 * `HttpClient`; these layers put a protocol on top of it.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Codec from "./Codec.ts"
import { Compressions } from "./Compression.ts"
import { HttpClient, type ProtocolName } from "./Http.ts"
import * as ProtocolConnect from "./ProtocolConnect.ts"
import * as ProtocolGrpc from "./ProtocolGrpc.ts"
import { type ClientOptions, Transport, type TransportInfo } from "./Transport.ts"

/** Resolves client options against the platform's compressions. */
export const resolve = (
  options: ClientOptions,
  platformCompressions: ReadonlyArray<import("./Compression.ts").Compression>
): ProtocolConnect.ClientConfig => {
  const compressions = options.compressions ?? platformCompressions
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

const make = (options: ClientOptions, protocol: ProtocolName) =>
  Layer.effect(
    Transport,
    Effect.gen(function*() {
      const http = yield* HttpClient
      const config = resolve(options, yield* Compressions)
      const transport = protocol === "connect"
        ? ProtocolConnect.makeTransport(http, config)
        : ProtocolGrpc.makeTransport(http, config, protocol === "grpc-web")
      const info: TransportInfo = { protocol, baseUrl: options.baseUrl, timeoutMs: options.timeoutMs }
      return Object.assign(transport, { info })
    })
  )

/** The Connect protocol over the `HttpClient` in context. */
export const layerConnect = (options: ClientOptions): Layer.Layer<Transport, never, HttpClient> =>
  make(options, "connect")

/** The gRPC protocol over the `HttpClient` in context (it needs HTTP/2 trailers). */
export const layerGrpc = (options: ClientOptions): Layer.Layer<Transport, never, HttpClient> => make(options, "grpc")

/** The gRPC-Web protocol over the `HttpClient` in context. */
export const layerGrpcWeb = (options: ClientOptions): Layer.Layer<Transport, never, HttpClient> =>
  make(options, "grpc-web")
