/**
 * What a server handler knows about its call: the method, request headers, response headers and
 * trailers it may set, and the deadline.
 *
 * @since 0.1.0
 */
import type { DescMethod } from "@bufbuild/protobuf"
import * as Context from "effect/Context"
import type { Peer, ProtocolName } from "./Http.ts"

/**
 * The call a handler is serving. Headers and trailers it sets are sent with the response.
 *
 * @category models
 * @since 0.1.0
 */
export interface HandlerContext {
  readonly method: DescMethod
  /** `connect`, `grpc` or `grpc-web`. */
  readonly protocol: ProtocolName
  /** The HTTP method of the request (`POST`, or `GET` for Connect GET calls). */
  readonly httpMethod: string
  /** Path and query of the request. */
  readonly url: string
  readonly requestHeaders: Headers
  readonly responseHeaders: Headers
  readonly responseTrailers: Headers
  /**
   * Absolute deadline in milliseconds of the server fiber's `Clock` (epoch milliseconds, or a
   * `TestClock`'s time in tests), or `undefined` when the call has none.
   */
  readonly deadline: number | undefined
  /** Milliseconds left before the deadline, or `undefined`. */
  readonly timeRemaining: () => number | undefined
  /**
   * The client end of the connection (address and port) when the platform knows it: read from
   * the socket on first use, `undefined` in memory and on platforms that do not tell.
   */
  readonly peer?: Peer | undefined
}

/**
 * The current server call, provided to handlers and interceptors. Client calls made while it is
 * present inherit its deadline.
 */
export class CurrentCall extends Context.Service<CurrentCall, HandlerContext>()("@connect-effect/core/CurrentCall") {}
