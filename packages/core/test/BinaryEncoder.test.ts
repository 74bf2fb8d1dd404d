/**
 * The right-sized binary encoder (src/internal/binaryEncoder.ts) against protobuf-es's `toBinary`:
 * byte for byte equal over random messages of every field kind (proto3 singular, optional,
 * packed and unpacked lists, enums, nested and recursive messages, oneofs, maps, unknown fields;
 * proto2 with defaults), with and without headroom, and the same errors for invalid values.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { create, createFileRegistry, type DescMessage, toBinary } from "@bufbuild/protobuf"
import { FileDescriptorProtoSchema, file_google_protobuf_wrappers } from "@bufbuild/protobuf/wkt"
import { encode } from "../src/internal/binaryEncoder.ts"
import * as Codec from "../src/Codec.ts"
import { arbitraries, entry, field, REPEATED, REQUIRED, scalarNames, T } from "./fixtures/protoArbitrary.ts"
import { params } from "./fuzzSupport.ts"

const proto3 = create(FileDescriptorProtoSchema, {
  name: "enc/v1/all.proto",
  package: "enc.v1",
  syntax: "proto3",
  dependency: ["google/protobuf/wrappers.proto"],
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
        field("color", 70, T.enum, { typeName: ".enc.v1.Color" }),
        field("colors", 71, T.enum, { typeName: ".enc.v1.Color", label: REPEATED }),
        field("o_color", 72, T.enum, { typeName: ".enc.v1.Color", proto3Optional: true, oneofIndex: 16 }),
        field("child", 80, T.message, { typeName: ".enc.v1.All" }),
        field("children", 81, T.message, { typeName: ".enc.v1.All", label: REPEATED }),
        field("leaf", 82, T.message, { typeName: ".enc.v1.Leaf" }),
        field("c_text", 90, T.string, { oneofIndex: 0 }),
        field("c_number", 91, T.int64, { oneofIndex: 0 }),
        field("c_leaf", 92, T.message, { typeName: ".enc.v1.Leaf", oneofIndex: 0 }),
        field("c_wrapped", 93, T.message, { typeName: ".google.protobuf.Int32Value", oneofIndex: 0 }),
        field("m_int32", 100, T.message, { typeName: ".enc.v1.All.MInt32Entry", label: REPEATED }),
        field("m_string", 101, T.message, { typeName: ".enc.v1.All.MStringEntry", label: REPEATED }),
        field("m_leaf", 102, T.message, { typeName: ".enc.v1.All.MLeafEntry", label: REPEATED }),
        field("m_color", 103, T.message, { typeName: ".enc.v1.All.MColorEntry", label: REPEATED }),
        field("big", 536870911, T.string)
      ],
      oneofDecl: [{ name: "choice" }, ...scalarNames.map((s) => ({ name: `_o_${s}` })), { name: "_o_color" }],
      nestedType: [
        entry("MInt32Entry", T.string, T.int32),
        entry("MStringEntry", T.string, T.string),
        entry("MLeafEntry", T.string, T.message, { typeName: ".enc.v1.Leaf" }),
        entry("MColorEntry", T.string, T.enum, { typeName: ".enc.v1.Color" })
      ]
    },
    { name: "Leaf", field: [field("text", 1, T.string), field("n", 2, T.sint32), field("data", 3, T.bytes)] },
    // goes to toBinary: a wrapper field (stored unboxed) and a map with an integer key
    {
      name: "Fallback",
      field: [
        field("wrapped", 1, T.message, { typeName: ".google.protobuf.Int32Value" }),
        field("by_id", 2, T.message, { typeName: ".enc.v1.Fallback.ByIdEntry", label: REPEATED }),
        field("leaf", 3, T.message, { typeName: ".enc.v1.Leaf" })
      ],
      nestedType: [entry("ByIdEntry", T.int32, T.string)]
    },
    // its child goes to toBinary
    { name: "Parent", field: [field("fallback", 1, T.message, { typeName: ".enc.v1.Fallback" }), field("text", 2, T.string)] }
  ]
})

const proto2 = create(FileDescriptorProtoSchema, {
  name: "enc/v1/legacy.proto",
  package: "enc.v1",
  syntax: "proto2",
  messageType: [
    {
      name: "Legacy",
      field: [
        field("n", 1, T.int32, { defaultValue: "7" }),
        field("text", 2, T.string, { defaultValue: "hi" }),
        field("flag", 3, T.bool),
        field("list", 4, T.sint32, { label: REPEATED }),
        field("packed", 5, T.fixed64, { label: REPEATED, options: { packed: true } }),
        field("next", 6, T.message, { typeName: ".enc.v1.Legacy" })
      ]
    },
    { name: "WithRequired", field: [field("id", 1, T.int32, { label: REQUIRED })] }
  ]
})

const registry = createFileRegistry(
  createFileRegistry(proto3, (name) => (name === "google/protobuf/wrappers.proto" ? file_google_protobuf_wrappers : undefined)),
  createFileRegistry(proto2, () => undefined)
)
const desc = (name: string): DescMessage => registry.getMessage(`enc.v1.${name}`)!
const All = desc("All")
const Leaf = desc("Leaf")

const { message, unknownFields } = arbitraries({
  longTextMinLength: 60,
  textConstants: ["", "é", "\ud800", "x\udc00y", "😀", "a".repeat(127), "a".repeat(128) + "é"],
  bytesMaxLength: 5000,
  int64Constants: [0n, -1n, 127n, 128n],
  uint64Constants: [0n, 127n, 128n],
  enumMembers: [0, 1, 5],
  enumMemberWeight: 1,
  // wrapped oneof cases are left unset
  wrappersInOneof: false,
  unknownWireTypes: "lengthDelimited"
})

const sameAsToBinary = (d: DescMessage, m: object) => {
  const want = toBinary(d, m as never)
  expect(encode(d, m)).toEqual(want)
  const framed = encode(d, m, 5)
  expect(framed.byteLength).toBe(want.byteLength + 5)
  expect(framed.subarray(5)).toEqual(want)
}

describe("binaryEncoder", () => {
  it("writes what toBinary writes (proto3, every field kind)", () => {
    fc.assert(
      fc.property(message(All, 2), unknownFields, (init, unknown) => {
        const m = create(All, init)
        if (unknown.length > 0) (m as { $unknown?: unknown }).$unknown = unknown
        sameAsToBinary(All, m)
      }),
      params()
    )
  })

  it("writes what toBinary writes (proto2 with defaults)", () => {
    const Legacy = desc("Legacy")
    fc.assert(fc.property(message(Legacy, 2), (init) => sameAsToBinary(Legacy, create(Legacy, init))), params())
  })

  it("falls back to toBinary for what it does not encode itself", () => {
    const Fallback = desc("Fallback")
    const Parent = desc("Parent")
    const f = create(Fallback, { wrapped: 5, byId: { 3: "x", [-1]: "y" }, leaf: { text: "t" } })
    sameAsToBinary(Fallback, f)
    sameAsToBinary(Parent, create(Parent, { fallback: f, text: "p" }))
    const WithRequired = desc("WithRequired")
    sameAsToBinary(WithRequired, create(WithRequired, { id: 3 }))
    expect(() => encode(WithRequired, create(WithRequired))).toThrow(/required field not set/)
  })

  it("throws what toBinary throws for invalid values", () => {
    const bad: Array<[string, unknown]> = [["sInt32", 1.5], ["sUint32", -1], ["sFloat", 1e300], ["sInt64", 1n << 70n], ["sUint64", -1n], ["sFixed32", 2 ** 32]]
    for (const [name, v] of bad) {
      const m = create(All) as Record<string, unknown>
      m[name] = v
      let expected: unknown
      try {
        toBinary(All, m as never)
      } catch (e) {
        expected = e
      }
      expect(expected).toBeInstanceOf(Error)
      expect(() => encode(All, m)).toThrow((expected as Error).message)
    }
    // values toBinary converts: 64-bit integers as strings, a bool as a number
    const converted = create(All) as Record<string, unknown>
    converted["sInt64"] = "-5"
    converted["sBool"] = 1
    converted["sString"] = 42
    sameAsToBinary(All, converted)
  })

  it("encodes large strings and bytes (ASCII, multi-byte, lone surrogates) into an exact buffer", () => {
    for (const t of ["a".repeat(65536), "é".repeat(40000), "a".repeat(70000) + "\ud800", "😀".repeat(20000)]) {
      const m = create(Leaf, { text: t, n: -3, data: new Uint8Array(70000).fill(7) })
      sameAsToBinary(Leaf, m)
      expect(encode(Leaf, m).buffer.byteLength).toBe(toBinary(Leaf, m).byteLength)
    }
  })

  it("is the proto codec's encoder", () => {
    const m = create(Leaf, { text: "x".repeat(5000), n: 1 })
    expect(Codec.proto.encode(Leaf, m)).toEqual(toBinary(Leaf, m))
    expect(Codec.proto.encode(Leaf, { text: "y" })).toEqual(toBinary(Leaf, create(Leaf, { text: "y" })))
  })
})
