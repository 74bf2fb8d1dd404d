/**
 * A protobuf binary decoder that gives exactly what protobuf-es's `fromBinary(schema, bytes)`
 * gives (same message shape: `$typeName`, prototype and defaults, presence, oneof ADTs, maps,
 * packed and unpacked lists, 64-bit integers as bigint or string, `$unknown`), without its
 * per-call overhead: no options object, no `BinaryReader`/`DataView` per message, varints read
 * straight from the `Uint8Array`. Per message type, a field table is compiled once (kept in a
 * WeakMap on the descriptor); no code is generated at run time (no `new Function`).
 *
 * Everything unusual goes to `fromBinary` for the whole buffer, so that its result — or its error
 * — stays the reference: groups and delimited message encoding, google.protobuf.Struct fields
 * (stored as JSON objects), closed enum values that are not members (protobuf-es moves them to
 * `$unknown`), a wire type that does not match the field, unknown fields inside map entries,
 * truncated or malformed input, records that overrun their enclosing message, the recursion
 * limit, and any exception at all (invalid UTF-8 in a validated string field included).
 *
 * A property test (test/BinaryDecoder.test.ts) compares the two over random messages of every
 * field kind and over random mutations and truncations of their bytes.
 *
 * @internal
 */
import { create, type DescField, type DescMessage, fromBinary, type MessageShape, protoInt64, ScalarType } from "@bufbuild/protobuf"
import { getTextEncoding } from "@bufbuild/protobuf/wire"
import { isWrapperDesc } from "@bufbuild/protobuf/wkt"
import { wireTypeOf } from "./protoWire.ts"

/** Thrown (not an Error: no stack) when the buffer must go to `fromBinary`. */
const FALLBACK = { fallback: true }

/** protobuf-es's default recursion limit. */
const RECURSION_LIMIT = 100

/** Field kinds. */
const K = {
  Scalar: 0,
  ClosedEnum: 1,
  Message: 2,
  Wrapper: 3,
  ListScalar: 4,
  ListMessage: 5,
  Map: 6,
  Unsupported: 7
} as const
type K = typeof K[keyof typeof K]

/** What a map value is. */
const V = { Scalar: 0, Enum: 1, Message: 2 } as const
type V = typeof V[keyof typeof V]

interface Field {
  readonly k: K
  readonly local: string
  /** The oneof's local name, for a member of a (real or synthetic) oneof. */
  readonly oneof: string | undefined
  /** Scalar type (enums: INT32); for maps, the value's. */
  readonly scalar: ScalarType
  /** Expected wire type of one value (singular, unpacked item, map value). */
  readonly wire: number
  /** A list item may come packed (numeric types). */
  readonly packable: boolean
  readonly longAsString: boolean
  /** Strings: invalid UTF-8 is an error. */
  readonly strict: boolean
  /** Closed enums: the member numbers. */
  readonly enumValues: ReadonlySet<number> | undefined
  /** Message fields, message lists and message map values: the child type. */
  readonly child: DescMessage | undefined
  childPlan: Plan | undefined
  /** Wrapper fields: the local name of the wrapper's value field. */
  readonly wrapperValue: string
  /** Maps. */
  readonly keyScalar: ScalarType
  readonly keyWire: number
  readonly keyZero: unknown
  readonly valueKind: V
  readonly valueZero: unknown
}

/** One property of a fresh message, in protobuf-es's `create` order. */
const I = { Constant: 0, List: 1, Map: 2, Oneof: 3 } as const
type I = typeof I[keyof typeof I]
interface InitStep {
  readonly name: string
  readonly kind: I
  readonly value: unknown
}

interface Plan {
  readonly typeName: string
  /** The prototype protobuf-es gives messages of this type (proto2/editions), or undefined. */
  readonly proto: object | undefined
  readonly init: ReadonlyArray<InitStep>
  /** Fields by number (numbers below DENSE_LIMIT), else `sparse`. */
  readonly dense: ReadonlyArray<Field | undefined>
  readonly sparse: ReadonlyMap<number, Field> | undefined
}

const DENSE_LIMIT = 1024

const plans = new WeakMap<DescMessage, Plan>()

/** Struct fields are stored as JSON objects by protobuf-es (except inside google.protobuf.Value). */
const usesJson = (f: DescField): boolean =>
  f.message !== undefined && f.message.typeName === "google.protobuf.Struct" && f.parent.typeName !== "google.protobuf.Value"

const zeroOf = (t: ScalarType): unknown => {
  switch (t) {
    case ScalarType.STRING:
      return ""
    case ScalarType.BOOL:
      return false
    case ScalarType.BYTES:
      return undefined // a fresh empty array per map entry
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return protoInt64.zero
    default:
      return 0
  }
}

const makeField = (f: DescField, k: K, extra: Partial<Field>): Field => ({
  k,
  local: f.localName,
  oneof: f.oneof?.localName,
  scalar: ScalarType.INT32,
  wire: 0,
  packable: false,
  longAsString: false,
  strict: f.utf8Validation === true,
  enumValues: undefined,
  child: undefined,
  childPlan: undefined,
  wrapperValue: "",
  keyScalar: ScalarType.STRING,
  keyWire: 2,
  keyZero: undefined,
  valueKind: V.Scalar,
  valueZero: undefined,
  ...extra
})

const compileField = (f: DescField): Field => {
  switch (f.fieldKind) {
    case "scalar":
      return makeField(f, K.Scalar, { scalar: f.scalar, wire: wireTypeOf(f.scalar), longAsString: f.longAsString })
    case "enum":
      return f.enum.open
        ? makeField(f, K.Scalar, { scalar: ScalarType.INT32, wire: 0 })
        : makeField(f, K.ClosedEnum, { wire: 0, enumValues: new Set(f.enum.values.map((v) => v.number)) })
    case "message":
      if (f.delimitedEncoding || usesJson(f)) return makeField(f, K.Unsupported, {})
      if (f.oneof === undefined && isWrapperDesc(f.message)) {
        return makeField(f, K.Wrapper, { wire: 2, child: f.message, wrapperValue: f.message.fields[0]!.localName })
      }
      return makeField(f, K.Message, { wire: 2, child: f.message })
    case "list": {
      if (f.listKind === "message") {
        if (f.delimitedEncoding || usesJson(f)) return makeField(f, K.Unsupported, {})
        return makeField(f, K.ListMessage, { wire: 2, child: f.message })
      }
      const scalar = f.listKind === "enum" ? ScalarType.INT32 : f.scalar
      return makeField(f, K.ListScalar, {
        scalar,
        wire: wireTypeOf(scalar),
        packable: scalar !== ScalarType.STRING && scalar !== ScalarType.BYTES,
        longAsString: f.listKind === "scalar" ? f.longAsString : false
      })
    }
    case "map": {
      const keyZero = zeroOf(f.mapKey)
      const base = { keyScalar: f.mapKey, keyWire: wireTypeOf(f.mapKey), keyZero: String(keyZero) }
      switch (f.mapKind) {
        case "message":
          if (usesJson(f)) return makeField(f, K.Unsupported, {})
          return makeField(f, K.Map, { ...base, valueKind: V.Message, wire: 2, child: f.message })
        case "enum":
          return makeField(f, K.Map, { ...base, valueKind: V.Enum, scalar: ScalarType.INT32, wire: 0, valueZero: f.enum.values[0]!.number })
        case "scalar":
          return makeField(f, K.Map, { ...base, valueKind: V.Scalar, scalar: f.scalar, wire: wireTypeOf(f.scalar), valueZero: zeroOf(f.scalar) })
      }
    }
  }
}

const planOf = (desc: DescMessage): Plan => {
  let plan = plans.get(desc)
  if (plan === undefined) {
    // protobuf-es's own fresh message: its prototype (defaults of fields with explicit presence)
    // and the constants it sets (zero values of fields with implicit presence)
    const sample = create(desc) as unknown as Record<string, unknown>
    const prototype = Object.getPrototypeOf(sample) as object
    const init: Array<InitStep> = []
    for (const member of desc.members) {
      const name = member.localName
      if (member.kind === "oneof") init.push({ name, kind: I.Oneof, value: undefined })
      else if (member.fieldKind === "list") init.push({ name, kind: I.List, value: undefined })
      else if (member.fieldKind === "map") init.push({ name, kind: I.Map, value: undefined })
      else if (Object.prototype.hasOwnProperty.call(sample, name)) init.push({ name, kind: I.Constant, value: sample[name] })
    }
    let max = 0
    for (const f of desc.fields) max = Math.max(max, f.number)
    const dense: Array<Field | undefined> = []
    let sparse: Map<number, Field> | undefined
    if (max < DENSE_LIMIT) {
      for (let i = 0; i <= max; i++) dense.push(undefined)
      for (const f of desc.fields) dense[f.number] = compileField(f)
    } else {
      sparse = new Map()
      for (const f of desc.fields) sparse.set(f.number, compileField(f))
    }
    plan = {
      typeName: desc.typeName,
      proto: prototype === Object.prototype ? undefined : prototype,
      init,
      dense,
      sparse
    }
    plans.set(desc, plan)
  }
  return plan
}

const childPlanOf = (f: Field): Plan => {
  let p = f.childPlan
  if (p === undefined) {
    p = planOf(f.child!)
    f.childPlan = p
  }
  return p
}

const newMessage = (plan: Plan): Record<string, unknown> => {
  let m: Record<string, unknown>
  if (plan.proto === undefined) {
    m = { $typeName: plan.typeName }
  } else {
    m = Object.create(plan.proto) as Record<string, unknown>
    m["$typeName"] = plan.typeName
  }
  const init = plan.init
  for (let i = 0; i < init.length; i++) {
    const s = init[i]!
    switch (s.kind) {
      case I.Constant:
        m[s.name] = s.value
        break
      case I.List:
        m[s.name] = []
        break
      case I.Map:
        m[s.name] = {}
        break
      case I.Oneof:
        m[s.name] = { case: undefined }
        break
    }
  }
  return m
}

// -----------------------------------------------------------------------------
// reading (one decode at a time: the state is module-level)
// -----------------------------------------------------------------------------

let buf: Uint8Array = new Uint8Array(0)
let pos = 0
let len = 0
let lo = 0
let hi = 0
let decodeUtf8: (bytes: Uint8Array, strict?: boolean) => string = () => ""
const scratch = new DataView(new ArrayBuffer(8))

/** An unsigned 32-bit varint, as protobuf-es reads it (longer varints keep their low 32 bits). */
const varint32 = (): number => {
  if (pos < len) {
    const b = buf[pos]!
    if (b < 0x80) {
      pos++
      return b
    }
  }
  let result = 0
  for (let i = 0; i < 10; i++) {
    if (pos >= len) throw FALLBACK
    const b = buf[pos++]!
    if (i < 4) result |= (b & 0x7f) << (7 * i)
    else if (i === 4) result |= (b & 0x0f) << 28
    if (b < 0x80) return i >= 4 ? result >>> 0 : result
  }
  throw FALLBACK
}

/** A 64-bit varint into `lo` and `hi` (as signed 32-bit halves). */
const varint64 = (): void => {
  let l = 0
  let h = 0
  for (let i = 0; i < 10; i++) {
    if (pos >= len) throw FALLBACK
    const b = buf[pos++]!
    if (i < 4) l |= (b & 0x7f) << (7 * i)
    else if (i === 4) {
      l |= (b & 0x0f) << 28
      h = (b & 0x70) >> 4
    } else h |= (b & 0x7f) << (3 + 7 * (i - 5))
    if (b < 0x80) {
      lo = l
      hi = h
      return
    }
  }
  throw FALLBACK
}

const fixed32 = (): number => {
  const p = pos
  if (p + 4 > len) throw FALLBACK
  pos = p + 4
  return buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)
}

const int64Of = (l: number, h: number, longAsString: boolean): unknown => {
  const v = h === 0 ? BigInt(l >>> 0) : protoInt64.dec(l, h)
  return longAsString ? String(v) : v
}

const uint64Of = (l: number, h: number, longAsString: boolean): unknown => {
  const v = h === 0 ? BigInt(l >>> 0) : protoInt64.uDec(l, h)
  return longAsString ? String(v) : v
}

const ASCII_MAX = 32

const readString = (strict: boolean): string => {
  const n = varint32()
  const start = pos
  const stop = start + n
  if (stop > len) throw FALLBACK
  pos = stop
  if (n <= ASCII_MAX) {
    // short ASCII: cheaper than a TextDecoder call
    const codes = new Array<number>(n)
    for (let i = 0; i < n; i++) {
      const b = buf[start + i]!
      if (b > 0x7f) return decodeUtf8(buf.subarray(start, stop), strict)
      codes[i] = b
    }
    return String.fromCharCode.apply(String, codes)
  }
  return decodeUtf8(buf.subarray(start, stop), strict)
}

const readScalar = (t: ScalarType, strict: boolean, longAsString: boolean): unknown => {
  switch (t) {
    case ScalarType.STRING:
      return readString(strict)
    case ScalarType.BYTES: {
      const n = varint32()
      const start = pos
      if (start + n > len) throw FALLBACK
      pos = start + n
      return buf.subarray(start, pos)
    }
    case ScalarType.INT32:
      return varint32() | 0
    case ScalarType.UINT32:
      return varint32()
    case ScalarType.SINT32: {
      const z = varint32()
      return (z >>> 1) ^ -(z & 1)
    }
    case ScalarType.BOOL: {
      if (pos < len && buf[pos]! < 0x80) return buf[pos++] !== 0
      varint64()
      return lo !== 0 || hi !== 0
    }
    case ScalarType.INT64:
      varint64()
      return int64Of(lo, hi, longAsString)
    case ScalarType.UINT64:
      varint64()
      return uint64Of(lo, hi, longAsString)
    case ScalarType.SINT64: {
      varint64()
      const s = -(lo & 1)
      const l = ((lo >>> 1) | ((hi & 1) << 31)) ^ s
      const h = (hi >>> 1) ^ s
      return int64Of(l, h, longAsString)
    }
    case ScalarType.FIXED32:
      return fixed32() >>> 0
    case ScalarType.SFIXED32:
      return fixed32()
    case ScalarType.FIXED64: {
      const l = fixed32()
      return uint64Of(l, fixed32(), longAsString)
    }
    case ScalarType.SFIXED64: {
      const l = fixed32()
      return int64Of(l, fixed32(), longAsString)
    }
    case ScalarType.FLOAT:
      scratch.setInt32(0, fixed32(), true)
      return scratch.getFloat32(0, true)
    case ScalarType.DOUBLE: {
      const l = fixed32()
      scratch.setInt32(0, l, true)
      scratch.setInt32(4, fixed32(), true)
      return scratch.getFloat64(0, true)
    }
  }
}

/** A tag (field number << 3 | wire type), checked as protobuf-es checks it. */
const readTag = (): number => {
  const start = pos
  const tag = varint32()
  const n = pos - start
  if (n > 5 || (n === 5 && buf[pos - 1]! > 0x0f)) throw FALLBACK
  if (tag >>> 3 === 0 || (tag & 7) > 5) throw FALLBACK
  return tag
}

/** Skips one value of an unknown field (no groups). */
const skip = (wt: number): void => {
  switch (wt) {
    case 0:
      for (let i = 0;; i++) {
        if (i === 10 || pos >= len) throw FALLBACK
        if (buf[pos++]! < 0x80) break
      }
      break
    case 1:
      pos += 8
      break
    case 2: {
      const n = varint32()
      pos += n
      break
    }
    case 5:
      pos += 4
      break
    default:
      throw FALLBACK
  }
  if (pos > len) throw FALLBACK
}

/** A length-delimited nested message, merged into `child`. */
const readChild = (plan: Plan, child: Record<string, unknown>, depth: number): void => {
  const n = varint32()
  const stop = pos + n
  if (stop > len) throw FALLBACK
  readMessage(plan, child, stop, depth)
}

const readMessage = (plan: Plan, message: Record<string, unknown>, end: number, depth: number): void => {
  if (depth > RECURSION_LIMIT) throw FALLBACK
  let unknown: Array<{ no: number; wireType: number; data: Uint8Array }> | undefined
  const dense = plan.dense
  const sparse = plan.sparse
  while (pos < end) {
    const tag = readTag()
    const no = tag >>> 3
    const wt = tag & 7
    const f = sparse === undefined ? dense[no] : sparse.get(no)
    if (f === undefined) {
      const start = pos
      skip(wt)
      if (unknown === undefined) {
        unknown = (message["$unknown"] as typeof unknown) ?? []
      }
      unknown.push({ no, wireType: wt, data: buf.subarray(start, pos) })
      continue
    }
    switch (f.k) {
      case K.Scalar: {
        if (wt !== f.wire) throw FALLBACK
        const v = readScalar(f.scalar, f.strict, f.longAsString)
        if (f.oneof === undefined) message[f.local] = v
        else message[f.oneof] = { case: f.local, value: v }
        break
      }
      case K.ClosedEnum: {
        if (wt !== 0) throw FALLBACK
        const v = varint32() | 0
        if (!f.enumValues!.has(v)) throw FALLBACK
        if (f.oneof === undefined) message[f.local] = v
        else message[f.oneof] = { case: f.local, value: v }
        break
      }
      case K.Message: {
        if (wt !== 2) throw FALLBACK
        const childPlan = childPlanOf(f)
        let child: Record<string, unknown> | undefined
        if (f.oneof === undefined) {
          child = message[f.local] as Record<string, unknown> | undefined
        } else {
          const o = message[f.oneof] as { case: unknown; value?: unknown }
          if (o.case === f.local) child = o.value as Record<string, unknown> | undefined
        }
        if (child === undefined) child = newMessage(childPlan)
        readChild(childPlan, child, depth + 1)
        if (f.oneof === undefined) message[f.local] = child
        else message[f.oneof] = { case: f.local, value: child }
        break
      }
      case K.Wrapper: {
        if (wt !== 2) throw FALLBACK
        const childPlan = childPlanOf(f)
        const child = newMessage(childPlan)
        const current = message[f.local]
        if (current !== undefined) child[f.wrapperValue] = current
        readChild(childPlan, child, depth + 1)
        message[f.local] = child[f.wrapperValue]
        break
      }
      case K.ListScalar: {
        const items = message[f.local] as Array<unknown>
        if (wt === 2 && f.packable) {
          const n = varint32()
          const stop = pos + n
          if (stop > len) throw FALLBACK
          while (pos < stop) items.push(readScalar(f.scalar, false, f.longAsString))
          if (pos !== stop) throw FALLBACK
        } else {
          if (wt !== f.wire) throw FALLBACK
          items.push(readScalar(f.scalar, f.strict, f.longAsString))
        }
        break
      }
      case K.ListMessage: {
        if (wt !== 2) throw FALLBACK
        const childPlan = childPlanOf(f)
        const child = newMessage(childPlan)
        readChild(childPlan, child, depth + 1)
        ;(message[f.local] as Array<unknown>).push(child)
        break
      }
      case K.Map: {
        if (wt !== 2) throw FALLBACK
        readMapEntry(f, message[f.local] as Record<string, unknown>, depth)
        break
      }
      default:
        throw FALLBACK
    }
  }
  if (pos !== end) throw FALLBACK
  if (unknown !== undefined) message["$unknown"] = unknown
}

const readMapEntry = (f: Field, record: Record<string, unknown>, depth: number): void => {
  const n = varint32()
  const stop = pos + n
  if (stop > len) throw FALLBACK
  let key: unknown
  let value: unknown
  while (pos < stop) {
    const tag = readTag()
    const no = tag >>> 3
    const wt = tag & 7
    if (no === 1) {
      if (wt !== f.keyWire) throw FALLBACK
      key = readScalar(f.keyScalar, f.strict, false)
    } else if (no === 2) {
      if (wt !== f.wire) throw FALLBACK
      if (f.valueKind === V.Message) {
        const childPlan = childPlanOf(f)
        const child = (value as Record<string, unknown> | undefined) ?? newMessage(childPlan)
        readChild(childPlan, child, depth + 1)
        value = child
      } else {
        value = readScalar(f.scalar, f.strict, false)
      }
    } else {
      throw FALLBACK
    }
  }
  if (pos !== stop) throw FALLBACK
  const k = key === undefined ? (f.keyZero as string) : String(key)
  if (value === undefined) {
    value = f.valueKind === V.Message
      ? newMessage(childPlanOf(f))
      : f.scalar === ScalarType.BYTES && f.valueKind === V.Scalar
      ? new Uint8Array(0)
      : f.valueZero
  }
  if (k === "__proto__") {
    Object.defineProperty(record, k, { value, writable: true, enumerable: true, configurable: true })
  } else {
    record[k] = value
  }
}

/**
 * Decodes `bytes` as a message of `schema`: the same result as `fromBinary(schema, bytes)`, and
 * the same errors (anything this decoder does not handle itself goes to `fromBinary`).
 */
export const decode = <Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> =>
  decodeRange(schema, bytes, 0, bytes.length)

/**
 * Decodes `bytes[start, end)` as a message of `schema`, like `decode(schema, bytes.subarray(start,
 * end))` without making the view (a stream of small messages read from one chunk makes one view
 * per message otherwise). Bytes fields and unknown fields are views into `bytes`, as they are into
 * the subarray.
 */
export const decodeRange = <Desc extends DescMessage>(schema: Desc, bytes: Uint8Array, start: number, end: number): MessageShape<Desc> => {
  if (!protoInt64.supported) return fromBinary(schema, bytes.subarray(start, end))
  try {
    const plan = planOf(schema)
    decodeUtf8 = getTextEncoding().decodeUtf8
    buf = bytes
    pos = start
    len = end
    const message = newMessage(plan)
    readMessage(plan, message, end, 1)
    return message as MessageShape<Desc>
  } catch {
    fallbacks.count++
    return fromBinary(schema, bytes.subarray(start, end))
  } finally {
    buf = EMPTY
  }
}

const EMPTY = new Uint8Array(0)

/** How many buffers went to `fromBinary` after a failed attempt (for tests). */
export const fallbacks = { count: 0 }
