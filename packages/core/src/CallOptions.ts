/**
 * Per-call options of a client call.
 *
 * @since 0.1.0
 */

import type * as Duration from "effect/Duration"
import type { HeadersInput } from "./Http.ts"

/**
 * Options for one client call.
 *
 * @category models
 * @since 0.1.0
 */
export interface CallOptions {
  /**
   * Request headers to send. They replace same-named headers of the client's defaults
   * (`ClientOptions.headers`) and of `Transport.withHeaders`; other defaults are kept.
   */
  readonly headers?: HeadersInput | undefined
  /**
   * Timeout of the call (`"2 seconds"`, `Duration.seconds(2)`, a number of milliseconds), in
   * place of the client's default; the smaller of this and an inherited deadline wins. With
   * `timeoutMs` too, the smaller of both wins. An infinite timeout disables the client's default.
   */
  readonly timeout?: Duration.Input | undefined
  /** Timeout in milliseconds, as `timeout`; the smaller of this and an inherited deadline wins. */
  readonly timeoutMs?: number | undefined
  /** Called with the response headers as soon as they arrive. */
  readonly onHeaders?: ((headers: Headers) => void) | undefined
  /** Called with the response trailers when the call ends (also on error). */
  readonly onTrailers?: ((trailers: Headers) => void) | undefined
}
