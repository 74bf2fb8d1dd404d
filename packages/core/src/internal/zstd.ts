/**
 * Structural check of zstd input. The zstd decoder of `node:zlib` (`zstdDecompress*`) returns the
 * output decoded so far, without an error, when its input ends inside a frame; a truncated
 * message would then pass for a shorter one. Walking the frame and block headers (no
 * decompression, O(blocks)) tells whether the input is made of whole frames.
 *
 * Format: RFC 8878 §3.1.
 *
 * @internal
 */

const ZSTD_MAGIC = 0xfd2fb528
const SKIPPABLE_MASK = 0xfffffff0
const SKIPPABLE_MAGIC = 0x184d2a50
const DICT_ID_SIZES = [0, 1, 2, 4] as const
const FCS_SIZES = [0, 2, 4, 8] as const

const u32le = (d: Uint8Array, o: number): number => (d[o]! | (d[o + 1]! << 8) | (d[o + 2]! << 16) | (d[o + 3]! << 24)) >>> 0

/**
 * `undefined` when `data` is a sequence of complete zstd frames (or skippable frames); otherwise
 * why not ("truncated", or "not a zstd frame" for a bad magic number or reserved block type).
 * Empty input has no frames and passes (it decodes to an empty message).
 */
export const checkFrames = (data: Uint8Array): string | undefined => {
  const n = data.byteLength
  let o = 0
  while (o < n) {
    if (n - o < 4) return "truncated"
    const magic = u32le(data, o)
    o += 4
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (n - o < 4) return "truncated"
      const size = u32le(data, o)
      o += 4
      if (n - o < size) return "truncated"
      o += size
      continue
    }
    if (magic !== ZSTD_MAGIC) return "not a zstd frame"
    if (n - o < 1) return "truncated"
    const fhd = data[o]!
    const fcsFlag = fhd >>> 6
    const singleSegment = (fhd >>> 5) & 1
    const checksum = (fhd >>> 2) & 1
    const header = 1 + (singleSegment === 1 ? 0 : 1) + DICT_ID_SIZES[fhd & 3]! +
      (fcsFlag === 0 ? singleSegment : FCS_SIZES[fcsFlag]!)
    if (n - o < header) return "truncated"
    o += header
    for (;;) {
      if (n - o < 3) return "truncated"
      const bh = data[o]! | (data[o + 1]! << 8) | (data[o + 2]! << 16)
      o += 3
      const last = bh & 1
      const type = (bh >>> 1) & 3
      if (type === 3) return "not a zstd frame"
      const size = type === 1 ? 1 : bh >>> 3
      if (n - o < size) return "truncated"
      o += size
      if (last === 1) break
    }
    if (checksum === 1) {
      if (n - o < 4) return "truncated"
      o += 4
    }
  }
  return undefined
}
