/**
 * The Connect wire format: content types, `connect-timeout-ms`, the error JSON and the
 * end-stream message (both directions).
 */
import type { DescMethod } from "@bufbuild/protobuf"
import { base64Decode, base64Encode } from "@bufbuild/protobuf/wire"
import * as Code from "../Code.ts"
import * as ConnectError from "../ConnectError.ts"

/**
 * The protocol version this module speaks.
 *
 * @category constants
 * @since 0.1.0
 */
export const PROTOCOL_VERSION = "1"

// -----------------------------------------------------------------------------
// error JSON and end-stream JSON (both directions)
// -----------------------------------------------------------------------------

/**
 * The wire form of an error (the body of a unary error, the `error` of an end-stream message).
 *
 * @category models
 * @since 0.1.0
 */
export interface ErrorJson {
  code: string
  message?: string
  details?: Array<{ type: string; value: string; debug?: unknown }>
}

/**
 * Serializes an error to its JSON object.
 *
 * @category encoding
 * @since 0.1.0
 */
export const errorToJson = (error: ConnectError.ConnectError): ErrorJson => {
  const out: ErrorJson = { code: error.code }
  if (error.message !== "") out.message = error.message
  if (error.details !== undefined && error.details.length > 0) {
    out.details = error.details.map((d) => {
      const detail: { type: string; value: string; debug?: unknown } = {
        type: d.type,
        value: base64Encode(d.value, "std_raw")
      }
      if (d.debug !== undefined) detail.debug = d.debug
      return detail
    })
  }
  return out
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/**
 * Parses an error JSON object. Returns `undefined` when the value is not a valid
 * Connect error (no or unknown `code`), so the caller can fall back to the HTTP status.
 */
export const errorFromJson = (value: unknown, metadata: Headers | undefined): ConnectError.ConnectError | undefined => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  const v = value as Record<string, unknown>
  if (!Code.isCode(v.code)) return undefined
  const message = typeof v.message === "string" ? v.message : ""
  const details: Array<ConnectError.ErrorDetail> = []
  if (Array.isArray(v.details)) {
    for (const d of v.details) {
      if (typeof d !== "object" || d === null) continue
      const { type, value: data, debug } = d as Record<string, unknown>
      if (typeof type !== "string" || typeof data !== "string") continue
      try {
        details.push({ type: type.replace(/^type\.googleapis\.com\//, ""), value: base64Decode(data), ...(debug !== undefined ? { debug } : {}) })
      } catch {
        // skip a detail whose value is not base64
      }
    }
  }
  return ConnectError.make(v.code, message, { metadata, details })
}

const headersToJson = (headers: Headers): Record<string, Array<string>> => {
  const out: Record<string, Array<string>> = {}
  headers.forEach((value, key) => {
    // Headers joins repeated values; set-cookie is the only one it keeps apart.
    out[key] = key === "set-cookie" ? headers.getSetCookie() : value.split(", ")
  })
  return out
}

/**
 * Encodes the end-stream message payload.
 *
 * @category encoding
 * @since 0.1.0
 */
export const endStreamToJson = (error: ConnectError.ConnectError | undefined, trailers: Headers): Uint8Array => {
  const body: { error?: ErrorJson; metadata?: Record<string, Array<string>> } = {}
  if (error !== undefined) body.error = errorToJson(error)
  const meta = headersToJson(trailers)
  if (Object.keys(meta).length > 0) body.metadata = meta
  return textEncoder.encode(JSON.stringify(body))
}

/**
 * Parses an end-stream message payload into trailers and an optional error.
 *
 * @category decoding
 * @since 0.1.0
 */
export const endStreamFromJson = (
  data: Uint8Array
): { readonly trailers: Headers; readonly error: ConnectError.ConnectError | undefined } => {
  let parsed: unknown
  try {
    parsed = JSON.parse(textDecoder.decode(data))
  } catch {
    throw ConnectError.make("internal", "protocol error: invalid end-stream message: not JSON")
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw ConnectError.make("internal", "protocol error: invalid end-stream message")
  }
  const trailers = new Headers()
  const meta = (parsed as Record<string, unknown>).metadata
  if (meta !== undefined && meta !== null) {
    if (typeof meta !== "object" || Array.isArray(meta)) {
      throw ConnectError.make("internal", "protocol error: invalid end-stream metadata")
    }
    for (const [key, values] of Object.entries(meta)) {
      if (!Array.isArray(values)) throw ConnectError.make("internal", "protocol error: invalid end-stream metadata")
      for (const v of values) {
        if (typeof v !== "string") throw ConnectError.make("internal", "protocol error: invalid end-stream metadata")
        try {
          trailers.append(key, v)
        } catch {
          // not a valid header name or value
          throw ConnectError.make("internal", "protocol error: invalid end-stream metadata")
        }
      }
    }
  }
  const errorValue = (parsed as Record<string, unknown>).error
  let error: ConnectError.ConnectError | undefined
  if (errorValue !== undefined && errorValue !== null) {
    error = errorFromJson(errorValue, trailers)
    if (error === undefined) {
      const message = typeof errorValue === "object" && typeof (errorValue as { message?: unknown }).message === "string"
        ? (errorValue as { message: string }).message
        : "protocol error: invalid error in end-stream message"
      error = ConnectError.make("unknown", message, { metadata: trailers })
    }
  }
  return { trailers, error }
}

// -----------------------------------------------------------------------------
// content types and headers
// -----------------------------------------------------------------------------

/**
 * A parsed Connect content type.
 *
 * @category models
 * @since 0.1.0
 */
export interface ContentType {
  readonly stream: boolean
  readonly codec: "proto" | "json"
}

/**
 * Parses a Connect content type (`application/proto`, `application/connect+json; charset=utf-8`, …).
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseContentType = (value: string | null): ContentType | undefined => {
  if (value === null) return undefined
  let v = value.toLowerCase()
  const semi = v.indexOf(";")
  if (semi !== -1) {
    const params = v.slice(semi + 1).trim()
    v = v.slice(0, semi).trim()
    if (params !== "" && params !== "charset=utf-8" && params !== "charset=\"utf-8\"") return undefined
  }
  switch (v) {
    case "application/proto":
      return { stream: false, codec: "proto" }
    case "application/json":
      return { stream: false, codec: "json" }
    case "application/connect+proto":
      return { stream: true, codec: "proto" }
    case "application/connect+json":
      return { stream: true, codec: "json" }
    default:
      return undefined
  }
}

/**
 * Parses `connect-timeout-ms`: 1 to 10 digits. `undefined` when absent; throws on garbage.
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseTimeout = (value: string | null): number | undefined => {
  if (value === null) return undefined
  if (!/^[0-9]{1,10}$/.test(value)) {
    throw ConnectError.make("invalid_argument", `protocol error: invalid connect-timeout-ms: ${JSON.stringify(value)}`)
  }
  return Number(value)
}

// Connect reads an empty encoding header as `identity` (hence the `|| null` below), gRPC as a name.

/**
 * True when a method may be called with a GET request.
 *
 * @category utils
 * @since 0.1.0
 */
export const allowsGet = (method: DescMethod): boolean =>
  method.methodKind === "unary" && method.idempotency === 1 /* NO_SIDE_EFFECTS */
