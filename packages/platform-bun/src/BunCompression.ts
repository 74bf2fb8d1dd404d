/**
 * gzip, br and zstd for Bun, from Bun's built-in zlib (the `node:zlib` module Bun implements
 * natively) through core's `ZlibCompression`. Decompression stops at the read limit, so a
 * compression bomb is refused without being inflated. zstd is offered only when Bun's zlib has it.
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

/** `br` (brotli quality 5). */
export const brotli: Compression = compressions.brotli

/** `zstd` (level 3, windows up to 8 MiB); fails with `unimplemented` when Bun's zlib has no zstd. */
export const zstd: Compression = compressions.zstd

/** Every compression offered, in order of preference: `gzip`, `br`, then `zstd` when available. */
export const all: ReadonlyArray<Compression> = compressions.all

/** Sets the `Compressions` reference of core to {@link all}. */
export const layer: Layer.Layer<never> = compressions.layer
