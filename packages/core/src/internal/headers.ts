/**
 * Header helpers of the protocols: appending header sets, and telling protocol headers from user
 * headers (which interceptors and handlers set, and which errors carry as metadata).
 */
/** Appends every value of `source` to `target`. */
export const appendAll = (target: Headers, source: Headers | undefined): void => {
  if (source === undefined) return
  source.forEach((value, key) => target.append(key, value))
}

/** Parses a comma-separated header list (`gzip, br`) into trimmed names. */
export const parseList = (value: string | null): Array<string> => {
  if (value === null || value === "") return []
  const out: Array<string> = []
  for (const part of value.split(",")) {
    const t = part.trim()
    if (t !== "") out.push(t)
  }
  return out
}

/**
 * Headers a protocol owns, and the connection-specific ones (HTTP/2 forbids them, HTTP/1.1 owns
 * them): user code must not be able to override or echo them as metadata.
 */
const protocolHeaders = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "accept-encoding",
  "connect-protocol-version",
  "connect-timeout-ms",
  "connect-content-encoding",
  "connect-accept-encoding",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "te",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "upgrade",
  "http2-settings",
  "host",
  "date"
])

/** True for a header that carries protocol state rather than user metadata. */
export const isProtocolHeader = (name: string): boolean => protocolHeaders.has(name)
