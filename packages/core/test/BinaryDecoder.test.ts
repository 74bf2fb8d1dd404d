/**
 * The binary decoder (src/internal/binaryDecoder.ts) against protobuf-es's `fromBinary`: the same
 * message (deep equality with prototypes, `$typeName`, bigint vs string, bytes as views of the
 * input, `$unknown`) over random messages of every field kind (proto3 singular, optional, packed
 * and unpacked lists, open and closed enums, nested and recursive messages, oneofs, maps with
 * string, integer and bool keys, wrappers, int64 as string; proto2 with defaults, closed enums
 * and groups; editions), over concatenations (merged duplicate fields), over bytes read as another
 * type (unknown fields), and over random mutations and truncations (the same result or the same
 * error).
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { create, createFileRegistry, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf"
import { FileDescriptorProtoSchema, file_google_protobuf_struct, file_google_protobuf_wrappers } from "@bufbuild/protobuf/wkt"
import { decode, decodeRange, fallbacks } from "../src/internal/binaryDecoder.ts"
import * as Codec from "../src/Codec.ts"
import { arbitraries, entry, field, JS_STRING, REPEATED, REQUIRED, scalarNames, T } from "./fixtures/protoArbitrary.ts"
import { params } from "./fuzzSupport.ts"

const proto3 = create(FileDescriptorProtoSchema, {
  name: "dec/v1/all.proto",
  package: "dec.v1",
  syntax: "proto3",
  dependency: ["google/protobuf/wrappers.proto", "google/protobuf/struct.proto"],
  enumType: [{ name: "Color", value: [{ name: "COLOR_UNSPECIFIED", number: 0 }, { name: "COLOR_RED", number: 1 }, { name: "COLOR_BLUE", number: 5 }] }],
  messageType: [
    {
      name: "All",
      field: [
        ...scalarNames.map((s, i) => field(`s_${s}`, 1 + i, T[s])),
        ...scalarNames.map((s, i) => field(`o_${s}`, 21 + i, T[s], { proto3Optional: true, oneofIndex: 1 + i })),
        ...scalarNames.map((s, i) => field(`r_${s}`, 41 + i, T[s], { label: REPEATED })),
        field("u_int32", 61, T.int32, { label: REPEATED, options: { packed: false } }),
        field("u_double", 62, T.double, { label: REPEATED, options: { packed: false } }),
        field("u_sint64", 63, T.sint64, { label: REPEATED, options: { packed: false } }),
        field("j_int64", 64, T.int64, { options: { jstype: JS_STRING } }),
        field("j_fixed64", 65, T.fixed64, { label: REPEATED, options: { jstype: JS_STRING } }),
        field("j_sint64", 66, T.sint64, { oneofIndex: 0, options: { jstype: JS_STRING } }),
        field("color", 70, T.enum, { typeName: ".dec.v1.Color" }),
        field("colors", 71, T.enum, { typeName: ".dec.v1.Color", label: REPEATED }),
        field("o_color", 72, T.enum, { typeName: ".dec.v1.Color", proto3Optional: true, oneofIndex: 16 }),
        field("child", 80, T.message, { typeName: ".dec.v1.All" }),
        field("children", 81, T.message, { typeName: ".dec.v1.All", label: REPEATED }),
        field("leaf", 82, T.message, { typeName: ".dec.v1.Leaf" }),
        field("w_int32", 83, T.message, { typeName: ".google.protobuf.Int32Value" }),
        field("w_string", 84, T.message, { typeName: ".google.protobuf.StringValue" }),
        field("w_bytes", 85, T.message, { typeName: ".google.protobuf.BytesValue" }),
        field("w_uint64", 86, T.message, { typeName: ".google.protobuf.UInt64Value" }),
        field("ws", 87, T.message, { typeName: ".google.protobuf.Int32Value", label: REPEATED }),
        field("c_text", 90, T.string, { oneofIndex: 0 }),
        field("c_number", 91, T.int64, { oneofIndex: 0 }),
        field("c_leaf", 92, T.message, { typeName: ".dec.v1.Leaf", oneofIndex: 0 }),
        field("c_wrapped", 93, T.message, { typeName: ".google.protobuf.Int32Value", oneofIndex: 0 }),
        field("c_color", 94, T.enum, { typeName: ".dec.v1.Color", oneofIndex: 0 }),
        field("m_int32", 100, T.message, { typeName: ".dec.v1.All.MInt32Entry", label: REPEATED }),
        field("m_string", 101, T.message, { typeName: ".dec.v1.All.MStringEntry", label: REPEATED }),
        field("m_leaf", 102, T.message, { typeName: ".dec.v1.All.MLeafEntry", label: REPEATED }),
        field("m_color", 103, T.message, { typeName: ".dec.v1.All.MColorEntry", label: REPEATED }),
        field("m_by_id", 104, T.message, { typeName: ".dec.v1.All.MByIdEntry", label: REPEATED }),
        field("m_by_long", 105, T.message, { typeName: ".dec.v1.All.MByLongEntry", label: REPEATED }),
        field("m_by_flag", 106, T.message, { typeName: ".dec.v1.All.MByFlagEntry", label: REPEATED }),
        field("m_bytes", 107, T.message, { typeName: ".dec.v1.All.MBytesEntry", label: REPEATED }),
        field("big", 536870911, T.string)
      ],
      oneofDecl: [{ name: "choice" }, ...scalarNames.map((s) => ({ name: `_o_${s}` })), { name: "_o_color" }],
      nestedType: [
        entry("MInt32Entry", T.string, T.int32),
        entry("MStringEntry", T.string, T.string),
        entry("MLeafEntry", T.string, T.message, { typeName: ".dec.v1.Leaf" }),
        entry("MColorEntry", T.string, T.enum, { typeName: ".dec.v1.Color" }),
        entry("MByIdEntry", T.sint32, T.string),
        entry("MByLongEntry", T.int64, T.uint64),
        entry("MByFlagEntry", T.bool, T.double),
        entry("MBytesEntry", T.fixed32, T.bytes)
      ]
    },
    { name: "Leaf", field: [field("text", 1, T.string), field("n", 2, T.sint32), field("data", 3, T.bytes)] },
    // a sparse field table and nothing else: everything of All is unknown here
    { name: "Sparse", field: [field("n", 2, T.sint32), field("far", 100000, T.fixed32)] },
    // goes to fromBinary: a Struct field (stored as JSON)
    { name: "WithStruct", field: [field("s", 1, T.message, { typeName: ".google.protobuf.Struct" }), field("n", 2, T.int32)] },
    { name: "SumRequest", field: [field("number", 1, T.int64), field("text", 2, T.string)] }
  ]
})

const proto2 = create(FileDescriptorProtoSchema, {
  name: "dec/v1/legacy.proto",
  package: "dec.v1",
  syntax: "proto2",
  enumType: [{ name: "Mood", value: [{ name: "MOOD_HAPPY", number: 1 }, { name: "MOOD_SAD", number: 5 }] }],
  messageType: [
    {
      name: "Legacy",
      field: [
        field("n", 1, T.int32, { defaultValue: "7" }),
        field("text", 2, T.string, { defaultValue: "hi" }),
        field("flag", 3, T.bool),
        field("list", 4, T.sint32, { label: REPEATED }),
        field("packed", 5, T.fixed64, { label: REPEATED, options: { packed: true } }),
        field("next", 6, T.message, { typeName: ".dec.v1.Legacy" }),
        field("mood", 7, T.enum, { typeName: ".dec.v1.Mood", defaultValue: "MOOD_SAD" }),
        field("moods", 8, T.enum, { typeName: ".dec.v1.Mood", label: REPEATED }),
        field("c_mood", 9, T.enum, { typeName: ".dec.v1.Mood", oneofIndex: 0 }),
        field("c_text", 10, T.string, { oneofIndex: 0 }),
        field("big", 11, T.int64, { defaultValue: "-9000000000" }),
        field("raw", 12, T.bytes, { defaultValue: "ab\\001" })
      ],
      oneofDecl: [{ name: "choice" }]
    },
    { name: "WithRequired", field: [field("id", 1, T.int32, { label: REQUIRED })] },
    {
      name: "WithGroup",
      field: [field("n", 1, T.int32), field("grp", 2, T.group, { typeName: ".dec.v1.WithGroup.Grp" })],
      nestedType: [{ name: "Grp", field: [field("a", 3, T.int32)] }]
    }
  ]
})

const editions = create(FileDescriptorProtoSchema, {
  name: "dec/v1/editions.proto",
  package: "dec.v1",
  syntax: "editions",
  edition: 1000, // EDITION_2023
  messageType: [
    {
      name: "Ed",
      field: [
        field("a", 1, T.int32),
        field("b", 2, T.string, { options: { features: { fieldPresence: 2 } } }),
        field("c", 3, T.int32, { label: REPEATED }),
        field("d", 4, T.uint64, { defaultValue: "42" }),
        field("e", 5, T.message, { typeName: ".dec.v1.Ed" }),
        field("f", 6, T.string, { options: { features: { utf8Validation: 3 } } })
      ]
    }
  ]
})

const registry = createFileRegistry(
  createFileRegistry(proto3, (name) =>
    name === "google/protobuf/wrappers.proto" ? file_google_protobuf_wrappers : name === "google/protobuf/struct.proto" ? file_google_protobuf_struct : undefined),
  createFileRegistry(proto2, () => undefined),
  createFileRegistry(editions, () => undefined)
)
const desc = (name: string): DescMessage => registry.getMessage(`dec.v1.${name}`)!
const All = desc("All")
const Leaf = desc("Leaf")
const Legacy = desc("Legacy")
const Ed = desc("Ed")

const { message, unknownFields } = arbitraries({
  longTextMinLength: 30,
  textConstants: ["", "é", "\ufeffbom", "😀", "a".repeat(32), "a".repeat(33), "__proto__", "constructor"],
  bytesMaxLength: 2000,
  int64Constants: [0n, -1n, 127n, 128n, (1n << 32n) - 1n, 1n << 32n],
  uint64Constants: [0n, 127n, 128n, 1n << 32n],
  // members of Color (0, 1, 5) and of Mood (1, 5), and others
  enumMembers: [0, 1, 5],
  enumMemberWeight: 2,
  wrappersInOneof: true,
  // every wire type but groups
  unknownWireTypes: "all"
})

/** Deep equality that also checks prototypes, value types and that bytes are views of the same buffer. */
let input: ArrayBufferLike | undefined
const same = (a: unknown, b: unknown, path = "$"): void => {
  if (typeof a !== typeof b) throw new Error(`${path}: ${typeof a} vs ${typeof b}`)
  if (a === null || typeof a !== "object") {
    if (!Object.is(a, b)) throw new Error(`${path}: ${String(a)} vs ${String(b)}`)
    return
  }
  const x = a as Record<string, unknown>
  const y = b as Record<string, unknown>
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) throw new Error(`${path}: different prototypes`)
  if (x instanceof Uint8Array) {
    const v = y as unknown as Uint8Array
    if (x.buffer === input || v.buffer === input) {
      // a view of the input (bytes fields, unknown fields): the same view
      if (x.buffer !== v.buffer || x.byteOffset !== v.byteOffset || x.byteLength !== v.byteLength) {
        throw new Error(`${path}: different bytes views`)
      }
    } else if (x.join() !== v.join()) throw new Error(`${path}: different bytes`)
    return
  }
  const kx = Reflect.ownKeys(x).map(String).sort()
  const ky = Reflect.ownKeys(y).map(String).sort()
  if (kx.join() !== ky.join()) throw new Error(`${path}: keys ${kx.join()} vs ${ky.join()}`)
  for (const k of kx) same(x[k], y[k], `${path}.${k}`)
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }
const run = (f: () => unknown): Outcome => {
  try {
    return { ok: true, value: f() }
  } catch (error) {
    return { ok: false, error }
  }
}

/**
 * `decode` gives what `fromBinary` gives, or throws what it throws; so does `decodeRange` over
 * the same bytes inside a larger buffer (with bytes around them that are not a valid message).
 */
const sameAsFromBinary = (d: DescMessage, bytes: Uint8Array): boolean => {
  const ok = sameOne(d, bytes, (b) => decode(d, b))
  const padded = new Uint8Array(bytes.byteLength + 5)
  padded.set([0xff, 0xff, 0x07], 0)
  padded.set(bytes, 3)
  padded.set([0x0a, 0xff], 3 + bytes.byteLength)
  sameOne(d, padded.subarray(3, 3 + bytes.byteLength), () => decodeRange(d, padded, 3, 3 + bytes.byteLength))
  return ok
}

const sameOne = (d: DescMessage, bytes: Uint8Array, decodeIt: (bytes: Uint8Array) => unknown): boolean => {
  input = bytes.buffer
  const want = run(() => fromBinary(d, bytes))
  const got = run(() => decodeIt(bytes))
  if (want.ok) {
    if (!got.ok) throw got.error
    same(got.value, want.value)
    // (not toStrictEqual: it compares a map entry named "constructor" as a class)
    expect(got.value).toEqual(want.value)
  } else {
    expect(got.ok).toBe(false)
    if (!got.ok) {
      expect(String(got.error)).toBe(String(want.error))
    }
  }
  return want.ok
}

const concat = (...parts: Array<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.byteLength
  }
  return out
}

const allMessage = fc.tuple(message(All, 2), unknownFields).map(([init, unknown]) => {
  const m = create(All, init)
  if (unknown.length > 0) (m as { $unknown?: unknown }).$unknown = unknown
  return toBinary(All, m)
})

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) })
)
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

const mutate = (bytes: Uint8Array, ms: ReadonlyArray<Mutation>): Uint8Array => {
  let b = bytes
  for (const m of ms) {
    const at = b.byteLength === 0 ? 0 : m.at % (b.byteLength + 1)
    switch (m.kind) {
      case "flip":
        if (at < b.byteLength) {
          b = b.slice()
          b[at] = m.byte
        }
        break
      case "truncate":
        b = b.slice(0, at)
        break
      case "insert":
        b = concat(b.subarray(0, at), m.bytes, b.subarray(at))
        break
      case "delete":
        b = concat(b.subarray(0, at), b.subarray(at + m.n))
        break
    }
  }
  return b
}

describe("binaryDecoder", () => {
  it("reads what fromBinary reads (proto3, every field kind)", () => {
    const before = fallbacks.count
    fc.assert(fc.property(allMessage, (bytes) => void expect(sameAsFromBinary(All, bytes)).toBe(true)), params())
    // all of it natively
    expect(fallbacks.count).toBe(before)
  })

  it("reads what fromBinary reads (proto2 with defaults and closed enums; editions)", () => {
    fc.assert(fc.property(message(Legacy, 3), (init) => void expect(sameAsFromBinary(Legacy, toBinary(Legacy, create(Legacy, init)))).toBe(true)), params())
    fc.assert(fc.property(message(Ed, 3), (init) => void expect(sameAsFromBinary(Ed, toBinary(Ed, create(Ed, init)))).toBe(true)), params())
  })

  it("merges repeated occurrences as fromBinary does (concatenated messages)", () => {
    const before = fallbacks.count
    fc.assert(fc.property(allMessage, allMessage, (a, b) => void expect(sameAsFromBinary(All, concat(a, b))).toBe(true)), params())
    expect(fallbacks.count).toBe(before)
    fc.assert(
      fc.property(message(Legacy, 2), message(Legacy, 2), (a, b) => {
        sameAsFromBinary(Legacy, concat(toBinary(Legacy, create(Legacy, a)), toBinary(Legacy, create(Legacy, b))))
      }),
      params()
    )
  })

  it("keeps unknown fields as fromBinary does (bytes read as another type)", () => {
    const others = [Leaf, desc("Sparse"), desc("SumRequest"), Legacy, Ed]
    const before = fallbacks.count
    let cases = 0
    fc.assert(fc.property(allMessage, (bytes) => others.forEach((d) => void (cases += 2, sameAsFromBinary(d, bytes)))), params()) // decode and decodeRange
    // wrong wire types for the fields these types share with All go to fromBinary, the rest not
    expect(fallbacks.count - before).toBeLessThan(cases)
  })

  it("gives the same result or the same error for mutated and truncated bytes", () => {
    let ok = 0
    let failed = 0
    fc.assert(
      fc.property(allMessage, fc.array(mutation, { minLength: 1, maxLength: 3 }), (bytes, ms) => {
        const b = mutate(bytes, ms)
        for (const d of [All, Leaf, Legacy]) {
          if (sameAsFromBinary(d, b)) ok++
          else failed++
        }
      }),
      params()
    )
    expect(ok).toBeGreaterThan(0)
    expect(failed).toBeGreaterThan(0)
  })

  it("falls back to fromBinary for what it does not read itself", () => {
    // Struct (stored as JSON), groups, closed enum values outside the enum, wrong wire types
    const WithStruct = desc("WithStruct")
    sameAsFromBinary(WithStruct, toBinary(WithStruct, create(WithStruct, { s: { a: 1, b: [true, null, "x"] }, n: 3 } as never)))
    const WithGroup = desc("WithGroup")
    sameAsFromBinary(WithGroup, toBinary(WithGroup, create(WithGroup, { n: 1, grp: { a: 2 } } as never)))
    sameAsFromBinary(Legacy, toBinary(Legacy, create(Legacy, { mood: 3, moods: [1, 3], choice: { case: "cMood", value: 4 } } as never)))
    expect(fromBinary(Legacy, Uint8Array.of(0x38, 3)).$unknown).toHaveLength(1)
    // field 1 of Leaf (a string) sent as a varint; an unknown group
    sameAsFromBinary(Leaf, Uint8Array.of(0x08, 3))
    sameAsFromBinary(Leaf, Uint8Array.of(0x2b, 0x08, 1, 0x2c, 0x10, 4))
    // a required field is not checked by fromBinary
    sameAsFromBinary(desc("WithRequired"), new Uint8Array(0))
  })

  it("honours UTF-8 validation as fromBinary does", () => {
    const invalid = [Uint8Array.of(0xff), Uint8Array.of(0xc3), Uint8Array.of(0xed, 0xa0, 0x80), new Uint8Array(40).fill(0x61).fill(0xe9, 39)]
    for (const s of invalid) {
      const leaf = concat(Uint8Array.of(0x0a, s.byteLength), s)
      expect(sameAsFromBinary(Leaf, leaf)).toBe(false)
      // proto2 and editions with utf8_validation NONE: replacement characters
      expect(sameAsFromBinary(Legacy, concat(Uint8Array.of(0x12, s.byteLength), s))).toBe(true)
      expect(sameAsFromBinary(Ed, concat(Uint8Array.of(0x32, s.byteLength), s))).toBe(true)
    }
    // a byte-order mark is text
    expect(sameAsFromBinary(Leaf, Uint8Array.of(0x0a, 3, 0xef, 0xbb, 0xbf))).toBe(true)
  })

  it("stops at the recursion limit as fromBinary does", () => {
    const nested = (depth: number): Uint8Array => {
      let b: Uint8Array = toBinary(Leaf, create(Leaf, { text: "x" }))
      b = concat(Uint8Array.of(0x92, 0x05, b.byteLength), b) // All.leaf
      for (let i = 1; i < depth; i++) {
        const len = b.byteLength
        const prefix = len < 128 ? [len] : len < 16384 ? [(len & 0x7f) | 0x80, len >> 7] : [(len & 0x7f) | 0x80, ((len >> 7) & 0x7f) | 0x80, len >> 14]
        b = concat(Uint8Array.of(0x82, 0x05, ...prefix), b) // All.child
      }
      return b
    }
    expect(sameAsFromBinary(All, nested(98))).toBe(true)
    expect(sameAsFromBinary(All, nested(99))).toBe(true)
    expect(sameAsFromBinary(All, nested(100))).toBe(false)
    expect(sameAsFromBinary(All, nested(120))).toBe(false)
  })

  it("reads large strings and bytes", () => {
    for (const t of ["a".repeat(65536), "é".repeat(40000), "😀".repeat(20000)]) {
      expect(sameAsFromBinary(Leaf, toBinary(Leaf, create(Leaf, { text: t, n: -3, data: new Uint8Array(70000).fill(7) })))).toBe(true)
    }
  })

  it("is the proto codec's decoder", () => {
    const SumRequest = desc("SumRequest")
    const bytes = toBinary(SumRequest, create(SumRequest, { number: 42n, text: "hello, benchmark" } as never))
    const m = Codec.proto.decode(SumRequest, bytes)
    same(m, fromBinary(SumRequest, bytes))
    expect(() => Codec.proto.decode(SumRequest, Uint8Array.of(0x08))).toThrow(/premature EOF/)
  })
})
