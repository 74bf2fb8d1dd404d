/**
 * An `HttpClient` over the web-standard `fetch`, for browsers, Deno, Bun, Workers and Node.
 * Fetch exposes no HTTP trailers, so it carries Connect and gRPC-Web (not gRPC). Streaming
 * request bodies use `duplex: "half"`: requests are sent before responses are read (half-duplex
 * bidi), which is what fetch runtimes offer.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ConnectError from "../ConnectError.ts"
import type { ClientRequest, ClientResponse } from "../Http.ts"
import { HttpClient } from "../Http.ts"
import { type ClientOptions, Transport, type TransportConfigError, layerConnect as transportConnect, layerGrpcWeb as transportGrpcWeb } from "../Transport.ts"
import { concat } from "../protocol/client.ts"

/**
 * Options of the fetch transport.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options {
  /** The fetch implementation (default `globalThis.fetch`). */
  readonly fetch?: typeof globalThis.fetch | undefined
  /** Extra `RequestInit` fields for every request (credentials, mode, …). */
  readonly init?: Omit<RequestInit, "method" | "headers" | "body" | "signal"> | undefined
  /**
   * Whether the runtime's fetch decodes `Content-Encoding` by itself (browsers, Node's fetch:
   * true, the default). The header is then dropped from responses so the body is not decoded a
   * second time. Runtimes that can turn it off (Bun: `decompress: false`) pass `false`. Runtimes
   * that decode only some encodings and keep the header pass those: the header is dropped only
   * when it names one of them. On Deno the default is `["gzip", "br"]` (Deno's fetch decodes
   * those, not zstd).
   */
  readonly transparentDecompression?: boolean | ReadonlyArray<string> | undefined
  /**
   * Whether request bodies of streaming calls are sent as a stream (`duplex: "half"`). Browsers
   * stream uploads only over HTTP/2 (Chromium) or not at all, so in a browser (a `document` or
   * worker global) the default is false: the request messages are collected and sent as one body
   * (server streaming sends its one message, as connect-web does; client streams are sent once
   * they end). Elsewhere (Node, Bun, Deno) the default is true.
   */
  readonly streamRequestBodies?: boolean | undefined
}

const isBrowser = (): boolean =>
  "document" in globalThis || typeof (globalThis as { importScripts?: unknown }).importScripts === "function"

const collectBody = (body: Stream.Stream<Uint8Array, ConnectError.ConnectError>): Effect.Effect<Uint8Array, ConnectError.ConnectError> =>
  Effect.map(Stream.runCollect(body), (chunks) => {
    let size = 0
    for (const c of chunks) size += c.byteLength
    return concat(chunks, size)
  })

const errorOf = (e: unknown): ConnectError.ConnectError => {
  if (ConnectError.isConnectError(e)) return e
  if (e instanceof Error && e.name === "AbortError") return ConnectError.make("canceled", "the call was canceled")
  const unavailable = ConnectError.make("unavailable", e instanceof Error ? e.message : String(e))
  // undici reports a refused connection or failed DNS lookup as the cause: nothing was sent
  const syscall = (e as { cause?: { syscall?: unknown } } | null)?.cause?.syscall
  return syscall === "connect" || syscall === "getaddrinfo" ? ConnectError.notSent(unavailable) : unavailable
}

/** The encodings Deno's fetch decodes by itself (it keeps their `Content-Encoding` header). */
const denoDecodes: ReadonlyArray<string> = ["gzip", "br"]

const withoutContentEncoding = (headers: Headers): Headers => {
  const out = new Headers(headers)
  out.delete("content-encoding")
  return out
}

/**
 * Builds the fetch-based `HttpClient`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): HttpClient["Service"] => {
  const doFetch = options.fetch ?? globalThis.fetch
  const transparentOption = options.transparentDecompression ?? ("Deno" in globalThis ? denoDecodes : true)
  const transparent = transparentOption !== false
  const decodedByRuntime: (encoding: string) => boolean = typeof transparentOption === "boolean"
    ? () => transparentOption
    : (encoding) => transparentOption.includes(encoding.trim().toLowerCase())
  const streamRequestBodies = options.streamRequestBodies ?? !isBrowser()
  const send = (request: ClientRequest) =>
      Effect.flatMap(
        Effect.acquireRelease(
          Effect.sync(() => new AbortController()),
          (controller) => Effect.sync(() => controller.abort())
        ),
        (controller) =>
          Effect.map(
            Effect.tryPromise({
              try: () => {
                const body = request.body
                const init: RequestInit & { duplex?: "half" } = {
                  ...options.init,
                  method: request.method,
                  headers: request.headers,
                  signal: controller.signal
                }
                if (body instanceof Uint8Array) init.body = body as Uint8Array<ArrayBuffer>
                else if (body !== undefined) {
                  init.body = Stream.toReadableStream(body as Stream.Stream<Uint8Array<ArrayBuffer>, ConnectError.ConnectError>)
                  init.duplex = "half"
                }
                return doFetch(request.url, init)
              },
              catch: errorOf
            }),
            (response): ClientResponse => ({
              status: response.status,
              headers: transparent && response.headers.has("content-encoding") &&
                  decodedByRuntime(response.headers.get("content-encoding")!)
                ? withoutContentEncoding(response.headers)
                : response.headers,
              body: response.body === null
                ? Stream.empty
                : Stream.fromReadableStream({ evaluate: () => response.body!, onError: errorOf }),
              trailers: Effect.succeed(new Headers())
            })
          )
      )
  return {
    request: (request: ClientRequest) =>
      streamRequestBodies || request.body === undefined || request.body instanceof Uint8Array
        ? send(request)
        : Effect.flatMap(collectBody(request.body), (body) => send({ ...request, body }))
  }
}

/**
 * The fetch `HttpClient` as a layer.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<HttpClient> => Layer.succeed(HttpClient, make(options))

/**
 * The Connect protocol over fetch.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConnect = <R = never>(options: ClientOptions<R> & Options): Layer.Layer<Transport, TransportConfigError, R> =>
  transportConnect(options).pipe(Layer.provide(layer(options)))

/**
 * The gRPC-Web protocol over fetch.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerGrpcWeb = <R = never>(options: ClientOptions<R> & Options): Layer.Layer<Transport, TransportConfigError, R> =>
  transportGrpcWeb(options).pipe(Layer.provide(layer(options)))
