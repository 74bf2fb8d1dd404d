/**
 * `ConnectError`: the error every RPC fails with, carried in Effect's typed error channel.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Code from "./Code.ts"
import type { HeadersInput } from "./internal/headersInput.ts"
import type { DescMessage, MessageInitShape, MessageShape, Registry } from "@bufbuild/protobuf"
import { create, fromBinary, toBinary } from "@bufbuild/protobuf"

/**
 * A packed `google.protobuf.Any` carried in an error: fully-qualified type name and bytes.
 *
 * @category models
 * @since 0.1.0
 */
export interface ErrorDetail {
  /** Fully-qualified message name, without the `type.googleapis.com/` prefix. */
  readonly type: string
  readonly value: Uint8Array
  /** Optional JSON form a server may attach for humans; never required. */
  readonly debug?: unknown
}

const ErrorDetailSchema = Schema.Struct({
  type: Schema.String,
  value: Schema.Uint8Array,
  debug: Schema.optional(Schema.Unknown)
})

/**
 * An RPC error: a Connect `code`, a human-readable `message`, `metadata` (response headers
 * and trailers of the failed call), and `details` (packed protobuf messages).
 *
 * @category errors
 * @since 0.1.0
 */
export class ConnectError extends Schema.TaggedError<ConnectError>()("ConnectError", {
  code: Schema.Literals(Code.all),
  message: Schema.String,
  metadata: Schema.optional(Schema.instanceOf(Headers)),
  details: Schema.optional(Schema.Array(ErrorDetailSchema))
}) {
  /** The message with the code as prefix, the way Connect implementations print errors. */
  override toString(): string {
    return `[${this.code}] ${this.message}`
  }
}

/**
 * Creates a `ConnectError` (metadata and details optional).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  code: Code.Code,
  message: string,
  options?: { readonly metadata?: HeadersInput | undefined; readonly details?: ReadonlyArray<ErrorDetail> | undefined }
): ConnectError =>
  new ConnectError({
    code,
    message,
    ...(options?.metadata !== undefined ? { metadata: new Headers(options.metadata) } : {}),
    ...(options?.details !== undefined && options.details.length > 0 ? { details: options.details } : {})
  })

/**
 * True for a `ConnectError`.
 *
 * @category guards
 * @since 0.1.0
 */
export const isConnectError = (u: unknown): u is ConnectError =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "ConnectError" && u instanceof ConnectError

/**
 * Turns anything thrown or failed into a `ConnectError`: a `ConnectError` passes through,
 * anything else becomes `code` (default `unknown`) with its message.
 *
 * @category constructors
 * @since 0.1.0
 */
export const from = (u: unknown, code: Code.Code = "unknown"): ConnectError => {
  if (isConnectError(u)) return u
  if (u instanceof Error) return make(code, u.message)
  return make(code, String(u))
}

/**
 * Packs a protobuf message as an error detail.
 *
 * @category constructors
 * @since 0.1.0
 */
export const detail = <Desc extends DescMessage>(schema: Desc, message: MessageInitShape<Desc>): ErrorDetail => ({
  type: schema.typeName,
  value: toBinary(schema, create(schema, message))
})

/**
 * Finds the details of one message type in an error, decoded. Details of other types,
 * and ones that fail to decode, are skipped.
 *
 * @category getters
 * @since 0.1.0
 */
export const findDetails = <Desc extends DescMessage>(
  error: ConnectError,
  schema: Desc,
  _registry?: Registry
): Array<MessageShape<Desc>> => {
  const out: Array<MessageShape<Desc>> = []
  for (const d of error.details ?? []) {
    if (d.type !== schema.typeName) continue
    try {
      out.push(fromBinary(schema, d.value))
    } catch {
      // skip undecodable detail
    }
  }
  return out
}

/**
 * Returns a copy of the error with metadata merged in (used when trailers arrive).
 *
 * @category combinators
 * @since 0.1.0
 */
export const withMetadata = (error: ConnectError, metadata: Headers): ConnectError => {
  const merged = new Headers(error.metadata)
  metadata.forEach((v, k) => merged.append(k, v))
  const copy = new ConnectError({
    code: error.code,
    message: error.message,
    metadata: merged,
    ...(error.details !== undefined ? { details: error.details } : {})
  })
  return notSentErrors.has(error) ? notSent(copy) : copy
}

const notSentErrors = new WeakSet<ConnectError>()

/**
 * Marks the error of a call that provably never reached the server (connection refused, HTTP/2
 * REFUSED_STREAM, a stream above the last id of a GOAWAY): sending it again cannot run the method
 * twice, so `Retry` may retry even a method with side effects. Transports set the mark; it is
 * not part of the error's fields and does not cross the wire.
 *
 * @category combinators
 * @since 0.1.0
 */
export const notSent = (error: ConnectError): ConnectError => {
  notSentErrors.add(error)
  return error
}

/**
 * True for an error marked with {@link notSent}.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isNotSent = (error: ConnectError): boolean => notSentErrors.has(error)
