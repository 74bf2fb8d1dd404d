/**
 * Envelope framing shared by the Connect streaming, gRPC and gRPC-Web protocols:
 * one flags byte, a 4-byte big-endian length, then the payload.
 *
 * @since 0.1.0
 */
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import * as ConnectError from "./ConnectError.ts"
import type { Code } from "./Code.ts"

/**
 * Flag bit: the payload is compressed with the negotiated encoding.
 *
 * @category constants
 * @since 0.1.0
 */
export const FLAG_COMPRESSED = 0b0000_0001
/**
 * Flag bit (Connect): this is the end-of-stream message.
 *
 * @category constants
 * @since 0.1.0
 */
export const FLAG_END_STREAM = 0b0000_0010
/**
 * Flag bit (gRPC-Web): this is the trailers frame.
 *
 * @category constants
 * @since 0.1.0
 */
export const FLAG_TRAILERS = 0b1000_0000

/**
 * One frame: flags and payload.
 *
 * @category models
 * @since 0.1.0
 */
export interface Envelope {
  readonly flags: number
  readonly data: Uint8Array
}

/**
 * Writes the 5-byte header of an envelope (flags, then the payload length as big-endian uint32)
 * into `out` at `offset`.
 *
 * @category encoding
 * @since 0.1.0
 */
export const writeHeader = (out: Uint8Array, offset: number, flags: number, length: number): void => {
  out[offset] = flags
  out[offset + 1] = length >>> 24
  out[offset + 2] = (length >>> 16) & 0xff
  out[offset + 3] = (length >>> 8) & 0xff
  out[offset + 4] = length & 0xff
}

/**
 * Frames one payload.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encode = (flags: number, data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(5 + data.byteLength)
  writeHeader(out, 0, flags, data.byteLength)
  out.set(data, 5)
  return out
}

/**
 * Frames several payloads into one buffer (one write for a batch of messages).
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeAll = (frames: ReadonlyArray<Envelope>): Uint8Array => {
  let size = 0
  for (const f of frames) size += 5 + f.data.byteLength
  const out = new Uint8Array(size)
  let o = 0
  for (const f of frames) {
    writeHeader(out, o, f.flags, f.data.byteLength)
    out.set(f.data, o + 5)
    o += 5 + f.data.byteLength
  }
  return out
}

/**
 * An incremental envelope parser: feed it chunks of any size, collect whole envelopes.
 * Throws a `ConnectError` (`resource_exhausted`) as soon as a header announces a payload
 * larger than `maxBytes`, before buffering it.
 *
 * Chunks are queued as they come and copied once, when the envelope they make up is complete:
 * a large message arriving in many small chunks costs linear time and memory (gluing each chunk
 * to the previous ones would be quadratic). An envelope that lies within one chunk is not copied.
 *
 * @category decoding
 * @since 0.1.0
 */
export class Parser {
  private readonly maxBytes: number
  private chunks: Array<Uint8Array> = []
  /** Bytes of `chunks[0]` already consumed. */
  private offset = 0
  private queued = 0
  constructor(maxBytes: number = Infinity) {
    this.maxBytes = maxBytes
  }
  /** Bytes held that do not yet form a whole envelope. */
  get pending(): number {
    return this.queued
  }
  /** Adds a chunk and pushes every envelope completed by it onto `out`. */
  push(chunk: Uint8Array, out: Array<Envelope>): void {
    const size = chunk.byteLength
    if (size === 0) return
    // a plain view: slicing a subclass (Node's Buffer) runs its constructor for every slice
    this.chunks.push(chunk.constructor === Uint8Array ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, size))
    this.queued += size
    while (this.queued >= 5) {
      const first = this.chunks[0]!
      const at = this.offset
      const len = first.byteLength - at >= 5
        ? ((first[at + 1]! << 24) >>> 0) + (first[at + 2]! << 16) + (first[at + 3]! << 8) + first[at + 4]!
        : ((this.byteAt(1) << 24) >>> 0) + (this.byteAt(2) << 16) + (this.byteAt(3) << 8) + this.byteAt(4)
      if (len > this.maxBytes) {
        throw ConnectError.make(
          "resource_exhausted",
          `message size ${len} is larger than configured max ${this.maxBytes}`
        )
      }
      if (this.queued - 5 < len) return
      const n = 5 + len
      if (first.byteLength - at >= n) {
        // within the first chunk: nothing copied
        this.queued -= n
        if (first.byteLength - at === n) {
          this.chunks.shift()
          this.offset = 0
        } else this.offset = at + n
        this.complete(first, at, n, out)
      } else {
        // spread over several chunks: copied once into a buffer of its own
        this.complete(this.take(n), 0, n, out)
      }
    }
  }
  /**
   * Takes a complete envelope of `n` bytes: flags at `bytes[at]`, payload `bytes[at + 5, at + n)`
   * (`bytes` is an incoming chunk, or the copy of an envelope that spanned several). Pushes it
   * onto `out` as a view of the payload; a subclass may take it otherwise (decode it in place).
   */
  protected complete(bytes: Uint8Array, at: number, n: number, out: Array<Envelope>): void {
    out.push({ flags: bytes[at]!, data: bytes.subarray(at + 5, at + n) })
  }
  /** The byte at `i` of the queued bytes (i < queued). */
  private byteAt(i: number): number {
    i += this.offset
    for (const c of this.chunks) {
      if (i < c.byteLength) return c[i]!
      i -= c.byteLength
    }
    return 0
  }
  /** Removes the first `n` queued bytes (n ≤ queued), spread over several chunks: one copy. */
  private take(n: number): Uint8Array {
    this.queued -= n
    const out = new Uint8Array(n)
    let o = 0
    while (o < n) {
      const c = this.chunks[0]!
      const at = this.offset
      const k = Math.min(c.byteLength - at, n - o)
      out.set(c.subarray(at, at + k), o)
      o += k
      if (at + k === c.byteLength) {
        this.chunks.shift()
        this.offset = 0
      } else this.offset = at + k
    }
    return out
  }
}

/**
 * Decodes a byte stream into envelopes, with a limit on each payload's size. A stream that
 * ends inside an envelope fails with `truncatedCode` (the side reading decides: a server
 * answers `invalid_argument`, a client `internal`).
 *
 * @category decoding
 * @since 0.1.0
 */
export const decode = (options: { readonly maxBytes?: number | undefined; readonly truncatedCode?: Code | undefined }) =>
<E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Envelope, E | ConnectError.ConnectError, R> =>
  Stream.transformPull(bytes, (upstream) =>
    Effect.sync(() => {
      const parser = new Parser(options.maxBytes ?? Infinity)
      const onDone = (): Effect.Effect<never, ConnectError.ConnectError | Cause.Done> =>
        parser.pending > 0
          ? Effect.fail(
            ConnectError.make(
              options.truncatedCode ?? "invalid_argument",
              `protocol error: incomplete envelope: stream ended with ${parser.pending} unread bytes`
            )
          )
          : Cause.done()
      const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<Envelope>, E | ConnectError.ConnectError> = Effect.flatMap(
        Pull.catchDone(upstream, onDone),
        (chunks) => {
          const out: Array<Envelope> = []
          try {
            for (const c of chunks) parser.push(c, out)
          } catch (e) {
            return Effect.fail(ConnectError.from(e, "internal"))
          }
          return out.length > 0 ? Effect.succeed(out as unknown as Arr.NonEmptyReadonlyArray<Envelope>) : pull
        }
      )
      return pull
    })
  )
