/**
 * The sixteen Connect error codes, their gRPC numbers and their HTTP statuses.
 *
 * @since 0.1.0
 */

/**
 * A Connect error code as it appears in the wire error JSON.
 *
 * @category models
 * @since 0.1.0
 */
export type Code =
  | "canceled"
  | "unknown"
  | "invalid_argument"
  | "deadline_exceeded"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "resource_exhausted"
  | "failed_precondition"
  | "aborted"
  | "out_of_range"
  | "unimplemented"
  | "internal"
  | "unavailable"
  | "data_loss"
  | "unauthenticated"

/**
 * Every code, indexed by its gRPC number minus one.
 *
 * @category constants
 * @since 0.1.0
 */
export const all: ReadonlyArray<Code> = [
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated"
]

const numbers: Record<string, number> = Object.fromEntries(all.map((code, i) => [code, i + 1]))

/**
 * True for a string that names a Connect code.
 *
 * @category guards
 * @since 0.1.0
 */
export const isCode = (value: unknown): value is Code => typeof value === "string" && Object.hasOwn(numbers, value)

/**
 * The gRPC status number of a code (`canceled` → 1 … `unauthenticated` → 16).
 *
 * @category conversions
 * @since 0.1.0
 */
export const toGrpcNumber = (code: Code): number => numbers[code]!

/**
 * The code of a gRPC status number; `undefined` for 0 (OK); unknown numbers map to `unknown`.
 *
 * @category conversions
 * @since 0.1.0
 */
export const fromGrpcNumber = (n: number): Code | undefined =>
  n === 0 ? undefined : n >= 1 && n <= 16 ? all[n - 1] : "unknown"

const httpStatuses: Record<Code, number> = {
  canceled: 499,
  unknown: 500,
  invalid_argument: 400,
  deadline_exceeded: 504,
  not_found: 404,
  already_exists: 409,
  permission_denied: 403,
  resource_exhausted: 429,
  failed_precondition: 400,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  data_loss: 500,
  unauthenticated: 401
}

/**
 * The HTTP status the Connect protocol uses for a code in a unary error response.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toHttpStatus = (code: Code): number => httpStatuses[code]

/**
 * The code a client infers from an HTTP status when the body carries no Connect error
 * (the mapping of the Connect and gRPC HTTP specs).
 *
 * @category conversions
 * @since 0.1.0
 */
export const fromHttpStatus = (status: number): Code => {
  switch (status) {
    case 400:
      return "internal"
    case 401:
      return "unauthenticated"
    case 403:
      return "permission_denied"
    case 404:
      return "unimplemented"
    case 408:
      return "deadline_exceeded"
    case 429:
    case 502:
    case 503:
    case 504:
      return "unavailable"
    default:
      return "unknown"
  }
}
