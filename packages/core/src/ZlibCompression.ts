/**
 * `gzip`, `br` and `zstd` compression for Connect messages from any module shaped like
 * `node:zlib` (Node, Bun and Deno implement it), so each platform only hands over its zlib.
 * Decompression never inflates past the caller's limit (zlib's `maxOutputLength`), so a
 * compression bomb costs at most `maxBytes` of work and memory.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Compression from "./Compression.ts"
import * as ConnectError from "./ConnectError.ts"
import * as Zstd from "./internal/zstd.ts"

/**
 * The options this module passes to zlib: an output limit and algorithm parameters.
 *
 * @category models
 * @since 0.1.0
 */
export interface ZlibOptions {
  readonly level?: number
  readonly maxOutputLength?: number
  readonly chunkSize?: number
  readonly params?: Record<number, number>
}

/**
 * A synchronous whole-buffer zlib function (`gzipSync`, `brotliDecompressSync`, ...).
 *
 * @category models
 * @since 0.1.0
 */
export type SyncFunction = (data: Uint8Array, options: ZlibOptions) => Uint8Array

/**
 * A callback-style whole-buffer zlib function (`gzip`, `brotliDecompress`, ...).
 *
 * @category models
 * @since 0.1.0
 */
export type AsyncFunction = (
  data: Uint8Array,
  options: ZlibOptions,
  callback: (error: Error | null, result: Uint8Array) => void
) => void

/**
 * The part of `node:zlib` used here. The zstd functions are optional: Node before 22.15 and
 * some runtimes lack them, and zstd is then not offered.
 *
 * @category models
 * @since 0.1.0
 */
export interface Zlib {
  readonly gzipSync: SyncFunction
  readonly gzip: AsyncFunction
  readonly gunzipSync: SyncFunction
  readonly gunzip: AsyncFunction
  readonly brotliCompressSync: SyncFunction
  readonly brotliCompress: AsyncFunction
  readonly brotliDecompressSync: SyncFunction
  readonly brotliDecompress: AsyncFunction
  readonly zstdCompressSync?: SyncFunction | undefined
  readonly zstdCompress?: AsyncFunction | undefined
  readonly zstdDecompressSync?: SyncFunction | undefined
  readonly zstdDecompress?: AsyncFunction | undefined
  readonly constants: {
    readonly BROTLI_PARAM_QUALITY: number
    readonly BROTLI_PARAM_SIZE_HINT: number
    readonly ZSTD_d_windowLogMax?: number | undefined
  }
}

/**
 * Options of {@link make}.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options {
  /**
   * The largest `maxOutputLength` the runtime's zlib accepts (Node's `buffer.kMaxLength`).
   * Limits at or above it are enforced after inflating instead. Defaults to 2^31 - 1, which
   * every runtime accepts.
   */
  readonly maxOutputLength?: number | undefined
  /**
   * gzip's compression level, 1 (fastest) to 9 (smallest); 0 stores without compressing.
   * Defaults to 1: on RPC payloads it deflates 3.5–4× faster than zlib's default 6 for output a
   * few percent larger (measured on Node 22: a 68 KiB JSON list 257 µs → 8.2 KiB vs 905 µs → 7.5 KiB;
   * 18 KiB of protobuf-like records 137 µs vs 525 µs, 4.6 KiB either way). Decompression does not
   * depend on it.
   */
  readonly gzipLevel?: number | undefined
}

/**
 * The compressions built on one zlib module.
 *
 * @category models
 * @since 0.1.0
 */
export interface Compressions {
  /** `gzip` (level {@link Options.gzipLevel}, 1 by default). */
  readonly gzip: Compression.Compression
  /** `br` (brotli quality 5, a good speed/ratio trade-off for RPC payloads). */
  readonly brotli: Compression.Compression
  /**
   * `zstd` (level 3), with frames checked before decoding and windows limited to 8 MiB; fails
   * with `unimplemented` when the zlib module has no zstd.
   */
  readonly zstd: Compression.Compression
  /** Every compression offered, in order of preference: `gzip`, `br`, then `zstd` when available. */
  readonly all: ReadonlyArray<Compression.Compression>
  /** Sets the `Compressions` reference of core to {@link Compressions.all}. */
  readonly layer: Layer.Layer<never>
}

/** The default of {@link Options.maxOutputLength}: the smallest `buffer.kMaxLength` of any Node build. */
const DEFAULT_MAX_OUTPUT_LENGTH = 2 ** 31 - 1
/** The default of {@link Options.gzipLevel}. */
const DEFAULT_GZIP_LEVEL = 1
/** Inputs up to this size are handled with zlib's synchronous API (it is faster for small buffers). */
const SYNC_INPUT_LIMIT = 16 * 1024
/** Synchronous decompression inflates at most this much before handing over to the async API. */
const SYNC_OUTPUT_LIMIT = 256 * 1024
/**
 * Output chunk size of the asynchronous API: zlib's default of 16 KiB makes a 64 KiB message four
 * or more round trips between the thread pool and the event loop, each with its own buffer;
 * sized from the input it is one or two (measured on 64 KiB: gzip 5-9 % and gunzip 20-25 % less
 * CPU). Between 16 KiB and 1 MiB.
 */
const asyncChunkSize = (n: number, limit?: number): number =>
  Math.max(16 * 1024, Math.min(Math.ceil(n), limit ?? Infinity, 1024 * 1024))
/** zstd frames may ask for a window of at most 2^23 bytes (8 MiB, as for zstd in HTTP, RFC 9659). */
const ZSTD_WINDOW_LOG_MAX = 23

/** zlib stopped at `maxOutputLength`: Node, Bun and Deno say `ERR_BUFFER_TOO_LARGE`, workerd (no code) "Memory limit exceeded". */
const isTooLarge = (e: unknown): boolean =>
  e instanceof RangeError &&
  ((e as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE" || e.message === "Memory limit exceeded")

/** zstd: the frame asks for a window larger than the decoder allows. */
const isWindowTooLarge = (e: unknown): boolean =>
  e instanceof Error && (e as { code?: unknown }).code === "ZSTD_error_frameParameter_windowTooLarge"

const tooLarge = (maxBytes: number): ConnectError.ConnectError =>
  ConnectError.make("resource_exhausted", `message is larger than configured max ${maxBytes} bytes`)

const corrupt = (name: string, e: unknown): ConnectError.ConnectError =>
  ConnectError.make("invalid_argument", `failed to decompress ${name}: ${e instanceof Error ? e.message : String(e)}`)

const compressFailed = (name: string, e: unknown): ConnectError.ConnectError =>
  ConnectError.make("internal", `failed to compress ${name}: ${e instanceof Error ? e.message : String(e)}`)

const fromFunctions = (
  name: string,
  maxOutputLength: number,
  compressSync: SyncFunction,
  compressAsync: AsyncFunction,
  decompressSync: SyncFunction,
  decompressAsync: AsyncFunction,
  compressOptions: (data: Uint8Array) => ZlibOptions,
  /** Checks the input before inflating it: why it is malformed, or `undefined` when it is not. */
  check?: (data: Uint8Array) => string | undefined,
  /** Decoder parameters (zstd: the window limit). */
  decompressParams?: Record<number, number>
): Compression.Compression => {
  const dopts = (limit: number | undefined): ZlibOptions => ({
    ...(limit === undefined ? {} : { maxOutputLength: limit }),
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
      // most messages inflate to a few times their compressed size
      decompressAsync(data, { ...dopts(limit), chunkSize: asyncChunkSize(4 * data.length, limit) }, (error, result) => {
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
          // deflate's output is at most a little larger than its input
          compressAsync(data, { ...compressOptions(data), chunkSize: asyncChunkSize(data.length + 1024) }, (error, result) => {
            resume(error !== null ? Effect.fail(compressFailed(name, error)) : Effect.succeed(result))
          })
        }),
    decompress: (data, maxBytes) => {
      const malformed = check?.(data)
      if (malformed !== undefined) return Effect.fail(corrupt(name, malformed))
      // maxOutputLength must be in [1, kMaxLength]; the final length check covers maxBytes 0
      const limit = maxBytes >= maxOutputLength || !Number.isFinite(maxBytes)
        ? undefined
        : Math.max(1, Math.floor(maxBytes))
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

/** A `zstd` that refuses every call: the zlib module has no zstd. */
const zstdUnavailable: Compression.Compression = (() => {
  const unavailable = Effect.fail(
    ConnectError.make("unimplemented", "zstd is not supported by this runtime's zlib")
  )
  return { name: "zstd", compress: () => unavailable, decompress: () => unavailable }
})()

/**
 * Builds `gzip`, `br` and `zstd` on `zlib`, a module shaped like `node:zlib`. When it has no
 * zstd, `zstd` fails with `unimplemented` and is left out of `all` (so it is never offered).
 *
 * zstd: Node's decoder returns what it decoded so far, without an error, when the input ends
 * inside a frame, so the frame structure is checked first and a truncated message is
 * `invalid_argument` rather than silently shorter. Frames may ask for a window of at most 8 MiB;
 * a larger one would make the decoder reserve up to 128 MiB and is refused with
 * `resource_exhausted`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (zlib: Zlib, options?: Options): Compressions => {
  const maxOutputLength = options?.maxOutputLength ?? DEFAULT_MAX_OUTPUT_LENGTH
  const gzipLevel = options?.gzipLevel ?? DEFAULT_GZIP_LEVEL
  if (!Number.isInteger(gzipLevel) || gzipLevel < 0 || gzipLevel > 9) {
    throw new RangeError(`gzipLevel must be an integer from 0 to 9, got ${gzipLevel}`)
  }
  const gzipOptions: ZlibOptions = { level: gzipLevel }
  const gzip = fromFunctions(
    "gzip",
    maxOutputLength,
    zlib.gzipSync,
    zlib.gzip,
    zlib.gunzipSync,
    zlib.gunzip,
    () => gzipOptions
  )
  const brotli = fromFunctions(
    "br",
    maxOutputLength,
    zlib.brotliCompressSync,
    zlib.brotliCompress,
    zlib.brotliDecompressSync,
    zlib.brotliDecompress,
    (data) => ({
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 5,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length
      }
    })
  )
  const { zstdCompress, zstdCompressSync, zstdDecompress, zstdDecompressSync } = zlib
  const windowLogMax = zlib.constants.ZSTD_d_windowLogMax
  const zstd = zstdCompressSync !== undefined && zstdCompress !== undefined &&
      zstdDecompressSync !== undefined && zstdDecompress !== undefined && windowLogMax !== undefined
    ? fromFunctions(
      "zstd",
      maxOutputLength,
      zstdCompressSync,
      zstdCompress,
      zstdDecompressSync,
      zstdDecompress,
      () => ({}),
      Zstd.checkFrames,
      { [windowLogMax]: ZSTD_WINDOW_LOG_MAX }
    )
    : undefined
  const all = zstd === undefined ? [gzip, brotli] : [gzip, brotli, zstd]
  return {
    gzip,
    brotli,
    zstd: zstd ?? zstdUnavailable,
    all,
    layer: Layer.succeed(Compression.Compressions, all)
  }
}
