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
import * as ZlibCompression from "@connect-effect/core/ZlibCompression"

/**
 * `gzip` (level 1; `ZlibCompression.make(zlib, { gzipLevel })` for another), `brotli` (`br`,
 * quality 5), `zstd` (level 3, windows up to 8 MiB, frames checked before decoding), `all` of them
 * in order of preference (zstd only where the zlib has it), and `layer`, which sets core's
 * `Compressions` reference to `all` (see `ZlibCompression`).
 *
 * @category compressions
 * @since 0.1.0
 */
export const { gzip, brotli, zstd, all, layer } = ZlibCompression.make(zlib, { maxOutputLength: kMaxLength })
