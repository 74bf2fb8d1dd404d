/**
 * A protobuf binary encoder that writes a message into one right-sized buffer: a first pass
 * computes the size (and the size of every nested message, packed list and map entry), a second
 * writes the bytes. The output is byte for byte what protobuf-es's `toBinary` gives (a property
 * test checks it over every field kind); `toBinary` builds in a buffer that grows from 128 bytes
 * by doubling (a 64 KiB string reserves 3 bytes per character: a zero-filled 256 KiB buffer) and
 * copies the result out once more in `finish()`.
 *
 * `headroom` bytes are left free before the message, so that a caller can put an envelope header
 * there and send header and message as one buffer without copying the message.
 *
 * Anything this encoder does not handle the same way — delimited (group) encoding, required
 * fields, maps with non-string keys, wrapper and Struct fields that protobuf-es stores unboxed,
 * values of an unexpected type or out of range (which `toBinary` rejects or converts) — goes to
 * `toBinary` itself, so that its behaviour, errors included, stays the reference.
 *
 * @internal
 */
import { type DescField, type DescMessage, ScalarType, toBinary } from "@bufbuild/protobuf"
import { isWrapperDesc } from "@bufbuild/protobuf/wkt"
import { wireTypeOf } from "./protoWire.ts"

/** Thrown (not an Error: no stack) when a message needs `toBinary`. */
const FALLBACK = { fallback: true }
/** Thrown when a string turned out not to be ASCII: sizes are computed again, exactly. */
const NOT_ASCII = { notAscii: true }

const IMPLICIT = 2
const LEGACY_REQUIRED = 3

/** Field kinds of a plan. */
const K = { Scalar: 0, Message: 1, ListScalar: 2, ListPacked: 3, ListMessage: 4, Map: 5 } as const
type K = typeof K[keyof typeof K]

interface Field {
  readonly k: K
  readonly local: string
  readonly oneof: string | undefined
  /** Explicit presence (the property must be own and defined). */
  readonly explicit: boolean
  /** The scalar type (enums: INT32); for maps, the value's. */
  readonly scalar: ScalarType
  /** Implicit presence of an enum: its zero value. */
  readonly enumZero: number | undefined
  /** The tag as a varint value, and its size. */
  readonly tag: number
  readonly tagSize: number
  /** Map: the value is a message (else a scalar or an enum). */
  readonly mapMessage: boolean
  /** Map value tag (field 2) with its wire type. */
  readonly valueTag: number
  /** Messages: the child's plan, resolved on first use (recursive types). */
  readonly childDesc: DescMessage | undefined
}

interface Plan {
  readonly typeName: string
  readonly fields: ReadonlyArray<Field>
  /** False: this message (or one it contains) goes to `toBinary`. */
  supported: boolean
}

const plans = new WeakMap<DescMessage, Plan>()

const varint32Size = (v: number): number =>
  v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5

const makeField = (
  f: DescField,
  k: K,
  wireType: number,
  extra: Partial<Pick<Field, "scalar" | "enumZero" | "mapMessage" | "valueTag" | "childDesc" | "explicit" | "oneof">>
): Field => {
  const tag = ((f.number << 3) | wireType) >>> 0
  return {
    k,
    local: f.localName,
    oneof: extra.oneof,
    explicit: extra.explicit ?? false,
    scalar: extra.scalar ?? ScalarType.INT32,
    enumZero: extra.enumZero,
    tag,
    tagSize: varint32Size(tag),
    mapMessage: extra.mapMessage ?? false,
    valueTag: extra.valueTag ?? 0,
    childDesc: extra.childDesc
  }
}

/** The plan of a message type, or `undefined` when `toBinary` must encode it. */
const planOf = (desc: DescMessage): Plan | undefined => {
  let plan = plans.get(desc)
  if (plan === undefined) {
    const fields: Array<Field> = []
    plan = { typeName: desc.typeName, fields, supported: true }
    // registered first: recursive types find this plan
    plans.set(desc, plan)
    const sorted = desc.fields.concat().sort((a, b) => a.number - b.number)
    for (const f of sorted) {
      const field = compileField(f)
      if (field === undefined) {
        plan.supported = false
        break
      }
      fields.push(field)
    }
    if (plan.supported) {
      // a child that cannot be encoded here makes its parents fall back as well
      for (const f of fields) {
        if (f.childDesc !== undefined && f.childDesc !== desc && planOf(f.childDesc) === undefined) {
          plan.supported = false
          break
        }
      }
    }
  }
  return plan.supported ? plan : undefined
}

const compileField = (f: DescField): Field | undefined => {
  switch (f.fieldKind) {
    case "scalar":
    case "enum": {
      if (f.presence === LEGACY_REQUIRED) return undefined
      const scalar = f.fieldKind === "enum" ? ScalarType.INT32 : f.scalar
      return makeField(f, K.Scalar, wireTypeOf(scalar), {
        scalar,
        oneof: f.oneof?.localName,
        explicit: f.oneof === undefined && f.presence !== IMPLICIT,
        enumZero: f.fieldKind === "enum" ? f.enum.values[0]!.number : undefined
      })
    }
    case "message": {
      if (f.delimitedEncoding || f.presence === LEGACY_REQUIRED) return undefined
      // protobuf-es stores these unboxed (wrappers outside a oneof) or as JSON (Struct)
      if (f.message.typeName === "google.protobuf.Struct" && f.parent.typeName !== "google.protobuf.Value") return undefined
      if (f.oneof === undefined && isWrapperDesc(f.message)) return undefined
      return makeField(f, K.Message, 2, { oneof: f.oneof?.localName, explicit: f.oneof === undefined, childDesc: f.message })
    }
    case "list": {
      if (f.listKind === "message") {
        if (f.delimitedEncoding) return undefined
        if (f.message.typeName === "google.protobuf.Struct") return undefined
        return makeField(f, K.ListMessage, 2, { childDesc: f.message })
      }
      const scalar = f.listKind === "enum" ? ScalarType.INT32 : f.scalar
      return f.packed
        ? makeField(f, K.ListPacked, 2, { scalar })
        : makeField(f, K.ListScalar, wireTypeOf(scalar), { scalar })
    }
    case "map": {
      if (f.mapKey !== ScalarType.STRING) return undefined
      if (f.mapKind === "message") {
        if (f.message.typeName === "google.protobuf.Struct") return undefined
        return makeField(f, K.Map, 2, { mapMessage: true, valueTag: (2 << 3) | 2, childDesc: f.message })
      }
      const scalar = f.mapKind === "enum" ? ScalarType.INT32 : f.scalar
      return makeField(f, K.Map, 2, { scalar, valueTag: (2 << 3) | wireTypeOf(scalar) })
    }
  }
}

// -----------------------------------------------------------------------------
// sizes
// -----------------------------------------------------------------------------

/** State of one encoding: the sizes of nested messages in pre-order, and the output. */
interface Ctx {
  /** Strings are measured exactly (else assumed ASCII, checked while writing). */
  exact: boolean
  readonly sizes: Array<number>
  i: number
  buf: Uint8Array
  pos: number
  view: DataView | undefined
}

const MAX_U64 = (1n << 64n) - 1n
const MIN_I64 = -(1n << 63n)
const MAX_I64 = (1n << 63n) - 1n

/** The UTF-8 length of `s` as `TextEncoder` writes it (a lone surrogate becomes U+FFFD, 3 bytes). */
const utf8Length = (s: string): number => {
  let n = 0
  const len = s.length
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4
        i++
      } else n += 3
    } else n += 3
  }
  return n
}

const isInt32 = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v <= 0x7fffffff && v >= -0x80000000
const isUint32 = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v <= 0xffffffff && v >= 0

const varint64Size = (v: bigint): number => {
  let n = 1
  while (v > 0x7fn) {
    v >>= 7n
    n++
  }
  return n
}

/** Size of a scalar value without its tag; throws FALLBACK for a value `toBinary` would treat otherwise. */
const scalarSize = (ctx: Ctx, t: ScalarType, v: unknown): number => {
  switch (t) {
    case ScalarType.STRING: {
      if (typeof v !== "string") throw FALLBACK
      const n = ctx.exact ? utf8Length(v) : v.length
      return varint32Size(n) + n
    }
    case ScalarType.BYTES:
      if (!(v instanceof Uint8Array)) throw FALLBACK
      return varint32Size(v.byteLength) + v.byteLength
    case ScalarType.BOOL:
      return 1
    case ScalarType.DOUBLE:
      if (typeof v !== "number") throw FALLBACK
      return 8
    case ScalarType.FLOAT:
      if (typeof v !== "number" || (Number.isFinite(v) && !Number.isFinite(Math.fround(v)))) throw FALLBACK
      return 4
    case ScalarType.INT32:
      if (!isInt32(v)) throw FALLBACK
      return v < 0 ? 10 : varint32Size(v)
    case ScalarType.UINT32:
      if (!isUint32(v)) throw FALLBACK
      return varint32Size(v)
    case ScalarType.SINT32:
      if (!isInt32(v)) throw FALLBACK
      return varint32Size(((v << 1) ^ (v >> 31)) >>> 0)
    case ScalarType.FIXED32:
      if (!isUint32(v)) throw FALLBACK
      return 4
    case ScalarType.SFIXED32:
      if (!isInt32(v)) throw FALLBACK
      return 4
    case ScalarType.INT64:
      if (typeof v !== "bigint" || v < MIN_I64 || v > MAX_I64) throw FALLBACK
      return v < 0n ? 10 : varint64Size(v)
    case ScalarType.UINT64:
      if (typeof v !== "bigint" || v < 0n || v > MAX_U64) throw FALLBACK
      return varint64Size(v)
    case ScalarType.SINT64:
      if (typeof v !== "bigint" || v < MIN_I64 || v > MAX_I64) throw FALLBACK
      return varint64Size(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)))
    case ScalarType.FIXED64:
      if (typeof v !== "bigint" || v < 0n || v > MAX_U64) throw FALLBACK
      return 8
    case ScalarType.SFIXED64:
      if (typeof v !== "bigint" || v < MIN_I64 || v > MAX_I64) throw FALLBACK
      return 8
  }
}

/** Whether a singular field is written, as protobuf-es decides it; returns its value or NOT_SET. */
const NOT_SET = Symbol()

const valueOf = (f: Field, message: Record<string, unknown>): unknown => {
  if (f.oneof !== undefined) {
    const o = message[f.oneof] as { case: unknown; value: unknown } | undefined
    if (o === undefined || o === null || typeof o !== "object") throw FALLBACK
    return o.case === f.local ? o.value : NOT_SET
  }
  const v = message[f.local]
  if (f.explicit) return v !== undefined && Object.prototype.hasOwnProperty.call(message, f.local) ? v : NOT_SET
  if (f.enumZero !== undefined) return v !== f.enumZero ? v : NOT_SET
  switch (f.scalar) {
    case ScalarType.BOOL:
      return v !== false ? v : NOT_SET
    case ScalarType.STRING:
      return v !== "" ? v : NOT_SET
    case ScalarType.BYTES:
      return !(v instanceof Uint8Array) || v.byteLength > 0 ? v : NOT_SET
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return !Object.is(v, 0) ? v : NOT_SET
    default:
      // loose: 0n, 0 and "0"
      return v != 0 ? v : NOT_SET
  }
}

const childMessage = (f: Field, v: unknown): Record<string, unknown> => {
  if (v === undefined || v === null || typeof v !== "object") throw FALLBACK
  const m = v as Record<string, unknown>
  if (m["$typeName"] !== f.childDesc!.typeName) throw FALLBACK
  return m
}

/** Size of a nested message with its length prefix; records the size for the writing pass. */
const nestedSize = (ctx: Ctx, f: Field, v: unknown): number => {
  const m = childMessage(f, v)
  const plan = planOf(f.childDesc!)
  if (plan === undefined) throw FALLBACK
  const idx = ctx.sizes.length
  ctx.sizes.push(0)
  const n = messageSize(ctx, plan, m)
  ctx.sizes[idx] = n
  return varint32Size(n) + n
}

const messageSize = (ctx: Ctx, plan: Plan, message: Record<string, unknown>): number => {
  if (message["$typeName"] !== plan.typeName) throw FALLBACK
  let size = 0
  const fields = plan.fields
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!
    switch (f.k) {
      case K.Scalar: {
        const v = valueOf(f, message)
        if (v !== NOT_SET) size += f.tagSize + scalarSize(ctx, f.scalar, v)
        break
      }
      case K.Message: {
        const v = valueOf(f, message)
        if (v !== NOT_SET) size += f.tagSize + nestedSize(ctx, f, v)
        break
      }
      case K.ListScalar: {
        const items = message[f.local]
        if (!Array.isArray(items)) throw FALLBACK
        for (let j = 0; j < items.length; j++) size += f.tagSize + scalarSize(ctx, f.scalar, items[j])
        break
      }
      case K.ListPacked: {
        const items = message[f.local]
        if (!Array.isArray(items)) throw FALLBACK
        if (items.length === 0) break
        let n = 0
        for (let j = 0; j < items.length; j++) n += scalarSize(ctx, f.scalar, items[j])
        ctx.sizes.push(n)
        size += f.tagSize + varint32Size(n) + n
        break
      }
      case K.ListMessage: {
        const items = message[f.local]
        if (!Array.isArray(items)) throw FALLBACK
        for (let j = 0; j < items.length; j++) size += f.tagSize + nestedSize(ctx, f, items[j])
        break
      }
      case K.Map: {
        const record = message[f.local]
        if (record === null || typeof record !== "object") throw FALLBACK
        const keys = Object.keys(record)
        for (let j = 0; j < keys.length; j++) {
          const key = keys[j]!
          const idx = ctx.sizes.length
          ctx.sizes.push(0)
          let n = 1 + scalarSize(ctx, ScalarType.STRING, key) + 1
          const v = (record as Record<string, unknown>)[key]
          n += f.mapMessage ? nestedSize(ctx, f, v) : scalarSize(ctx, f.scalar, v)
          ctx.sizes[idx] = n
          size += f.tagSize + varint32Size(n) + n
        }
        break
      }
    }
  }
  const unknown = message["$unknown"] as ReadonlyArray<{ no: number; wireType: number; data: Uint8Array }> | undefined
  if (unknown !== undefined) {
    for (let j = 0; j < unknown.length; j++) {
      const u = unknown[j]!
      const tag = ((u.no << 3) | u.wireType) >>> 0
      if (!isUint32(tag) || !(u.data instanceof Uint8Array)) throw FALLBACK
      size += varint32Size(tag) + u.data.byteLength
    }
  }
  return size
}

// -----------------------------------------------------------------------------
// writing
// -----------------------------------------------------------------------------

const writeVarint32 = (ctx: Ctx, v: number): void => {
  const buf = ctx.buf
  let pos = ctx.pos
  while (v > 0x7f) {
    buf[pos++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  buf[pos++] = v
  ctx.pos = pos
}

const writeVarint64 = (ctx: Ctx, v: bigint): void => {
  // v is in [0, 2^64)
  let lo = Number(v & 0xffffffffn)
  let hi = Number(v >> 32n)
  const buf = ctx.buf
  let pos = ctx.pos
  while (hi > 0 || lo > 0x7f) {
    buf[pos++] = (lo & 0x7f) | 0x80
    lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0
    hi = hi >>> 7
  }
  buf[pos++] = lo
  ctx.pos = pos
}

const viewOf = (ctx: Ctx): DataView => (ctx.view ??= new DataView(ctx.buf.buffer, ctx.buf.byteOffset, ctx.buf.byteLength))

const encoder = new TextEncoder()

const writeString = (ctx: Ctx, s: string): void => {
  const len = s.length
  if (!ctx.exact) {
    // assumed ASCII: one byte per code unit
    writeVarint32(ctx, len)
    const buf = ctx.buf
    let pos = ctx.pos
    if (len < 64) {
      for (let i = 0; i < len; i++) {
        const c = s.charCodeAt(i)
        if (c > 0x7f) throw NOT_ASCII
        buf[pos++] = c
      }
    } else {
      const r = encoder.encodeInto(s, buf.subarray(pos, pos + len))
      if (r.read !== len || r.written !== len) throw NOT_ASCII
      pos += len
    }
    ctx.pos = pos
    return
  }
  const n = utf8Length(s)
  writeVarint32(ctx, n)
  const r = encoder.encodeInto(s, ctx.buf.subarray(ctx.pos, ctx.pos + n))
  if (r.read !== len || r.written !== n) throw FALLBACK
  ctx.pos += n
}

const writeScalar = (ctx: Ctx, t: ScalarType, v: any): void => {
  switch (t) {
    case ScalarType.STRING:
      return writeString(ctx, v)
    case ScalarType.BYTES: {
      const b = v as Uint8Array
      writeVarint32(ctx, b.byteLength)
      ctx.buf.set(b, ctx.pos)
      ctx.pos += b.byteLength
      return
    }
    case ScalarType.BOOL:
      ctx.buf[ctx.pos++] = v ? 1 : 0
      return
    case ScalarType.DOUBLE:
      viewOf(ctx).setFloat64(ctx.pos, v, true)
      ctx.pos += 8
      return
    case ScalarType.FLOAT:
      viewOf(ctx).setFloat32(ctx.pos, v, true)
      ctx.pos += 4
      return
    case ScalarType.INT32:
      if (v >= 0) writeVarint32(ctx, v)
      else writeVarint64(ctx, BigInt.asUintN(64, BigInt(v)))
      return
    case ScalarType.UINT32:
      writeVarint32(ctx, v)
      return
    case ScalarType.SINT32:
      writeVarint32(ctx, ((v << 1) ^ (v >> 31)) >>> 0)
      return
    case ScalarType.FIXED32:
      viewOf(ctx).setUint32(ctx.pos, v, true)
      ctx.pos += 4
      return
    case ScalarType.SFIXED32:
      viewOf(ctx).setInt32(ctx.pos, v, true)
      ctx.pos += 4
      return
    case ScalarType.INT64:
    case ScalarType.UINT64:
      if (v >= 0n && v < 0x80n) ctx.buf[ctx.pos++] = Number(v)
      else writeVarint64(ctx, BigInt.asUintN(64, v))
      return
    case ScalarType.SINT64:
      writeVarint64(ctx, BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)))
      return
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      viewOf(ctx).setBigUint64(ctx.pos, BigInt.asUintN(64, v), true)
      ctx.pos += 8
      return
  }
}

const writeNested = (ctx: Ctx, f: Field, v: unknown): void => {
  writeVarint32(ctx, f.tag)
  writeVarint32(ctx, ctx.sizes[ctx.i++]!)
  writeMessage(ctx, planOf(f.childDesc!)!, v as Record<string, unknown>)
}

const writeMessage = (ctx: Ctx, plan: Plan, message: Record<string, unknown>): void => {
  const fields = plan.fields
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!
    switch (f.k) {
      case K.Scalar: {
        const v = valueOf(f, message)
        if (v !== NOT_SET) {
          writeVarint32(ctx, f.tag)
          writeScalar(ctx, f.scalar, v)
        }
        break
      }
      case K.Message: {
        const v = valueOf(f, message)
        if (v !== NOT_SET) writeNested(ctx, f, v)
        break
      }
      case K.ListScalar: {
        const items = message[f.local] as ReadonlyArray<unknown>
        for (let j = 0; j < items.length; j++) {
          writeVarint32(ctx, f.tag)
          writeScalar(ctx, f.scalar, items[j])
        }
        break
      }
      case K.ListPacked: {
        const items = message[f.local] as ReadonlyArray<unknown>
        if (items.length === 0) break
        writeVarint32(ctx, f.tag)
        writeVarint32(ctx, ctx.sizes[ctx.i++]!)
        for (let j = 0; j < items.length; j++) writeScalar(ctx, f.scalar, items[j])
        break
      }
      case K.ListMessage: {
        const items = message[f.local] as ReadonlyArray<unknown>
        for (let j = 0; j < items.length; j++) writeNested(ctx, f, items[j])
        break
      }
      case K.Map: {
        const record = message[f.local] as Record<string, unknown>
        const keys = Object.keys(record)
        for (let j = 0; j < keys.length; j++) {
          const key = keys[j]!
          writeVarint32(ctx, f.tag)
          writeVarint32(ctx, ctx.sizes[ctx.i++]!)
          ctx.buf[ctx.pos++] = (1 << 3) | 2
          writeString(ctx, key)
          const v = record[key]
          if (f.mapMessage) writeNested(ctx, { ...f, tag: f.valueTag }, v)
          else {
            ctx.buf[ctx.pos++] = f.valueTag
            writeScalar(ctx, f.scalar, v)
          }
        }
        break
      }
    }
  }
  const unknown = message["$unknown"] as ReadonlyArray<{ no: number; wireType: number; data: Uint8Array }> | undefined
  if (unknown !== undefined) {
    for (let j = 0; j < unknown.length; j++) {
      const u = unknown[j]!
      writeVarint32(ctx, ((u.no << 3) | u.wireType) >>> 0)
      ctx.buf.set(u.data, ctx.pos)
      ctx.pos += u.data.byteLength
    }
  }
}

// -----------------------------------------------------------------------------
// allocation and entry point
// -----------------------------------------------------------------------------

/** Node's and Bun's Buffer, when there is one: large outputs are allocated without zero-filling. */
const NodeBuffer = (globalThis as { Buffer?: { allocUnsafeSlow?: (n: number) => Uint8Array } }).Buffer
const allocUnsafeSlow = typeof NodeBuffer?.allocUnsafeSlow === "function" ? NodeBuffer.allocUnsafeSlow.bind(NodeBuffer) : undefined

/** A plain Uint8Array of `n` bytes (over its own ArrayBuffer); every byte is written by the caller. */
const alloc = (n: number): Uint8Array => {
  if (n < 4096 || allocUnsafeSlow === undefined) return new Uint8Array(n)
  const b = allocUnsafeSlow(n)
  return new Uint8Array(b.buffer, b.byteOffset, n)
}

const run = (plan: Plan, message: Record<string, unknown>, headroom: number, exact: boolean): Uint8Array => {
  const ctx: Ctx = { exact, sizes: [], i: 0, buf: EMPTY, pos: headroom, view: undefined }
  const size = messageSize(ctx, plan, message)
  ctx.buf = alloc(headroom + size)
  writeMessage(ctx, plan, message)
  if (ctx.pos !== headroom + size) throw FALLBACK
  return ctx.buf
}

const EMPTY = new Uint8Array(0)

/**
 * Encodes `message` (a message of `schema`) to the protobuf binary format, leaving `headroom`
 * bytes free at the start of the returned buffer (not zeroed). Equal to `toBinary(schema,
 * message)` after the headroom; throws what `toBinary` throws.
 */
export const encode = (schema: DescMessage, message: object, headroom = 0): Uint8Array => {
  const plan = planOf(schema)
  if (plan !== undefined) {
    try {
      return run(plan, message as Record<string, unknown>, headroom, false)
    } catch (e) {
      if (e === NOT_ASCII) {
        try {
          return run(plan, message as Record<string, unknown>, headroom, true)
        } catch (e2) {
          if (e2 !== FALLBACK) throw e2
        }
      } else if (e !== FALLBACK) throw e
    }
  }
  const bytes = toBinary(schema, message as never)
  if (headroom === 0) return bytes
  const out = new Uint8Array(headroom + bytes.byteLength)
  out.set(bytes, headroom)
  return out
}
