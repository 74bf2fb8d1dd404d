/**
 * Conversions between web `Headers` and Node's header shapes.
 *
 * @internal
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http"
import { headerList } from "@connect-effect/core/Http"

/** A header list (`Http.headerList`) → a Node outgoing header object (repeated names as arrays). */
const listToNode = (list: ReadonlyArray<string>): OutgoingHttpHeaders => {
  const out: OutgoingHttpHeaders = {}
  for (let i = 0; i < list.length; i += 2) {
    const key = list[i]!
    const value = list[i + 1]!
    const prev = out[key]
    if (prev === undefined) out[key] = value
    else if (Array.isArray(prev)) prev.push(value)
    else out[key] = [prev as string, value]
  }
  return out
}

/** Web `Headers` → a Node outgoing header object (`set-cookie` kept as an array). */
export const toNode = (headers: Headers): OutgoingHttpHeaders => {
  const list = headerList(headers)
  if (list !== undefined) return listToNode(list)
  const out: OutgoingHttpHeaders = {}
  let cookies = false
  headers.forEach((value, key) => {
    if (key === "set-cookie") cookies = true
    else out[key] = value
  })
  if (cookies) out["set-cookie"] = headers.getSetCookie()
  return out
}

/**
 * Web `Headers` → appended to a raw header list (`[name, value, …]`, as HTTP/2 `respond` takes
 * it). Iterating `Headers` yields each `set-cookie` on its own, the others combined.
 */
export const toRawList = (headers: Headers, out: Array<string>): Array<string> => {
  const list = headerList(headers)
  if (list !== undefined) {
    for (let i = 0; i < list.length; i++) out.push(list[i]!)
    return out
  }
  headers.forEach((value, key) => {
    out.push(key, value)
  })
  return out
}

/**
 * Node's `rawHeaders` list (`[name, value, name, value, …]`, HTTP/1.1 or HTTP/2) → web `Headers`.
 * HTTP/2 pseudo-headers are left out, and `cookie` fields are joined with "; " (RFC 9113
 * §8.2.3: HTTP/2 clients may send each cookie as a field of its own), as Node's HTTP/2 header
 * object does; other repeated names are appended (`get` joins them with ", ").
 */
export const fromRaw = (raw: ReadonlyArray<string>): Headers => {
  const out = new Headers()
  let cookie: string | null = null
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!
    if (name.charCodeAt(0) === 58 /* : */) continue
    if (isCookie(name)) cookie = joinCookie(cookie, raw[i + 1]!)
    else out.append(name, raw[i + 1]!)
  }
  if (cookie !== null) out.set("cookie", cookie)
  return out
}

const isCookie = (name: string): boolean => name.length === 6 && name.toLowerCase() === "cookie"

const joinCookie = (cookie: string | null, value: string): string => {
  const v = normalize(value)
  return cookie === null ? v : `${cookie}; ${v}`
}

/** Removes leading and trailing HTTP whitespace, as web `Headers` normalizes values. */
const normalize = (value: string): string => {
  const n = value.length
  if (n === 0) return value
  const first = value.charCodeAt(0)
  const last = value.charCodeAt(n - 1)
  const ws = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d
  if (!ws(first) && !ws(last)) return value
  let start = 0
  let end = n
  while (start < end && ws(value.charCodeAt(start))) start++
  while (end > start && ws(value.charCodeAt(end - 1))) end--
  return value.slice(start, end)
}

/** One header of a `rawHeaders` list by lower-case name, as `fromRaw(raw).get(name)` gives it. */
export const getRaw = (raw: ReadonlyArray<string>, name: string): string | null => {
  let out: string | null = null
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!
    if (key.length !== name.length || key.toLowerCase() !== name) continue
    if (name === "cookie") {
      out = joinCookie(out, raw[i + 1]!)
      continue
    }
    const value = normalize(raw[i + 1]!)
    out = out === null ? value : `${out}, ${value}`
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

/** An empty Node outgoing header object, shared (never written to). */
export const EMPTY: OutgoingHttpHeaders = {}
