import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Compression from "@connect-effect/core/Compression"
import * as NodeCompression from "../src/NodeCompression.ts"

const text = (n: number) => new TextEncoder().encode("connect-effect ".repeat(n))


/** Deterministic noise (xorshift32): incompressible, and not a valid stream of any algorithm. */
const noise = (n: number): Uint8Array => {
  const out = new Uint8Array(n)
  let x = 0x9e3779b9
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

describe("NodeCompression", () => {
  for (const c of NodeCompression.all) {
    it.live(`${c.name}: round-trips small and large messages`, () =>
      Effect.gen(function*() {
        for (const input of [new Uint8Array(0), text(3), text(100_000), crypto.getRandomValues(new Uint8Array(60_000))]) {
          const compressed = yield* c.compress(input)
          const output = yield* c.decompress(compressed, input.length)
          expect(Buffer.from(output).equals(Buffer.from(input))).toBe(true)
        }
      }))

    it.live(`${c.name}: refuses a bomb without inflating it`, () =>
      Effect.gen(function*() {
        const zeros = new Uint8Array(100 * 1024 * 1024)
        const bomb = yield* c.compress(zeros)
        const start = performance.now()
        const error = yield* Effect.flip(c.decompress(bomb, 1024 * 1024))
        expect(error.code).toBe("resource_exhausted")
        expect(error.message).toContain("1048576")
        expect(performance.now() - start).toBeLessThan(1000)
      }), 30_000)

    it.live(`${c.name}: limit is exact, small inputs past the sync budget still work`, () =>
      Effect.gen(function*() {
        const input = new Uint8Array(1024 * 1024).fill(7) // compresses to a few KiB
        const compressed = yield* c.compress(input)
        expect((yield* c.decompress(compressed, input.length)).length).toBe(input.length)
        expect((yield* c.decompress(compressed, Infinity)).length).toBe(input.length)
        expect((yield* Effect.flip(c.decompress(compressed, input.length - 1))).code).toBe("resource_exhausted")
        const one = yield* c.compress(new Uint8Array([1]))
        expect((yield* Effect.flip(c.decompress(one, 0))).code).toBe("resource_exhausted")
      }))

    it.live(`${c.name}: corrupt input is invalid_argument`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(c.decompress(new TextEncoder().encode("definitely not compressed"), 1024))
        expect(error.code).toBe("invalid_argument")
        // fixed pseudo-random bytes: truly random input is occasionally a valid stream (a brotli
        // stream whose first bits say "last meta-block, empty" decodes to nothing)
        const big = noise(40_000)
        expect((yield* Effect.flip(c.decompress(big, 1024 * 1024))).code).toBe("invalid_argument")
      }))
  }

  it.effect("layer provides the Compressions reference", () =>
    Effect.gen(function*() {
      const names = (yield* Compression.Compressions).map((c) => c.name)
      expect(names).toEqual(["gzip", "br", "zstd"])
    }).pipe(Effect.provide(NodeCompression.layer)))
})
