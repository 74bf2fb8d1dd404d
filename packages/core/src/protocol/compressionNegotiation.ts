/**
 * Compression negotiation of both protocols on both sides: the compression a peer names in an
 * encoding header, the one to answer with, and the `accept-encoding` value we offer.
 */
import type { Compression } from "../Compression.ts"
import * as ConnectError from "../ConnectError.ts"
import type { HeaderList } from "../internal/headerList.ts"
import { parseList } from "../internal/headers.ts"

const acceptCache = new WeakMap<ReadonlyArray<{ readonly name: string }>, string>()

/** The `accept-encoding` value offering `supported` (`gzip,br`), computed once per list. */
export const acceptEncodingOf = (supported: ReadonlyArray<{ readonly name: string }>): string => {
  let value = acceptCache.get(supported)
  if (value === undefined) {
    value = supported.map((c) => c.name).join(",")
    acceptCache.set(supported, value)
  }
  return value
}

/** Sets the accept-encoding header `name` (`grpc-accept-encoding`, …) when anything is supported. */
export const setAcceptEncoding = (headers: Headers, name: string, supported: ReadonlyArray<Compression>): void => {
  if (supported.length > 0) headers.set(name, acceptEncodingOf(supported))
}

/** {@link setAcceptEncoding} for response headers the protocol builds (no such field in them yet). */
export const addAcceptEncoding = (headers: HeaderList, name: string, supported: ReadonlyArray<Compression>): void => {
  if (supported.length > 0) headers.add(name, acceptEncodingOf(supported))
}

/** Picks the response compression: the first name in the peer's accept header that we support. */
export const negotiate = (accept: string | null, supported: ReadonlyArray<Compression>): Compression | undefined => {
  if (supported.length === 0) return undefined
  for (const name of parseList(accept)) {
    if (name === "identity") continue
    const c = supported.find((s) => s.name === name)
    if (c !== undefined) return c
  }
  return undefined
}

const find = (name: string | null, supported: ReadonlyArray<Compression>): Compression | null | undefined =>
  name === null || name === "identity" ? undefined : supported.find((s) => s.name === name) ?? null

/**
 * The compression a client names for its request (`undefined`: none, for no header or
 * `identity`); an unsupported one is `unimplemented`, listing what is supported.
 */
export const requestCompression = (name: string | null, supported: ReadonlyArray<Compression>): Compression | undefined => {
  const c = find(name, supported)
  if (c === null) {
    throw ConnectError.make(
      "unimplemented",
      `unknown compression ${JSON.stringify(name)}: supported encodings are ${
        supported.map((s) => s.name).join(", ") || "(none)"
      }`
    )
  }
  return c
}

/**
 * The compression a server names for its response (`undefined`: none, for no header or
 * `identity`); one the client did not offer is an `internal` protocol error.
 */
export const responseCompression = (name: string | null, supported: ReadonlyArray<Compression>): Compression | undefined => {
  const c = find(name, supported)
  if (c === null) {
    throw ConnectError.make("internal", `protocol error: server used unsupported compression ${JSON.stringify(name)}`)
  }
  return c
}
