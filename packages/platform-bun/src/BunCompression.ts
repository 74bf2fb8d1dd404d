/**
 * gzip, br and zstd for Bun, from Bun's built-in zlib (the `node:zlib` module Bun implements
 * natively). Decompression stops at the read limit, so a compression bomb is refused without
 * being inflated.
 *
 * @since 0.1.0
 */
export { all, brotli, gzip, layer, zstd } from "@connect-effect/platform-node/NodeCompression"
