/**
 * Node's client errors (socket, DNS, TLS, HTTP/2 session and stream resets) as `ConnectError`s.
 *
 * @internal
 */
import * as http2 from "node:http2"
import * as ConnectError from "@connect-effect/core/ConnectError"

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_PING_CANCEL",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_HTTP2_ERROR",
  "ERR_SOCKET_CLOSED",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET"
])

/** Certificate verification failures reported by `node:tls` (OpenSSL X509 codes). */
const CERT_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "PATH_LENGTH_EXCEEDED",
  "HOSTNAME_MISMATCH"
])

/** A TLS handshake or certificate error: `unavailable`, with OpenSSL's reason when it has one. */
const fromTlsError = (e: { code?: unknown; message?: unknown; reason?: unknown; library?: unknown }) => {
  const code = typeof e.code === "string" ? e.code : undefined
  const isTls = code !== undefined &&
    (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || CERT_CODES.has(code))
  if (!isTls && e.library !== "SSL routines") return undefined
  const detail = typeof e.reason === "string" && e.reason !== ""
    ? e.reason
    : typeof e.message === "string"
    ? e.message
    : String(e)
  return ConnectError.make("unavailable", `tls: ${detail}${code !== undefined ? ` (${code})` : ""}`)
}

/** A Node error (socket, DNS, TLS, HTTP/2 session) as a `ConnectError`. */
export const fromNodeError = (error: unknown): ConnectError.ConnectError => {
  if (ConnectError.isConnectError(error)) return error
  const e = error as { code?: unknown; message?: unknown; syscall?: unknown; cause?: unknown }
  if (e?.cause !== undefined && e.cause !== null) {
    // e.g. ERR_HTTP2_STREAM_CANCEL caused by ECONNREFUSED
    const cause = fromNodeError(e.cause)
    if (cause.code === "unavailable") return cause
  }
  if (typeof e === "object" && e !== null) {
    const tlsError = fromTlsError(e)
    if (tlsError !== undefined) return tlsError
  }
  const message = typeof e?.message === "string" ? e.message : String(error)
  if (typeof e?.code === "string" && NETWORK_CODES.has(e.code)) {
    const unavailable = ConnectError.make("unavailable", message)
    // a failed connect or DNS lookup: no byte of the request left this process
    return e.syscall === "connect" || e.syscall === "getaddrinfo" ? ConnectError.notSent(unavailable) : unavailable
  }
  if (message === "socket hang up" || typeof e?.syscall === "string") return ConnectError.make("unavailable", message)
  return ConnectError.make("internal", message)
}

/** An HTTP/2 RST_STREAM code received from the server as a `ConnectError`. */
export const fromRstCode = (rstCode: number | undefined): ConnectError.ConnectError => {
  const c = http2.constants
  switch (rstCode) {
    case c.NGHTTP2_CANCEL:
      return ConnectError.make("canceled", "http/2 stream canceled by the server (RST_STREAM CANCEL)")
    case c.NGHTTP2_REFUSED_STREAM:
      // RFC 9113 §8.7: a refused stream was not processed
      return ConnectError.notSent(
        ConnectError.make("unavailable", "http/2 stream refused by the server (RST_STREAM REFUSED_STREAM)")
      )
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      return ConnectError.make("resource_exhausted", "http/2 stream reset by the server (ENHANCE_YOUR_CALM)")
    case c.NGHTTP2_INADEQUATE_SECURITY:
      return ConnectError.make("permission_denied", "http/2 stream reset by the server (INADEQUATE_SECURITY)")
    default:
      return ConnectError.make("internal", `http/2 stream closed with error code ${rstCode ?? "unknown"}`)
  }
}

/** The error of a call the client canceled (its scope closed before the exchange ended). */
export const canceledByClient = () => ConnectError.make("canceled", "the call was canceled")
