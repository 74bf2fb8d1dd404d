/**
 * `ConnectError`: the error every RPC fails with, carried in Effect's typed error channel.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Code from "./Code.ts"
import type { HeadersInput } from "./internal/headersInput.ts"
import type { DescMessage, Message, MessageInitShape, MessageShape, Registry } from "@bufbuild/protobuf"
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

/** `Error` with V8's `stackTraceLimit` (not in the standard library's types; absent on some engines). */
const V8Error = Error as ErrorConstructor & { stackTraceLimit?: number | undefined }

/** False where `Error.stackTraceLimit` is frozen or missing (then stacks are captured as usual). */
const canSetStackTraceLimit = ((): boolean => {
  const desc = Object.getOwnPropertyDescriptor(Error, "stackTraceLimit")
  if (desc === undefined) return Object.isExtensible(Error)
  return "value" in desc ? desc.writable === true : desc.set !== undefined
})()

/** The fields of a {@link ConnectError}. */
interface Fields {
  readonly code: Code.Code
  readonly message: string
  readonly metadata?: Headers | undefined
  readonly details?: ReadonlyArray<ErrorDetail> | undefined
}

const codes: ReadonlySet<string> = new Set(Code.all)

/** Rejects what the types forbid but JavaScript callers can still pass (an unknown code would reach the wire). */
const checkFields = (props: Fields): void => {
  if (typeof props !== "object" || props === null) throw new TypeError("ConnectError: expected { code, message }")
  if (!codes.has(props.code)) throw new TypeError(`ConnectError: unknown code ${JSON.stringify(props.code)}`)
  if (typeof props.message !== "string") throw new TypeError("ConnectError: message must be a string")
  if (props.metadata !== undefined && !(props.metadata instanceof Headers)) {
    throw new TypeError("ConnectError: metadata must be a Headers")
  }
  if (props.details !== undefined) {
    if (!Array.isArray(props.details)) throw new TypeError("ConnectError: details must be an array")
    for (const d of props.details) {
      if (typeof d?.type !== "string" || !(d.value instanceof Uint8Array)) {
        throw new TypeError("ConnectError: a detail must be { type: string, value: Uint8Array }")
      }
    }
  }
}

/**
 * An RPC error: a Connect `code`, a human-readable `message`, `metadata` (response headers
 * and trailers of the failed call), and `details` (packed protobuf messages).
 *
 * A tagged, yieldable error (`_tag: "ConnectError"`, like `Data.TaggedError`). It is not built on
 * `effect/Schema`, so using this library does not load Schema's module graph (about 6 MB of heap
 * in every process); `ConnectErrorSchema` gives a schema for it where one is wanted.
 *
 * @category errors
 * @since 0.1.0
 */
export class ConnectError extends Data.TaggedError("ConnectError")<Fields> {
  /**
   * Built without capturing a JavaScript stack trace, like Effect's own `SchemaError`: a
   * `ConnectError` is an expected error carried as data in the error channel, capturing a stack
   * costs more than the rest of a failed call (4–15 µs here), and the place it was raised is in the
   * Effect's spans. The `cause` (`make`'s option, `from`) keeps the underlying error's own stack.
   */
  constructor(props: Fields) {
    checkFields(props)
    const limit = V8Error.stackTraceLimit
    if (canSetStackTraceLimit) V8Error.stackTraceLimit = 0
    try {
      super(props)
    } finally {
      if (canSetStackTraceLimit) V8Error.stackTraceLimit = limit
    }
  }

  /** The message with the code as prefix, the way Connect implementations print errors. */
  override toString(): string {
    return `[${this.code}] ${this.message}`
  }
}

/**
 * Creates a `ConnectError` (metadata, details and cause optional). The `cause` is the standard
 * `Error.cause` (the underlying error, for logs): it is not a schema field and never crosses the wire.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  code: Code.Code,
  message: string,
  options?: {
    readonly metadata?: HeadersInput | undefined
    readonly details?: ReadonlyArray<ErrorDetail> | undefined
    readonly cause?: unknown
  }
): ConnectError => {
  const error = new ConnectError({
    code,
    message,
    ...(options?.metadata !== undefined ? { metadata: new Headers(options.metadata) } : {}),
    ...(options?.details !== undefined && options.details.length > 0 ? { details: options.details } : {})
  })
  return options?.cause !== undefined ? setCause(error, options.cause) : error
}

/** Sets `error.cause` the way `new Error(message, { cause })` does: own, writable, not enumerable. */
const setCause = (error: ConnectError, cause: unknown): ConnectError =>
  Object.defineProperty(error, "cause", { value: cause, writable: true, configurable: true, enumerable: false })

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
 * anything else becomes `code` (default `unknown`) with its message, and is kept as the
 * `cause` of the new error (for logs; never sent).
 *
 * @category constructors
 * @since 0.1.0
 */
export const from = (u: unknown, code: Code.Code = "unknown"): ConnectError => {
  if (isConnectError(u)) return u
  return setCause(make(code, u instanceof Error ? u.message : String(u)), u)
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
 * Decodes the details of an error. With a message schema: the details of that type. With a
 * registry: every detail whose type the registry knows, in order, each as its own message type
 * (check `$typeName` to tell them apart). Details of other types, and ones that fail to
 * decode, are skipped.
 *
 * @category getters
 * @since 0.1.0
 */
export const findDetails: {
  <Desc extends DescMessage>(error: ConnectError, schema: Desc): Array<MessageShape<Desc>>
  (error: ConnectError, registry: Registry): Array<Message>
} = (error: ConnectError, schemaOrRegistry: DescMessage | Registry): Array<any> => {
  const out: Array<Message> = []
  for (const d of error.details ?? []) {
    const schema = schemaOrRegistry.kind === "message"
      ? (d.type === schemaOrRegistry.typeName ? schemaOrRegistry : undefined)
      : schemaOrRegistry.getMessage(d.type)
    if (schema === undefined) continue
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
  if (Object.hasOwn(error, "cause")) setCause(copy, error.cause)
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
