import { describe, expect, it } from "@effect/vitest"
import * as zlib from "node:zlib"
import * as Effect from "effect/Effect"
import * as ZlibCompression from "../src/ZlibCompression.ts"

const text = (n: number) => new TextEncoder().encode("connect-effect ".repeat(n))

/** The bytes as a plain `Uint8Array` (zlib returns Buffers), to compare with `toEqual`. */
const bytes = (data: Uint8Array) => Uint8Array.from(data)

/** Node's zlib without its zstd functions (Node before 22.15, or a runtime without zstd). */
const withoutZstd: ZlibCompression.Zlib = {
  gzipSync: zlib.gzipSync,
  gzip: zlib.gzip,
  gunzipSync: zlib.gunzipSync,
  gunzip: zlib.gunzip,
  brotliCompressSync: zlib.brotliCompressSync,
  brotliCompress: zlib.brotliCompress,
  brotliDecompressSync: zlib.brotliDecompressSync,
  brotliDecompress: zlib.brotliDecompress,
  constants: {
    BROTLI_PARAM_QUALITY: zlib.constants.BROTLI_PARAM_QUALITY,
    BROTLI_PARAM_SIZE_HINT: zlib.constants.BROTLI_PARAM_SIZE_HINT
  }
}

describe("ZlibCompression", () => {
  const node = ZlibCompression.make(zlib)

  it("offers gzip, br and zstd with Node's zlib", () => {
    expect(node.all.map((c) => c.name)).toEqual(["gzip", "br", "zstd"])
  })

  for (const c of [node.gzip, node.brotli, node.zstd]) {
    it.effect(`${c.name}: round-trips small and large messages`, () =>
      Effect.gen(function*() {
        for (const input of [new Uint8Array(0), text(3), text(100_000)]) {
          const compressed = yield* c.compress(input)
          const output = yield* c.decompress(compressed, input.length)
          expect(bytes(output)).toEqual(input)
        }
      }))

    it.effect(`${c.name}: refuses output over the limit`, () =>
      Effect.gen(function*() {
        const compressed = yield* c.compress(text(1_000))
        const error = yield* Effect.flip(c.decompress(compressed, 100))
        expect(error.code).toBe("resource_exhausted")
      }))
  }

  it.effect("gzip deflates at level 1 unless told otherwise, on the sync and the async path", () =>
    Effect.gen(function*() {
      // 15 B × 100 stays under the synchronous limit (16 KiB), × 5000 goes through the async API
      for (const input of [text(100), text(5_000)]) {
        expect(bytes(yield* node.gzip.compress(input))).toEqual(bytes(zlib.gzipSync(input, { level: 1 })))
        const six = ZlibCompression.make(zlib, { gzipLevel: 6 })
        expect(bytes(yield* six.gzip.compress(input))).toEqual(bytes(zlib.gzipSync(input, { level: 6 })))
        expect(bytes(zlib.gzipSync(input, { level: 1 }))).not.toEqual(bytes(zlib.gzipSync(input, { level: 6 })))
        const stored = yield* ZlibCompression.make(zlib, { gzipLevel: 0 }).gzip.compress(input)
        expect(stored.length).toBeGreaterThan(input.length)
        expect(bytes(yield* node.gzip.decompress(stored, input.length))).toEqual(input)
      }
      for (const gzipLevel of [-1, 10, 1.5, Number.NaN]) {
        expect(() => ZlibCompression.make(zlib, { gzipLevel })).toThrow(RangeError)
      }
    }))

  it.effect("a limit at or above maxOutputLength is enforced after inflating", () =>
    Effect.gen(function*() {
      const small = ZlibCompression.make(zlib, { maxOutputLength: 10 })
      const input = text(3)
      const compressed = yield* small.gzip.compress(input)
      expect(bytes(yield* small.gzip.decompress(compressed, 100))).toEqual(input)
      const error = yield* Effect.flip(small.gzip.decompress(compressed, 20))
      expect(error.code).toBe("resource_exhausted")
    }))

  describe("a zlib without zstd", () => {
    const compressions = ZlibCompression.make(withoutZstd)

    it("offers only gzip and br", () => {
      expect(compressions.all.map((c) => c.name)).toEqual(["gzip", "br"])
    })

    it.effect("zstd fails with unimplemented", () =>
      Effect.gen(function*() {
        expect(compressions.zstd.name).toBe("zstd")
        const compressError = yield* Effect.flip(compressions.zstd.compress(text(3)))
        expect(compressError.code).toBe("unimplemented")
        expect(compressError.message).toContain("zstd")
        const decompressError = yield* Effect.flip(compressions.zstd.decompress(new Uint8Array(4), 100))
        expect(decompressError.code).toBe("unimplemented")
      }))

    it.effect("gzip and br still round-trip", () =>
      Effect.gen(function*() {
        for (const c of compressions.all) {
          const input = text(10)
          expect(bytes(yield* c.decompress(yield* c.compress(input), input.length))).toEqual(input)
        }
      }))
  })
})
