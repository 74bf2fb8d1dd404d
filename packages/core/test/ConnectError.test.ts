import { describe, expect, it } from "@effect/vitest"
import { createRegistry, isMessage } from "@bufbuild/protobuf"
import { DurationSchema, Int32ValueSchema, StringValueSchema } from "@bufbuild/protobuf/wkt"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ConnectError from "../src/ConnectError.ts"
import { ConnectErrorSchema } from "../src/ConnectErrorSchema.ts"
import { errorToJson } from "../src/protocol-connect/wire.ts"

describe("ConnectError", () => {
  it("is built without a stack trace (an expected error), leaving Error.stackTraceLimit and the cause's stack alone", () => {
    const limit = Error.stackTraceLimit
    const cause = new Error("underlying")
    const error = ConnectError.make("internal", "boom", { cause })
    expect(error.stack).toBe("ConnectError: boom")
    expect(new ConnectError.ConnectError({ code: "not_found", message: "nope" }).stack).toBe("ConnectError: nope")
    expect(Error.stackTraceLimit).toBe(limit)
    expect((error.cause as Error).stack).toContain("ConnectError.test.ts")
    expect(error).toBeInstanceOf(Error)
    // a failing construction (bad code) restores the limit too
    expect(() => new ConnectError.ConnectError({ code: "nope" as never, message: "x" })).toThrow()
    expect(Error.stackTraceLimit).toBe(limit)
  })

  describe("from", () => {
    it("keeps the original error as the standard cause", () => {
      const original = new Error("x")
      const error = ConnectError.from(original, "internal")
      expect(error.code).toBe("internal")
      expect(error.message).toBe("x")
      expect(error.cause).toBe(original)
      // as `new Error(message, { cause })`: own and not enumerable
      expect(Object.keys(error)).not.toContain("cause")
      expect(ConnectError.from("plain", "unknown").cause).toBe("plain")
    })

    it("passes a ConnectError through unchanged", () => {
      const error = ConnectError.make("not_found", "nope")
      expect(ConnectError.from(error, "internal")).toBe(error)
      expect(Object.hasOwn(error, "cause")).toBe(false)
    })

    it("a cause never reaches the wire or the schema encoding, and survives withMetadata", () => {
      const error = ConnectError.from(new Error("secret stack"), "internal")
      expect(errorToJson(error)).toEqual({ code: "internal", message: "secret stack" })
      expect(error.toString()).toBe("[internal] secret stack")
      const encoded = Schema.encodeSync(ConnectErrorSchema)(error)
      expect(Object.keys(encoded)).not.toContain("cause")
      const copy = ConnectError.withMetadata(error, new Headers({ "x-a": "1" }))
      expect(copy.cause).toBe(error.cause)
    })

    it.effect("still yields as a typed failure", () =>
      Effect.gen(function*() {
        const error = ConnectError.make("internal", "y", { cause: new Error("y") })
        const flipped = yield* Effect.flip(Effect.fail(error))
        expect(flipped).toBe(error)
        expect((flipped.cause as Error).message).toBe("y")
      }))
  })

  describe("findDetails", () => {
    const error = ConnectError.make("invalid_argument", "bad", {
      details: [
        ConnectError.detail(StringValueSchema, { value: "a" }),
        ConnectError.detail(Int32ValueSchema, { value: 7 }),
        ConnectError.detail(DurationSchema, { seconds: 1n }),
        { type: StringValueSchema.typeName, value: new Uint8Array([0xff]) },
        ConnectError.detail(StringValueSchema, { value: "b" })
      ]
    })

    it("with a schema decodes the details of that type only", () => {
      expect(ConnectError.findDetails(error, StringValueSchema).map((d) => d.value)).toEqual(["a", "b"])
      expect(ConnectError.findDetails(error, Int32ValueSchema).map((d) => d.value)).toEqual([7])
    })

    it("with a registry decodes every detail whose type it knows, skipping unknown and undecodable ones", () => {
      const found = ConnectError.findDetails(error, createRegistry(StringValueSchema, Int32ValueSchema))
      expect(found.map((m) => m.$typeName)).toEqual([
        "google.protobuf.StringValue",
        "google.protobuf.Int32Value",
        "google.protobuf.StringValue"
      ])
      expect(found.map((m) => isMessage(m, StringValueSchema) || isMessage(m, Int32ValueSchema) ? m.value : m)).toEqual(["a", 7, "b"])
      expect(ConnectError.findDetails(error, createRegistry())).toEqual([])
    })
  })

  describe("construction", () => {
    it("rejects fields the types forbid, with a TypeError that names the field", () => {
      const bad: Array<[unknown, RegExp]> = [
        [{ code: "nope", message: "x" }, /unknown code "nope"/],
        [{ code: "internal", message: 1 }, /message must be a string/],
        [{ code: "internal", message: "x", metadata: { a: "1" } }, /metadata must be a Headers/],
        [{ code: "internal", message: "x", details: "d" }, /details must be an array/],
        [{ code: "internal", message: "x", details: [{ type: "t", value: "v" }] }, /a detail must be/],
        [null, /expected \{ code, message \}/]
      ]
      for (const [props, message] of bad) {
        expect(() => new ConnectError.ConnectError(props as never)).toThrow(message)
      }
    })

    it.effect("is a tagged, yieldable error: caught by its tag, named ConnectError", () =>
      Effect.gen(function*() {
        const error = ConnectError.make("not_found", "nope", { metadata: { "x-a": "1" } })
        expect(error._tag).toBe("ConnectError")
        expect(error.name).toBe("ConnectError")
        expect(error.metadata?.get("x-a")).toBe("1")
        const caught = yield* Effect.gen(function*() {
          return yield* error
        }).pipe(Effect.catchTag("ConnectError", (e) => Effect.succeed(e.code)))
        expect(caught).toBe("not_found")
      }))
  })

  describe("ConnectErrorSchema", () => {
    const detail = ConnectError.detail(StringValueSchema, { value: "a" })

    it("encodes to the tagged fields and decodes back to a ConnectError", () => {
      const error = ConnectError.make("permission_denied", "no", { details: [detail] })
      const encoded = Schema.encodeSync(ConnectErrorSchema)(error)
      expect(encoded).toEqual({ _tag: "ConnectError", code: "permission_denied", message: "no", details: [detail] })
      const decoded = Schema.decodeUnknownSync(ConnectErrorSchema)(encoded)
      expect(decoded).toBeInstanceOf(ConnectError.ConnectError)
      expect([decoded.code, decoded.message, decoded.details]).toEqual(["permission_denied", "no", [detail]])
      expect(Schema.is(ConnectErrorSchema)(decoded)).toBe(true)
      expect(Schema.is(ConnectErrorSchema)(new Error("no"))).toBe(false)
    })

    it("rejects an unknown code or a missing tag when decoding", () => {
      expect(() => Schema.decodeUnknownSync(ConnectErrorSchema)({ _tag: "ConnectError", code: "nope", message: "x" })).toThrow()
      expect(() => Schema.decodeUnknownSync(ConnectErrorSchema)({ code: "internal", message: "x" })).toThrow()
    })
  })
})
