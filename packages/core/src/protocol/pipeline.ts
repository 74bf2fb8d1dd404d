/**
 * The message pipeline of both protocols on both sides: codec, compression, envelope flags and
 * size limits. Writers are synchronous until a compression runs and hand the bytes to a
 * continuation (no Effect per message when nothing is compressed); readers decode uncompressed
 * payloads synchronously. Read errors take the code of the side that reads.
 */
import type { DescMessage } from "@bufbuild/protobuf"
import * as Effect from "effect/Effect"
import type * as Code from "../Code.ts"
import { type Codec, proto, toMessage } from "../Codec.ts"
import type { Compression } from "../Compression.ts"
import * as ConnectError from "../ConnectError.ts"
import * as Envelope from "../Envelope.ts"
import * as BinaryEncoder from "../internal/binaryEncoder.ts"

/** The side that reads a message: a server blames the request, a client the server. */
export type Side = "server" | "client"

/** The code of a message that cannot be read: `invalid_argument` on servers, `internal` on clients. */
const readErrorCode = (side: Side): Code.Code => side === "server" ? "invalid_argument" : "internal"

/** The limits of a call's messages (both the server and the client configuration have them). */
export interface Limits {
  readonly readMaxBytes: number
  readonly writeMaxBytes: number
  readonly compressMinBytes: number
}

/** Decodes a message, turning a codec failure into `code` (servers: invalid_argument, clients: internal). */
export const decodeMessage = <D extends DescMessage>(codec: Codec, schema: D, bytes: Uint8Array, code: Code.Code) => {
  try {
    return codec.decode(schema, bytes)
  } catch (e) {
    throw unmarshalError(schema, e, code)
  }
}

/** {@link decodeMessage} of `bytes[start, end)` with the codec's `decodeRange` (the caller checked it has one). */
export const decodeMessageRange = <D extends DescMessage>(
  codec: Codec,
  schema: D,
  bytes: Uint8Array,
  start: number,
  end: number,
  code: Code.Code
) => {
  try {
    return codec.decodeRange!(schema, bytes, start, end)
  } catch (e) {
    throw unmarshalError(schema, e, code)
  }
}

const unmarshalError = (schema: DescMessage, e: unknown, code: Code.Code) =>
  ConnectError.make(code, `unmarshal ${schema.typeName}: ${e instanceof Error ? e.message : String(e)}`)

const marshalError = (schema: DescMessage, e: unknown) =>
  ConnectError.make("internal", `marshal ${schema.typeName}: ${e instanceof Error ? e.message : String(e)}`)

const checkWriteMax = (size: number, writeMaxBytes: number): void => {
  if (size > writeMaxBytes) {
    throw ConnectError.make("resource_exhausted", `message size ${size} exceeds configured max ${writeMaxBytes} bytes (writeMaxBytes)`)
  }
}

/** Encodes a message and checks it against the write limit. */
export const encodeMessage = (codec: Codec, schema: DescMessage, message: unknown, writeMaxBytes: number) => {
  let bytes: Uint8Array
  try {
    bytes = codec.encode(schema, message as never)
  } catch (e) {
    throw marshalError(schema, e)
  }
  checkWriteMax(bytes.byteLength, writeMaxBytes)
  return bytes
}

/**
 * Encodes a message as one uncompressed envelope (flags 0). With the built-in proto codec the
 * message is written after 5 bytes of headroom and the header goes there: header and message
 * leave as one buffer, the message never copied. Throws as {@link encodeMessage}.
 */
export const encodeEnvelope = (codec: Codec, schema: DescMessage, message: unknown, writeMaxBytes: number): Uint8Array => {
  if (codec !== proto) return Envelope.encode(0, encodeMessage(codec, schema, message, writeMaxBytes))
  let out: Uint8Array
  try {
    out = BinaryEncoder.encode(schema, toMessage(schema, message as never), 5)
  } catch (e) {
    throw marshalError(schema, e)
  }
  checkWriteMax(out.byteLength - 5, writeMaxBytes)
  Envelope.writeHeader(out, 0, 0, out.byteLength - 5)
  return out
}

// -----------------------------------------------------------------------------
// writing
// -----------------------------------------------------------------------------

/** {@link encodeMessage} with its failure as a value (`internal` unless it says otherwise). */
const encodeOrError = (
  codec: Codec,
  schema: DescMessage,
  message: unknown,
  writeMaxBytes: number
): Uint8Array | ConnectError.ConnectError => {
  try {
    return encodeMessage(codec, schema, message, writeMaxBytes)
  } catch (e) {
    return ConnectError.from(e, "internal")
  }
}

/**
 * Writes one message without an envelope (Connect unary): encoded, compressed when `compression`
 * is set and the message reaches `compressMinBytes`, then handed to `send` with the compression
 * used (`undefined`: sent as it is).
 */
export const writePayload = <A, E, R>(
  codec: Codec,
  schema: DescMessage,
  message: unknown,
  compression: Compression | undefined,
  limits: Limits,
  send: (payload: Uint8Array, compression: Compression | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | ConnectError.ConnectError, R> => {
  const bytes = encodeOrError(codec, schema, message, limits.writeMaxBytes)
  if (ConnectError.isConnectError(bytes)) return Effect.fail(bytes)
  return compression !== undefined && bytes.byteLength >= limits.compressMinBytes
    ? Effect.flatMap(compression.compress(bytes), (data) => send(data, compression))
    : send(bytes, undefined)
}

/** Writes one message as one envelope (a gRPC unary request), handed to `send` as one buffer. */
export const frameMessage = <A, E, R>(
  codec: Codec,
  schema: DescMessage,
  message: unknown,
  compression: Compression | undefined,
  limits: Limits,
  send: (body: Uint8Array) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | ConnectError.ConnectError, R> => {
  if (compression === undefined) {
    let body: Uint8Array
    try {
      body = encodeEnvelope(codec, schema, message, limits.writeMaxBytes)
    } catch (e) {
      return Effect.fail(ConnectError.from(e, "internal"))
    }
    return send(body)
  }
  const bytes = encodeOrError(codec, schema, message, limits.writeMaxBytes)
  if (ConnectError.isConnectError(bytes)) return Effect.fail(bytes)
  return compression !== undefined && bytes.byteLength >= limits.compressMinBytes
    ? Effect.flatMap(compression.compress(bytes), (data) => send(Envelope.encode(Envelope.FLAG_COMPRESSED, data)))
    : send(Envelope.encode(0, bytes))
}

/**
 * Writes a batch of messages as one buffer of envelopes, each compressed when `compression` is
 * set and it reaches `compressMinBytes`. Without a compression it all runs synchronously.
 */
export const frameMessages = <A, E, R>(
  codec: Codec,
  schema: DescMessage,
  messages: ReadonlyArray<unknown>,
  compression: Compression | undefined,
  limits: Limits,
  write: (bytes: Uint8Array) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | ConnectError.ConnectError, R> => {
  const frames: Array<Envelope.Envelope> = []
  let out: Uint8Array
  try {
    if (compression === undefined && messages.length === 1) {
      // one message (unary responses): framed in place
      out = encodeEnvelope(codec, schema, messages[0], limits.writeMaxBytes)
    } else {
      for (const m of messages) frames.push({ flags: 0, data: encodeMessage(codec, schema, m, limits.writeMaxBytes) })
      if (compression !== undefined) return compressFrames(frames, compression, limits.compressMinBytes, write)
      out = Envelope.encodeAll(frames)
    }
  } catch (e) {
    return Effect.fail(ConnectError.from(e, "internal"))
  }
  return write(out)
}

const compressFrames = <A, E, R>(
  frames: ReadonlyArray<Envelope.Envelope>,
  compression: Compression,
  compressMinBytes: number,
  write: (bytes: Uint8Array) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | ConnectError.ConnectError, R> =>
  Effect.flatMap(
    Effect.forEach(frames, (f) =>
      f.data.byteLength >= compressMinBytes
        ? Effect.map(compression.compress(f.data), (data): Envelope.Envelope => ({ flags: Envelope.FLAG_COMPRESSED, data }))
        : Effect.succeed(f)),
    (fs) => write(Envelope.encodeAll(fs))
  )

// -----------------------------------------------------------------------------
// reading
// -----------------------------------------------------------------------------

/** Splits a body stream into envelopes of at most `readMaxBytes`; a truncated tail gets the side's code. */
export const readEnvelopes = (side: Side, readMaxBytes: number) =>
  Envelope.decode({ maxBytes: readMaxBytes, truncatedCode: readErrorCode(side) })

/**
 * Splits a whole body into `envelopes` synchronously (no Stream); returns the parser, whose
 * `pending` tells a truncated tail, or the error of an envelope over `readMaxBytes`.
 */
export const splitEnvelopes = (
  body: Uint8Array,
  readMaxBytes: number,
  envelopes: Array<Envelope.Envelope>
): Envelope.Parser | ConnectError.ConnectError => {
  const parser = new Envelope.Parser(readMaxBytes)
  try {
    parser.push(body, envelopes)
  } catch (e) {
    return ConnectError.from(e, "internal")
  }
  return parser
}

/**
 * Reads one data envelope: decompressed when flagged (at most `readMaxBytes`), then decoded, an
 * uncompressed one synchronously. A flagged envelope without a compression is a protocol error,
 * returned as it is (not an Effect) so that callers can stop at once; `encoding` names what is
 * missing (`grpc-encoding`, …).
 */
export const readEnvelope = (
  envelope: Envelope.Envelope,
  compression: Compression | undefined,
  codec: Codec,
  schema: DescMessage,
  readMaxBytes: number,
  side: Side,
  encoding: string
): Effect.Effect<unknown, ConnectError.ConnectError> | ConnectError.ConnectError => {
  const code = readErrorCode(side)
  if ((envelope.flags & Envelope.FLAG_COMPRESSED) !== 0) {
    if (compression === undefined) {
      return ConnectError.make("internal", `protocol error: received a compressed message without ${encoding}`)
    }
    return Effect.flatMap(compression.decompress(envelope.data, readMaxBytes), (bytes) => decodeEffect(codec, schema, bytes, code))
  }
  return decodeEffect(codec, schema, envelope.data, code)
}

const decodeEffect = (
  codec: Codec,
  schema: DescMessage,
  bytes: Uint8Array,
  code: Code.Code
): Effect.Effect<unknown, ConnectError.ConnectError> => {
  try {
    return Effect.succeed(decodeMessage(codec, schema, bytes, code))
  } catch (e) {
    return Effect.fail(ConnectError.from(e, "internal"))
  }
}

/**
 * A whole body read with room for framing past `readMaxBytes` (an envelope header, a gRPC-Web
 * trailer frame): when it is too large, the error names the configured `readMaxBytes`, never
 * the read limit with its headroom.
 */
export const namingReadMax = (
  read: Effect.Effect<Uint8Array, ConnectError.ConnectError>,
  readMaxBytes: number
): Effect.Effect<Uint8Array, ConnectError.ConnectError> =>
  Effect.mapError(read, (e) =>
    e.code === "resource_exhausted"
      ? ConnectError.make("resource_exhausted", `message is larger than configured max ${readMaxBytes} bytes`)
      : e)

/** Runs a throwing function, failing with its ConnectError (others become `internal`). */
export const tryEffect = <A>(f: () => A): Effect.Effect<A, ConnectError.ConnectError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (e) {
      return Effect.fail(ConnectError.from(e, "internal"))
    }
  })
