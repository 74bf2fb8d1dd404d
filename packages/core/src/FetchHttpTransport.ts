/**
 * An `HttpTransport` over the web-standard `fetch`, for browsers, Deno, Bun, Workers and Node.
 * Fetch exposes no HTTP trailers, so it carries Connect and gRPC-Web (not gRPC). Streaming
 * request bodies use `duplex: "half"`: requests are sent before responses are read (half-duplex
 * bidi), which is what fetch runtimes offer.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ClientTransport from "./ClientTransport.ts"
import * as ConnectError from "./ConnectError.ts"
import type { ClientRequest, ClientResponse } from "./Http.ts"
import { HttpTransport } from "./Http.ts"
import type { ClientOptions, Transport } from "./Transport.ts"

/** Options of the fetch transport. */
export interface Options {
  /** The fetch implementation (default `globalThis.fetch`). */
  readonly fetch?: typeof globalThis.fetch | undefined
  /** Extra `RequestInit` fields for every request (credentials, mode, …). */
  readonly init?: Omit<RequestInit, "method" | "headers" | "body" | "signal"> | undefined
  /**
   * Whether the runtime's fetch decodes `Content-Encoding` by itself (browsers, Node's fetch:
   * true, the default). The header is then dropped from responses so the body is not decoded a
   * second time. Runtimes that can turn it off (Bun: `decompress: false`) pass `false`.
   */
  readonly transparentDecompression?: boolean | undefined
}

const errorOf = (e: unknown): ConnectError.ConnectError => {
  if (ConnectError.isConnectError(e)) return e
  if (e instanceof Error && e.name === "AbortError") return ConnectError.make("canceled", "the call was canceled")
  return ConnectError.make("unavailable", e instanceof Error ? e.message : String(e))
}

const withoutContentEncoding = (headers: Headers): Headers => {
  const out = new Headers(headers)
  out.delete("content-encoding")
  return out
}

/** Builds the fetch-based `HttpTransport`. */
export const make = (options: Options = {}): HttpTransport["Service"] => {
  const doFetch = options.fetch ?? globalThis.fetch
  const transparent = options.transparentDecompression ?? true
  return {
    request: (request: ClientRequest) =>
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
              headers: transparent && response.headers.has("content-encoding")
                ? withoutContentEncoding(response.headers)
                : response.headers,
              body: response.body === null
                ? Stream.empty
                : Stream.fromReadableStream({ evaluate: () => response.body!, onError: errorOf }),
              trailers: Effect.succeed(new Headers())
            })
          )
      )
  }
}

/** The fetch `HttpTransport` as a layer. */
export const layer = (options?: Options): Layer.Layer<HttpTransport> => Layer.succeed(HttpTransport, make(options))

/** The Connect protocol over fetch. */
export const layerConnect = (options: ClientOptions & Options): Layer.Layer<Transport> =>
  ClientTransport.layerConnect(options).pipe(Layer.provide(layer(options)))

/** The gRPC-Web protocol over fetch. */
export const layerGrpcWeb = (options: ClientOptions & Options): Layer.Layer<Transport> =>
  ClientTransport.layerGrpcWeb(options).pipe(Layer.provide(layer(options)))
