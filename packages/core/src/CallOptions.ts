/**
 * Per-call options of a client call.
 *
 * @since 0.1.0
 */

import type { HeadersInput } from "./Http.ts"

/**
 * Options for one client call.
 *
 * @category models
 * @since 0.1.0
 */
export interface CallOptions {
  /** Request headers to send (merged over the client's defaults). */
  readonly headers?: HeadersInput | undefined
  /** Timeout in milliseconds; the smaller of this and an inherited deadline wins. */
  readonly timeoutMs?: number | undefined
  /** Called with the response headers as soon as they arrive. */
  readonly onHeaders?: ((headers: Headers) => void) | undefined
  /** Called with the response trailers when the call ends (also on error). */
  readonly onTrailers?: ((trailers: Headers) => void) | undefined
}
