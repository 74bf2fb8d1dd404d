import type { DescMessage } from "@bufbuild/protobuf"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Code from "../Code.ts"
import type { Codec } from "../Codec.ts"
import * as ConnectError from "../ConnectError.ts"

/** Decodes a message, turning a codec failure into `code` (servers: invalid_argument, clients: internal). */
export const decodeMessage = <D extends DescMessage>(codec: Codec, schema: D, bytes: Uint8Array, code: Code.Code) => {
  try {
    return codec.decode(schema, bytes)
  } catch (e) {
    throw ConnectError.make(code, `unmarshal ${schema.typeName}: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** Encodes a message and checks it against the write limit. */
export const encodeMessage = (codec: Codec, schema: DescMessage, message: unknown, writeMaxBytes: number) => {
  let bytes: Uint8Array
  try {
    bytes = codec.encode(schema, message as never)
  } catch (e) {
    throw ConnectError.make("internal", `marshal ${schema.typeName}: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (bytes.byteLength > writeMaxBytes) {
    throw ConnectError.make("resource_exhausted", `message size ${bytes.byteLength} exceeds configured max ${writeMaxBytes} bytes (writeMaxBytes)`)
  }
  return bytes
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

/** Reads exactly one message; zero or several are a protocol violation (`unimplemented`). */
export const single = <A, E>(
  messages: Stream.Stream<A, E>,
  what: "request" | "response"
): Effect.Effect<A, E | ConnectError.ConnectError> =>
  Effect.flatMap(Stream.runCollect(Stream.take(messages, 2)), (all) => {
    if (all.length === 0) {
      return Effect.fail(ConnectError.make("unimplemented", `protocol error: missing ${what} message`))
    }
    if (all.length > 1) {
      return Effect.fail(ConnectError.make("unimplemented", `protocol error: received more than one ${what} message`))
    }
    return Effect.succeed(all[0]!)
  })
