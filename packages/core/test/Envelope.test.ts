import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Envelope from "../src/Envelope.ts"

const bytes = (...n: Array<number>) => new Uint8Array(n)

describe("Envelope", () => {
  it("encodes flags and a big-endian length", () => {
    expect([...Envelope.encode(2, bytes(7, 8, 9))]).toEqual([2, 0, 0, 0, 3, 7, 8, 9])
    const big = new Uint8Array(0x01020304 & 0xffff)
    const framed = Envelope.encode(0, big)
    expect([...framed.subarray(0, 5)]).toEqual([0, 0, 0, 0x03, 0x04])
  })

  it("encodeAll frames a batch into one buffer", () => {
    const out = Envelope.encodeAll([{ flags: 0, data: bytes(1) }, { flags: 1, data: bytes() }])
    expect([...out]).toEqual([0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
  })

  it.effect("decodes envelopes split across arbitrary chunks", () =>
    Effect.gen(function*() {
      const frames = [bytes(1, 2, 3), bytes(), bytes(4)]
      const wire = Envelope.encodeAll(frames.map((data, i) => ({ flags: i, data })))
      for (const size of [1, 2, 3, 5, 7, wire.byteLength]) {
        const chunks: Array<Uint8Array> = []
        for (let o = 0; o < wire.byteLength; o += size) chunks.push(wire.subarray(o, o + size))
        const out = yield* Stream.runCollect(Envelope.decode({})(Stream.fromIterable(chunks)))
        expect(out.map((e) => [e.flags, [...e.data]])).toEqual([[0, [1, 2, 3]], [1, []], [2, [4]]])
      }
    }))

  it.effect("fails a truncated stream with the given code", () =>
    Effect.gen(function*() {
      const wire = Envelope.encode(0, bytes(1, 2, 3)).subarray(0, 6)
      const error = yield* Effect.flip(Stream.runCollect(Envelope.decode({ truncatedCode: "internal" })(Stream.make(wire))))
      expect(error.code).toBe("internal")
      expect(error.message).toContain("incomplete envelope")
    }))

  it.effect("refuses a length beyond the limit before buffering the payload", () =>
    Effect.gen(function*() {
      const header = bytes(0, 0x7f, 0xff, 0xff, 0xff)
      const error = yield* Effect.flip(Stream.runCollect(Envelope.decode({ maxBytes: 1024 })(Stream.make(header))))
      expect(error.code).toBe("resource_exhausted")
    }))
})
