/**
 * gzip, br and zstd for Bun, from Bun's built-in zlib (the `node:zlib` module Bun implements
 * natively) through core's `ZlibCompression`. Decompression stops at the read limit, so a
 * compression bomb is refused without being inflated. zstd is offered only when Bun's zlib has it.
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
