/**
 * The gRPC and gRPC-Web wire format: content types, `grpc-timeout`, the percent-encoded
 * `grpc-message`, binary headers, status trailers and the gRPC-Web trailer frame.
 */
import { base64Decode, base64Encode } from "@bufbuild/protobuf/wire"
import * as Code from "../Code.ts"
import * as ConnectError from "../ConnectError.ts"
import * as GrpcStatus from "./status.ts"
import * as Server from "../protocol/server.ts"
import { eachField, HeaderList, putField as put } from "../internal/headerList.ts"

/**
 * A parsed gRPC or gRPC-Web content type.
 *
 * @category models
 * @since 0.1.0
 */
export interface ContentType {
  readonly web: boolean
  readonly codec: "proto" | "json"
  /** The content type to answer with. */
  readonly value: string
}

/**
 * Parses `application/grpc[+proto|+json]` and `application/grpc-web[+proto|+json]`.
 * `undefined` for anything else (including unknown sub-types: the router answers 415).
 */
export const parseContentType = (value: string | null): ContentType | undefined => {
  if (value === null) return undefined
  let v = value.toLowerCase()
  const semi = v.indexOf(";")
  if (semi !== -1) v = v.slice(0, semi).trim()
  let web: boolean
  let rest: string
  if (v.startsWith("application/grpc-web")) {
    web = true
    rest = v.slice("application/grpc-web".length)
  } else if (v.startsWith("application/grpc")) {
    web = false
    rest = v.slice("application/grpc".length)
  } else return undefined
  const base = web ? "application/grpc-web" : "application/grpc"
  switch (rest) {
    case "":
    case "+proto":
      return { web, codec: "proto", value: `${base}${rest}` }
    case "+json":
      return { web, codec: "json", value: `${base}+json` }
    default:
      return undefined
  }
}

const timeoutUnits: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }

/**
 * Parses `grpc-timeout` (1 to 8 digits and a unit H M S m u n) into milliseconds; throws on garbage.
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseTimeout = (value: string | null): number | undefined => {
  if (value === null) return undefined
  const m = /^([0-9]{1,8})([HMSmun])$/.exec(value)
  if (m === null) {
    throw ConnectError.make("invalid_argument", `protocol error: invalid grpc-timeout: ${JSON.stringify(value)}`)
  }
  return Number(m[1]) * timeoutUnits[m[2]!]!
}

/**
 * Formats a timeout in milliseconds as `grpc-timeout` (at most 8 digits).
 *
 * @category encoding
 * @since 0.1.0
 */
export const formatTimeout = (ms: number): string => {
  if (ms < 1e8) return `${Math.max(0, Math.ceil(ms))}m`
  const s = Math.ceil(ms / 1000)
  if (s < 1e8) return `${s}S`
  const min = Math.ceil(s / 60)
  if (min < 1e8) return `${min}M`
  return `${Math.min(99_999_999, Math.ceil(min / 60))}H`
}

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()

/** Printable ASCII except `%`, not starting or ending with a space (or empty). */
const PLAIN_MESSAGE = /^(?:[\x21-\x24\x26-\x7e](?:[\x20-\x24\x26-\x7e]*[\x21-\x24\x26-\x7e])?)?$/

/**
 * Percent-encodes a `grpc-message` value (bytes outside printable ASCII, and `%`). A leading or
 * trailing space is encoded too: header values are trimmed on the way (fetch `Headers` does), and
 * the message must come back as it was.
 */
export const encodeMessageHeader = (message: string): string => {
  // most messages are plain printable ASCII without `%` and without edge spaces: sent as they are
  if (PLAIN_MESSAGE.test(message)) return message
  let out = ""
  const bytes = utf8.encode(message)
  const last = bytes.length - 1
  for (let i = 0; i <= last; i++) {
    const b = bytes[i]!
    if (b >= 0x20 && b <= 0x7e && b !== 0x25 && !(b === 0x20 && (i === 0 || i === last))) out += String.fromCharCode(b)
    else out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return out
}

/**
 * Decodes a percent-encoded `grpc-message`; invalid escapes are kept as they are.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeMessageHeader = (value: string): string => {
  if (!value.includes("%")) return value
  const bytes: Array<number> = []
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x25 && i + 2 < value.length + 0 && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      for (const b of utf8.encode(value[i]!)) bytes.push(b)
    }
  }
  return utf8Decoder.decode(new Uint8Array(bytes))
}

/**
 * Encodes a `-bin` header value: unpadded base64.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeBinaryHeader = (bytes: Uint8Array): string => base64Encode(bytes, "std_raw")

/**
 * Decodes a `-bin` header value (padded or not).
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeBinaryHeader = (value: string): Uint8Array => base64Decode(value)

/**
 * The status trailers of a call (`grpc-status` 0 when `error` is undefined).
 *
 * @category encoding
 * @since 0.1.0
 */
export const statusTrailers = (
  error: ConnectError.ConnectError | undefined,
  trailers: Headers | undefined,
  /** Where to add them (a trailers-only response's headers); new headers by default. */
  out: Headers = new HeaderList()
): Headers => {
  // the status fields are valid by construction, and absent from `out` (user fields never carry
  // protocol names)
  Server.addUserHeaders(out, trailers)
  if (error === undefined) {
    put(out, "grpc-status", "0")
    return out
  }
  if (error.metadata !== undefined) Server.addUserHeaders(out, error.metadata)
  put(out, "grpc-status", String(Code.toGrpcNumber(error.code)))
  if (error.message !== "") put(out, "grpc-message", encodeMessageHeader(error.message))
  if (error.details !== undefined && error.details.length > 0) {
    put(
      out,
      "grpc-status-details-bin",
      encodeBinaryHeader(GrpcStatus.encode({ code: Code.toGrpcNumber(error.code), message: error.message, details: error.details }))
    )
  }
  return out
}

/**
 * Serializes trailers as a gRPC-Web trailer frame payload.
 *
 * @category encoding
 * @since 0.1.0
 */
export const trailersToWebFrame = (trailers: Headers): Uint8Array => {
  let s = ""
  eachField(trailers, (name, value) => {
    s += `${name}: ${value}\r\n`
  })
  return utf8.encode(s)
}

/**
 * Parses a gRPC-Web trailer frame payload; throws `internal` on a malformed block.
 *
 * @category decoding
 * @since 0.1.0
 */
export const trailersFromWebFrame = (data: Uint8Array): Headers => {
  const out = new Headers()
  const text = utf8Decoder.decode(data)
  for (const line of text.split("\r\n")) {
    if (line === "") continue
    const i = line.indexOf(":")
    if (i <= 0) throw ConnectError.make("internal", `protocol error: invalid gRPC-Web trailer line ${JSON.stringify(line)}`)
    try {
      out.append(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim())
    } catch {
      throw ConnectError.make("internal", `protocol error: invalid gRPC-Web trailer line ${JSON.stringify(line)}`)
    }
  }
  return out
}

