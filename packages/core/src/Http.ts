/**
 * The universal HTTP seam between the protocol code in core and the platform adapters
 * (Node, Bun, fetch, in-memory). Platform packages turn sockets into these shapes; core
 * never touches a socket.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Pull from "effect/Pull"
import type * as Arr from "effect/Array"
import * as Context from "effect/Context"
import type { ConnectError } from "./ConnectError.ts"
import { hasAny, HeaderList, listOf } from "./internal/headerList.ts"

/**
 * Headers as a caller may give them: a `Headers`, `[name, value]` pairs or a record — the
 * shapes `new Headers(init)` takes (the library's own type instead of the DOM's `HeadersInit`,
 * so that its declarations need neither the DOM lib nor @types/node).
 *
 * @category models
 * @since 0.1.0
 */
export type { HeadersInput } from "./internal/headersInput.ts"

/**
 * The protocols of the Connect stack, spelled as connect-es spells them.
 *
 * @category models
 * @since 0.1.0
 */
export type ProtocolName = "connect" | "grpc" | "grpc-web"

/**
 * An incoming request as the router sees it. `headers` are lower-cased web `Headers`
 * (no HTTP/2 pseudo-headers). `body` emits the raw request bytes; it fails with a
 * `ConnectError` (code `canceled`/`unavailable`) when the peer resets the exchange.
 *
 * @category models
 * @since 0.1.0
 */
export interface ServerRequest {
  readonly method: string
  /** Path plus query, e.g. `/pkg.Service/Method?connect=v1`. */
  readonly url: string
  readonly headers: Headers
  /**
   * Optional: one request header (lower-case name) as `headers.get(name)` returns it, without
   * building `headers`. Adapters that hold the headers in another shape provide it.
   */
  readonly header?: ((name: string) => string | null) | undefined
  readonly httpVersion: "1.1" | "2"
  readonly body: Stream.Stream<Uint8Array, ConnectError>
  /**
   * Optional: the body as the pull `body` is made of (chunks as they arrive, `Cause.Done` at the
   * end), for protocols that build their own stage on it without a Stream stage in between.
   * Reading it consumes `body`.
   */
  readonly bodyPull?: Pull.Pull<Arr.NonEmptyReadonlyArray<Uint8Array>, ConnectError> | undefined
  /**
   * Reads the whole body into one buffer, failing with `resource_exhausted` past
   * `maxBytes`. Adapters implement it without a Stream on the hot path.
   */
  readonly readAll: (maxBytes: number) => Effect.Effect<Uint8Array, ConnectError>
  /** An AbortSignal-free way to learn that the peer went away: resolves when the exchange is closed early. */
  readonly onPeerClose?: ((f: () => void) => void) | undefined
  /**
   * Optional: the address of the connection's other end, computed when first asked (called as a
   * method; nothing is allocated for it on calls that never ask). Adapters over sockets provide
   * it; `undefined` when the platform does not know it.
   */
  readonly peer?: (() => Peer | undefined) | undefined
}

/**
 * The network peer of a server exchange: the IP address (or socket path) and port of the client
 * end of the connection — the last proxy when there is one.
 *
 * @category models
 * @since 0.1.0
 */
export interface Peer {
  readonly address: string
  /** The TCP port, when there is one. */
  readonly port: number | undefined
}

/**
 * Where the router writes its response. Calls happen in this order:
 * `head` once, `write` any number of times, `end` once (with trailers for protocols that
 * use HTTP trailers). An adapter must tolerate `end` without `head` being called
 * (it then sends `200` with no headers).
 *
 * @category models
 * @since 0.1.0
 */
export interface ResponseWriter {
  /** Sends status and headers. With `body` given, it is also the whole body and the response ends (unary fast path). */
  readonly head: (status: number, headers: Headers, body?: Uint8Array) => void
  /** Writes bytes; the effect completes when the transport can take more (backpressure). */
  readonly write: (chunk: Uint8Array) => Effect.Effect<void>
  /** Ends the response, sending HTTP trailers when given and the transport supports them. */
  readonly end: (trailers?: Headers) => void
  /**
   * The adapter's capability: `false` when it cannot send HTTP trailers (a fetch `Response`,
   * `effect/http` without a trailers hook). The router then answers the protocols that need
   * them (gRPC) with 415. Default: trailers are sent.
   */
  readonly trailers?: boolean | undefined
}

/**
 * The flat `[name, value, name, value, …]` list (lower-case names, in the order they were added)
 * behind the response headers and trailers the router builds, for adapters that can send such a
 * list as it is (Node's HTTP/2 `respond` takes one): reading it skips the sorting and combining
 * that iterating a `Headers` does. `undefined` for any other `Headers` (read it with `forEach`).
 * The headers the router passes to `head` and `end` are `Headers` either way.
 *
 * @category utils
 * @since 0.1.0
 */
export const headerList = (headers: Headers): ReadonlyArray<string> | undefined => listOf(headers)

/**
 * True when `headers` is given and holds a field, without building the sorted entry list that
 * iterating a `Headers` builds (adapters ask it of every response's trailers).
 *
 * @category utils
 * @since 0.1.0
 */
export const hasHeaders = (headers: Headers | undefined): headers is Headers => hasAny(headers)

/**
 * The raw operations of an adapter's response, which {@link responseWriter} calls in order, so
 * that they need no state of their own: `head` at most once (with `body`, the whole response),
 * then `write` and `end` only after a `head` without a body, `end` at most once; nothing after
 * the response ended or the exchange closed. `trailers` is passed on as the writer's capability.
 *
 * @category models
 * @since 0.1.0
 */
export interface ResponseSink extends ResponseWriter {
  /**
   * Optional: the whole response of an `end` that comes without a `head` (a `200`). Without it,
   * `head(200, new Headers())` then `end(trailers)`.
   */
  readonly endWithoutHead?: ((trailers?: Headers) => void) | undefined
}

/**
 * The state of a response that {@link responseWriter} keeps. An adapter passes its own object
 * (its exchange) to read it, and sets `closed` when the exchange is gone.
 *
 * @category models
 * @since 0.1.0
 */
export interface ResponseState {
  /** The head was sent (also by an `end` without one). */
  headSent: boolean
  /** The response ended: `end`, or a `head` with a body. */
  ended: boolean
  /** The exchange closed (the peer went away): nothing is sent any more. */
  readonly closed: boolean
}

/**
 * A `ResponseWriter` over an adapter's raw operations, enforcing the rules every adapter shares:
 * the head is sent once and a head with a body is the whole response; a `write` before the head
 * sends a `200` head with no headers first; an `end` without a head sends a `200` response
 * (`sink.endWithoutHead`); nothing is sent after the end or once `state.closed`. Pass `state`
 * to read it (whether the head was sent, whether the response ended) or to close the exchange.
 * The writer is one object whose methods are shared by every response (no closures).
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import * as Http from "@connect-effect/core/Http"
 *
 * const state: Http.ResponseState = { headSent: false, ended: false, closed: false }
 * const writer = Http.responseWriter({
 *   head: (status, headers, body) => console.log("head", status, headers, body),
 *   write: (chunk) => Effect.sync(() => console.log("write", chunk)),
 *   end: (trailers) => console.log("end", trailers)
 * }, state)
 * writer.end() // sends head(200, new Headers()), then end()
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const responseWriter = (sink: ResponseSink, state?: ResponseState): ResponseWriter =>
  new StatefulWriter(sink, state)

/** The writer of {@link responseWriter}: its methods live on the prototype (no closures per response). */
class StatefulWriter implements ResponseWriter, ResponseState {
  readonly trailers: boolean | undefined
  readonly sink: ResponseSink
  /** The adapter's state, or this writer itself when the adapter keeps none. */
  readonly state: ResponseState
  headSent = false
  ended = false
  readonly closed = false
  constructor(sink: ResponseSink, state: ResponseState | undefined) {
    this.trailers = sink.trailers
    this.sink = sink
    this.state = state ?? this
  }
  head(status: number, headers: Headers, body?: Uint8Array): void {
    const state = this.state
    if (state.headSent || state.closed) return
    state.headSent = true
    if (body !== undefined) state.ended = true
    this.sink.head(status, headers, body)
  }
  write(chunk: Uint8Array): Effect.Effect<void> {
    const state = this.state
    if (state.ended || state.closed) return Effect.void
    if (!state.headSent) this.head(200, new HeaderList())
    return this.sink.write(chunk)
  }
  end(trailers?: Headers): void {
    const state = this.state
    if (state.ended || state.closed) return
    state.ended = true
    const sink = this.sink
    if (state.headSent) return sink.end(trailers)
    state.headSent = true
    if (sink.endWithoutHead !== undefined) return sink.endWithoutHead(trailers)
    sink.head(200, new HeaderList())
    sink.end(trailers)
  }
}

/**
 * The HTTP handler a platform adapter serves (`Router.toHttpHandler` builds one from a router).
 *
 * @category handlers
 * @since 0.1.0
 */
export type HttpHandler<R> = (request: ServerRequest, writer: ResponseWriter) => Effect.Effect<void, never, R>

/**
 * An outgoing request from a client.
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientRequest {
  readonly method: "POST" | "GET"
  /** Absolute URL. */
  readonly url: string
  readonly headers: Headers
  /** A single buffer for unary calls, a stream for streaming calls, nothing for GET. */
  readonly body: Uint8Array | Stream.Stream<Uint8Array, ConnectError> | undefined
}

/**
 * An HTTP response as a client transport delivers it: available as soon as the headers arrive.
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientResponse {
  readonly status: number
  readonly headers: Headers
  /** The response bytes as they arrive; fails with a `ConnectError` when the exchange breaks. */
  readonly body: Stream.Stream<Uint8Array, ConnectError>
  /** HTTP trailers, available once `body` has ended (empty Headers when the transport has none). */
  readonly trailers: Effect.Effect<Headers>
  /**
   * Optional: reads the whole body into one buffer (instead of `body`), failing with
   * `resource_exhausted` past `maxBytes`. Transports implement it without a Stream (unary calls).
   */
  readonly readAll?: ((maxBytes: number) => Effect.Effect<Uint8Array, ConnectError>) | undefined
}

/**
 * A platform's way to perform HTTP exchanges. The exchange is tied to the `Scope`:
 * closing the scope before the response body has ended aborts the exchange
 * (RST_STREAM on HTTP/2, socket destroy on HTTP/1.1). Failures are `ConnectError`s
 * (`unavailable` for connection errors, `deadline_exceeded`/`canceled` as appropriate).
 *
 * @category services
 * @since 0.1.0
 */
export class HttpClient extends Context.Service<HttpClient, {
  readonly request: (request: ClientRequest) => Effect.Effect<ClientResponse, ConnectError, Scope.Scope>
}>()("@connect-effect/core/HttpClient") {}
