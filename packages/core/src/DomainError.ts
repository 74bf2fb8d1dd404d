/**
 * Typed domain errors: protobuf messages a method declares it may fail with, as tagged, yieldable
 * Effect errors. A handler fails with one (`yield* new UserNotFound({ userId })`); the server sends
 * it as a normal `ConnectError` with the class's Connect code, the message packed as a detail and a
 * `google.rpc.ErrorInfo` (reason, domain), so any Connect or gRPC client can switch on it; a client
 * of ours that knows the method's declared errors decodes the detail back into the same class, with
 * the received `ConnectError` as its `cause` (`Effect.catchTag("UserNotFound", …)`).
 *
 * `protoc-gen-connect-effect` generates the classes from messages marked with the
 * `(connecteffect.v1.error)` option and declares them per method with `(connecteffect.v1.errors)`;
 * {@link Class} builds one by hand for protos you cannot edit.
 *
 * @since 0.1.0
 */
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf"
import { create, fromBinary, ScalarType, toBinary } from "@bufbuild/protobuf"
import { BinaryWriter } from "@bufbuild/protobuf/wire"
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import type { Code } from "./Code.ts"
import * as ConnectError from "./ConnectError.ts"

/**
 * Marks instances of domain error classes.
 *
 * @category symbols
 * @since 0.1.0
 */
export const TypeId: unique symbol = Symbol.for("@connect-effect/core/DomainError") as never

/**
 * The message fields of a domain error (the protobuf message without `$typeName` and `$unknown`).
 *
 * @category models
 * @since 0.1.0
 */
export type Fields<Desc extends DescMessage> = Omit<MessageShape<Desc>, "$typeName" | "$unknown">

/**
 * A domain error: a yieldable Effect error tagged with its message's name that carries the
 * message's fields.
 *
 * @category models
 * @since 0.1.0
 */
export interface DomainError<Tag extends string = string, Desc extends DescMessage = DescMessage>
  extends Cause.YieldableError
{
  readonly [TypeId]: typeof TypeId
  readonly _tag: Tag
  /** The error as its protobuf message (what travels as the detail). */
  toMessage(): MessageShape<Desc>
}

/**
 * A domain error class: its constructor takes the message's fields; its statics say how it
 * travels (`code`, `reason`, `domain`) and which message it is (`desc`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Constructor<Tag extends string = string, Desc extends DescMessage = DescMessage> {
  new(fields?: MessageInitShape<Desc>): DomainError<Tag, Desc> & Readonly<Fields<Desc>>
  /** The `_tag` of the instances: the message's name. */
  readonly tag: Tag
  /** The protobuf-es descriptor of the message. */
  readonly desc: Desc
  /** The Connect code the error is sent with. */
  readonly code: Code
  /** `google.rpc.ErrorInfo.reason`: UPPER_SNAKE_CASE, unique within the domain. */
  readonly reason: string
  /** `google.rpc.ErrorInfo.domain`: where the reason is defined (default: the proto package). */
  readonly domain: string
}

/**
 * Any domain error class.
 *
 * @category models
 * @since 0.1.0
 */
export interface Any {
  new(fields?: any): DomainError<string, any>
  readonly tag: string
  readonly desc: DescMessage
  readonly code: Code
  readonly reason: string
  readonly domain: string
}

/**
 * The errors declared per method: method local name → the domain error classes it may fail with.
 *
 * @category models
 * @since 0.1.0
 */
export type Declared = { readonly [method: string]: ReadonlyArray<Any> }

/**
 * The union of the instances of the classes declared for method `K` in `Errs`.
 *
 * @category utility types
 * @since 0.1.0
 */
export type ErrorOf<Errs, K> = K extends keyof Errs
  ? Errs[K] extends ReadonlyArray<infer C> ? C extends abstract new(...args: any) => infer I ? I : never : never
  : never

/**
 * Options of a domain error class.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options {
  /** The Connect code the error is sent with. */
  readonly code: Code
  /** `google.rpc.ErrorInfo.reason`; default: the tag in UPPER_SNAKE_CASE (`UserNotFound` → `USER_NOT_FOUND`). */
  readonly reason?: string | undefined
  /** `google.rpc.ErrorInfo.domain`; default: the message's proto package. */
  readonly domain?: string | undefined
}

/** `UserNotFound` → `USER_NOT_FOUND`, `HTTPError` → `HTTP_ERROR`. */
const upperSnake = (name: string): string =>
  name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2").toUpperCase()

/**
 * The first field of a message that cannot live on an error instance: `_tag` and `cause` (ours),
 * and `name`, `message` or `stack` unless a string (they are the standard `Error` properties:
 * a string field of that name takes their place, `message` becoming the error's message).
 *
 * @category utils
 * @since 0.1.0
 */
export const clashingField = (desc: DescMessage): string | undefined => {
  for (const m of desc.members) {
    if (m.localName === "_tag" || m.localName === "cause") return m.localName
    if (m.localName === "name" || m.localName === "message" || m.localName === "stack") {
      const isString = m.kind === "field" && m.fieldKind === "scalar" && m.scalar === ScalarType.STRING
      if (!isString) return m.localName
    }
  }
  return undefined
}

const ErrorBase = Data.Error as unknown as new(args: Record<string, unknown>) => Cause.YieldableError

/**
 * Builds a domain error class for a protobuf message. Extend it to name the class (and, if you
 * like, give it a `message` getter computed from its fields — it becomes the `ConnectError`'s
 * message on the wire; without one, the message is the tag):
 *
 * ```ts
 * class UserNotFound extends DomainError.Class("UserNotFound", UserNotFoundSchema, { code: "not_found" }) {
 *   override get message() { return `user ${this.userId} not found` }
 * }
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const Class = <const Tag extends string, Desc extends DescMessage>(
  tag: Tag,
  desc: Desc,
  options: Options
): Constructor<Tag, Desc> => {
  const clash = clashingField(desc)
  if (clash !== undefined) {
    throw new Error(`${desc.typeName}: field "${clash}" clashes with a property of Effect errors; rename it to use the message as a domain error`)
  }
  const names = desc.members.map((m) => m.localName)
  class DomainErrorClass extends ErrorBase {
    static readonly tag = tag
    static readonly desc = desc
    static readonly code = options.code
    static readonly reason = options.reason ?? upperSnake(tag)
    static readonly domain = options.domain ?? desc.file.proto.package ?? ""
    readonly _tag = tag
    constructor(fields?: MessageInitShape<Desc>) {
      const message: Record<string, unknown> = create(desc, fields as MessageInitShape<Desc>)
      const own: Record<string, unknown> = {}
      for (const name of names) own[name] = message[name]
      super(own)
    }
    toMessage(): MessageShape<Desc> {
      const init: Record<string, unknown> = {}
      for (const name of names) init[name] = (this as unknown as Record<string, unknown>)[name]
      return create(desc, init as MessageInitShape<Desc>)
    }
  }
  Object.defineProperty(DomainErrorClass.prototype, TypeId, { value: TypeId })
  // printed as `UserNotFound: …` (a string `name` field, if any, stays an own property)
  Object.defineProperty(DomainErrorClass.prototype, "name", { value: tag, writable: true, configurable: true })
  return DomainErrorClass as unknown as Constructor<Tag, Desc>
}

/**
 * True for an instance of a domain error class.
 *
 * @category guards
 * @since 0.1.0
 */
export const isDomainError = (u: unknown): u is DomainError =>
  typeof u === "object" && u !== null && (u as { [TypeId]?: unknown })[TypeId] === TypeId

/**
 * The fully-qualified name of `google.rpc.ErrorInfo`.
 *
 * @category constants
 * @since 0.1.0
 */
export const errorInfoTypeName = "google.rpc.ErrorInfo"

/**
 * Packs a `google.rpc.ErrorInfo` (`reason` = 1, `domain` = 2, `metadata` = 3) as an error detail.
 *
 * @category constructors
 * @since 0.1.0
 */
export const errorInfo = (
  reason: string,
  domain: string,
  metadata: Readonly<Record<string, string>> = {}
): ConnectError.ErrorDetail => {
  const w = new BinaryWriter()
  if (reason !== "") w.tag(1, 2 /* LengthDelimited */).string(reason)
  if (domain !== "") w.tag(2, 2).string(domain)
  for (const [k, v] of Object.entries(metadata)) {
    w.tag(3, 2).fork().tag(1, 2).string(k).tag(2, 2).string(v).join()
  }
  return { type: errorInfoTypeName, value: w.finish() }
}

/**
 * The `ConnectError` a domain error is sent as: the class's code, the error's message (the tag
 * when empty), the message packed as the first detail and a `google.rpc.ErrorInfo` as the second;
 * the domain error is its `cause`.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toConnectError = (error: DomainError): ConnectError.ConnectError => {
  const C = error.constructor as Any
  const message = error.toMessage()
  return ConnectError.make(C.code, error.message !== "" ? error.message : error._tag, {
    details: [{ type: C.desc.typeName, value: toBinary(C.desc, message) }, errorInfo(C.reason, C.domain)],
    cause: error
  })
}

/**
 * A failure as the server sends it: a domain error becomes its `ConnectError`
 * ({@link toConnectError}), anything else passes through.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toWire = <E>(error: E): Exclude<E, DomainError> | ConnectError.ConnectError =>
  isDomainError(error) ? toConnectError(error) : error as Exclude<E, DomainError>

/**
 * Decodes a received `ConnectError` into the first of `classes` whose message is among its
 * details (the `ConnectError` becomes the instance's `cause`, and its message the instance's
 * message unless the class computes one); otherwise returns the `ConnectError` itself.
 *
 * @category conversions
 * @since 0.1.0
 */
export const fromConnectError = <C extends Any>(
  error: ConnectError.ConnectError,
  classes: ReadonlyArray<C>
): ConnectError.ConnectError | InstanceType<C> => {
  const details = error.details
  if (details === undefined) return error
  for (const d of details) {
    for (const C of classes) {
      if (C.desc.typeName !== d.type) continue
      let instance: InstanceType<C>
      try {
        instance = new C(fromBinary(C.desc, d.value)) as InstanceType<C>
      } catch {
        continue // undecodable detail: keep looking, else the ConnectError stays
      }
      Object.defineProperty(instance, "cause", { value: error, writable: true, configurable: true, enumerable: false })
      if (instance.message === "") {
        Object.defineProperty(instance, "message", { value: error.message, writable: true, configurable: true, enumerable: false })
      }
      return instance
    }
  }
  return error
}
