/**
 * A `Schema` for `ConnectError`, for programs that keep errors in schemas (an error type of an
 * `effect/unstable/rpc` procedure, a persisted or logged failure). Its own entry point: importing
 * it loads `effect/Schema`, which the rest of this library does not.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import * as Code from "./Code.ts"
import { ConnectError } from "./ConnectError.ts"

/**
 * An error detail: a packed `google.protobuf.Any` (type name without the `type.googleapis.com/`
 * prefix, and bytes), with the optional JSON `debug` form.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ErrorDetail = Schema.Struct({
  type: Schema.String,
  value: Schema.Uint8Array,
  debug: Schema.optional(Schema.Unknown)
})

/**
 * The fields of a `ConnectError` as a tagged struct: what {@link ConnectErrorSchema} encodes to.
 * The error's `cause` is not among them (it is for logs, never data).
 *
 * @category schemas
 * @since 0.1.0
 */
export const ConnectErrorFields = Schema.Struct({
  _tag: Schema.tag("ConnectError"),
  code: Schema.Literals(Code.all),
  message: Schema.String,
  metadata: Schema.optional(Schema.instanceOf(Headers)),
  details: Schema.optional(Schema.Array(ErrorDetail))
})

/**
 * `ConnectError` as a schema: the type is the error class, the encoded form
 * {@link ConnectErrorFields}; decoding validates the fields and builds a `ConnectError`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ConnectErrorSchema = ConnectErrorFields.pipe(
  Schema.decodeTo(Schema.instanceOf(ConnectError), {
    decode: SchemaGetter.transform((f) =>
      new ConnectError({
        code: f.code,
        message: f.message,
        ...(f.metadata !== undefined ? { metadata: f.metadata } : {}),
        ...(f.details !== undefined ? { details: f.details } : {})
      })
    ),
    encode: SchemaGetter.transform((e: ConnectError) => ({
      _tag: "ConnectError" as const,
      code: e.code,
      message: e.message,
      ...(e.metadata !== undefined ? { metadata: e.metadata } : {}),
      ...(e.details !== undefined ? { details: e.details } : {})
    }))
  })
)
