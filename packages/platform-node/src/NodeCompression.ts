/**
 * `gzip`, `br` and `zstd` compression for Connect messages through `node:zlib` (core's
 * `ZlibCompression` on Node's zlib). Decompression never inflates past the caller's limit, so a
 * compression bomb costs at most `maxBytes` of work and memory. zstd needs Node 22.15 or later;
 * before that it is left out of `all` and fails with `unimplemented`.
 *
 * @since 0.1.0
 */
import * as zlib from "node:zlib"
import { kMaxLength } from "node:buffer"
import type * as Layer from "effect/Layer"
import type { Compression } from "@connect-effect/core/Compression"
import * as ZlibCompression from "@connect-effect/core/ZlibCompression"

const compressions = ZlibCompression.make(zlib, { maxOutputLength: kMaxLength })

/** `gzip` (zlib level 6). */
export const gzip: Compression = compressions.gzip

/** `br` (brotli quality 5, a good speed/ratio trade-off for RPC payloads). */
export const brotli: Compression = compressions.brotli

/**
 * `zstd` (level 3). Node's zstd decoder returns what it decoded so far, without an error, when
 * the input ends inside a frame: the frame structure is checked first, so a truncated message is
 * `invalid_argument` rather than silently shorter. Frames may ask for a window of at most 8 MiB
 * (as for zstd in HTTP, RFC 9659); a larger one would make the decoder reserve up to 128 MiB and
 * is refused with `resource_exhausted`.
 */
export const zstd: Compression = compressions.zstd

/** Every compression offered, in order of preference: `gzip`, `br`, `zstd`. */
export const all: ReadonlyArray<Compression> = compressions.all

/** Sets the `Compressions` reference of core to {@link all}. */
export const layer: Layer.Layer<never> = compressions.layer
