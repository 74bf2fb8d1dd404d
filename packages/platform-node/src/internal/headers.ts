/**
 * Conversions between web `Headers` and Node's header shapes.
 *
 * @internal
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http"

/** Web `Headers` → a Node outgoing header object (`set-cookie` kept as an array). */
export const toNode = (headers: Headers): OutgoingHttpHeaders => {
  const out: OutgoingHttpHeaders = {}
  headers.forEach((value, key) => {
    if (key === "set-cookie") return
    out[key] = value
  })
  const cookies = headers.getSetCookie()
  if (cookies.length > 0) out["set-cookie"] = cookies
  return out
}

/** Node's `rawHeaders` list (`[name, value, name, value, …]`) → web `Headers`. */
export const fromRaw = (raw: ReadonlyArray<string>): Headers => {
  const out = new Headers()
  for (let i = 0; i + 1 < raw.length; i += 2) {
    out.append(raw[i]!, raw[i + 1]!)
  }
  return out
}

/** A Node incoming header object (HTTP/2 style) → web `Headers`, skipping pseudo-headers. */
export const fromObject = (headers: IncomingHttpHeaders): Headers => {
  const out = new Headers()
  for (const key in headers) {
    if (key.charCodeAt(0) === 58 /* : */) continue
    const value = headers[key]
    if (value === undefined) continue
    if (typeof value === "string") out.append(key, value)
    else for (const v of value) out.append(key, v)
  }
  return out
}
