/**
 * `gzip`, `br` and `zstd` compression for Connect messages through `node:zlib`.
 * Decompression never inflates past the caller's limit (zlib's `maxOutputLength`), so a
 * compression bomb costs at most `maxBytes` of work and memory.
 *
 * @since 0.1.0
 */
import * as zlib from "node:zlib"
import { kMaxLength } from "node:buffer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Compression } from "@connect-effect/core/Compression"
import { Compressions } from "@connect-effect/core/Compression"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as Zstd from "./internal/zstd.ts"

type SyncFn = (data: Uint8Array, options: zlib.ZlibOptions & zlib.BrotliOptions) => Buffer
type AsyncFn = (
  data: Uint8Array,
  options: zlib.ZlibOptions & zlib.BrotliOptions,
  callback: (error: Error | null, result: Buffer) => void
) => void

/** Inputs up to this size are handled with zlib's synchronous API (it is faster for small buffers). */
const SYNC_INPUT_LIMIT = 16 * 1024
/** Synchronous decompression inflates at most this much before handing over to the async API. */
const SYNC_OUTPUT_LIMIT = 256 * 1024

const isTooLarge = (e: unknown): boolean =>
  e instanceof RangeError && (e as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE"

/** zstd: the frame asks for a window larger than the decoder allows. */
const isWindowTooLarge = (e: unknown): boolean =>
  e instanceof Error && (e as { code?: unknown }).code === "ZSTD_error_frameParameter_windowTooLarge"

const tooLarge = (maxBytes: number): ConnectError.ConnectError =>
  ConnectError.make("resource_exhausted", `message is larger than configured max ${maxBytes} bytes`)

const corrupt = (name: string, e: unknown): ConnectError.ConnectError =>
  ConnectError.make("invalid_argument", `failed to decompress ${name}: ${e instanceof Error ? e.message : String(e)}`)

const compressFailed = (name: string, e: unknown): ConnectError.ConnectError =>
  ConnectError.make("internal", `failed to compress ${name}: ${e instanceof Error ? e.message : String(e)}`)

const make = (
  name: string,
  compressSync: SyncFn,
  compressAsync: AsyncFn,
  decompressSync: SyncFn,
  decompressAsync: AsyncFn,
  compressOptions: (data: Uint8Array) => zlib.ZlibOptions & zlib.BrotliOptions,
  /** Checks the input before inflating it: why it is malformed, or `undefined` when it is not. */
  check?: (data: Uint8Array) => string | undefined,
  /** Decoder parameters (zstd: the window limit). */
  decompressParams?: Record<number, number>
): Compression => {
  const dopts = (maxOutputLength: number | undefined): zlib.ZlibOptions & zlib.BrotliOptions => ({
    ...(maxOutputLength === undefined ? {} : { maxOutputLength }),
    ...(decompressParams === undefined ? {} : { params: decompressParams })
  })
  const failure = (e: unknown, maxBytes: number) =>
    isTooLarge(e)
      ? tooLarge(maxBytes)
      : isWindowTooLarge(e)
      ? ConnectError.make("resource_exhausted", `failed to decompress ${name}: window larger than 8 MiB`)
      : corrupt(name, e)
  const inflateAsync = (data: Uint8Array, maxBytes: number, limit: number | undefined) =>
    Effect.callback<Uint8Array, ConnectError.ConnectError>((resume) => {
      decompressAsync(data, dopts(limit), (error, result) => {
        if (error !== null) resume(Effect.fail(failure(error, maxBytes)))
        else if (result.length > maxBytes) resume(Effect.fail(tooLarge(maxBytes)))
        else resume(Effect.succeed(result))
      })
    })

  return {
    name,
    compress: (data) =>
      data.length <= SYNC_INPUT_LIMIT
        ? Effect.try({ try: () => compressSync(data, compressOptions(data)), catch: (e) => compressFailed(name, e) })
        : Effect.callback<Uint8Array, ConnectError.ConnectError>((resume) => {
          compressAsync(data, compressOptions(data), (error, result) => {
            resume(error !== null ? Effect.fail(compressFailed(name, error)) : Effect.succeed(result))
          })
        }),
    decompress: (data, maxBytes) => {
      const malformed = check?.(data)
      if (malformed !== undefined) return Effect.fail(corrupt(name, malformed))
      // maxOutputLength must be in [1, kMaxLength]; the final length check covers maxBytes 0
      const limit = maxBytes >= kMaxLength || !Number.isFinite(maxBytes) ? undefined : Math.max(1, Math.floor(maxBytes))
      if (data.length <= SYNC_INPUT_LIMIT) {
        const syncLimit = limit === undefined ? SYNC_OUTPUT_LIMIT : Math.min(limit, SYNC_OUTPUT_LIMIT)
        try {
          const result = decompressSync(data, dopts(syncLimit))
          return result.length > maxBytes ? Effect.fail(tooLarge(maxBytes)) : Effect.succeed(result)
        } catch (e) {
          if (!isTooLarge(e)) return Effect.fail(failure(e, maxBytes))
          if (syncLimit === limit) return Effect.fail(tooLarge(maxBytes))
          // larger than the synchronous budget but maybe within the limit: go async
        }
      }
      return inflateAsync(data, maxBytes, limit)
    }
  }
}

/** `gzip` (zlib level 6). */
export const gzip: Compression = make(
  "gzip",
  zlib.gzipSync,
  zlib.gzip as unknown as AsyncFn,
  zlib.gunzipSync,
  zlib.gunzip as unknown as AsyncFn,
  () => ({})
)

/** `br` (brotli quality 5, a good speed/ratio trade-off for RPC payloads). */
export const brotli: Compression = make(
  "br",
  zlib.brotliCompressSync,
  zlib.brotliCompress as unknown as AsyncFn,
  zlib.brotliDecompressSync,
  zlib.brotliDecompress as unknown as AsyncFn,
  (data) => ({
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 5,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length
    }
  })
)

/**
 * `zstd` (level 3). Node's zstd decoder returns what it decoded so far, without an error, when
 * the input ends inside a frame: the frame structure is checked first, so a truncated message is
 * `invalid_argument` rather than silently shorter. Frames may ask for a window of at most 8 MiB
 * (as for zstd in HTTP, RFC 9659); a larger one would make the decoder reserve up to 128 MiB and
 * is refused with `resource_exhausted`.
 */
export const zstd: Compression = make(
  "zstd",
  zlib.zstdCompressSync as unknown as SyncFn,
  zlib.zstdCompress as unknown as AsyncFn,
  zlib.zstdDecompressSync as unknown as SyncFn,
  zlib.zstdDecompress as unknown as AsyncFn,
  () => ({}),
  Zstd.checkFrames,
  { [zlib.constants.ZSTD_d_windowLogMax]: 23 }
)

/** Every compression offered, in order of preference: `gzip`, `br`, `zstd`. */
export const all: ReadonlyArray<Compression> = [gzip, brotli, zstd]

/** Sets the `Compressions` reference of core to {@link all}. */
export const layer: Layer.Layer<never> = Layer.succeed(Compressions, all)
