/**
 * The least protobuf and envelope code the raw echo servers need: varint fields 1 (int64
 * number) and 2 (string text) of the bench messages, and 5-byte envelopes. No library.
 */

/** Reads field 1 (`number`, int64 varint) of a bench message; 0n when absent. */
export const readNumber = (b: Uint8Array): bigint => {
  let i = 0
  let n = 0n
  while (i < b.length) {
    const tag = b[i++]!
    const wire = tag & 7
    if (wire === 0) {
      let v = 0n
      let shift = 0n
      for (;;) {
        const x = b[i++]!
        v |= BigInt(x & 0x7f) << shift
        shift += 7n
        if ((x & 0x80) === 0) break
      }
      if (tag >> 3 === 1) n = BigInt.asIntN(64, v)
    } else if (wire === 2) {
      let len = 0
      let shift = 0
      for (;;) {
        const x = b[i++]!
        len |= (x & 0x7f) << shift
        shift += 7
        if ((x & 0x80) === 0) break
      }
      i += len
    } else {
      break
    }
  }
  return n
}

/** Reads field 2 (`text`) as raw bytes. */
export const readText = (b: Uint8Array): Uint8Array => {
  let i = 0
  while (i < b.length) {
    const tag = b[i++]!
    const wire = tag & 7
    if (wire === 0) {
      while (b[i++]! & 0x80) { /* skip */ }
    } else if (wire === 2) {
      let len = 0
      let shift = 0
      for (;;) {
        const x = b[i++]!
        len |= (x & 0x7f) << shift
        shift += 7
        if ((x & 0x80) === 0) break
      }
      if (tag >> 3 === 2) return b.subarray(i, i + len)
      i += len
    } else {
      break
    }
  }
  return new Uint8Array(0)
}

const varint = (out: Array<number>, v: bigint): void => {
  let x = BigInt.asUintN(64, v)
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80)
    x >>= 7n
  }
  out.push(Number(x))
}

/** Encodes a bench message `{ number, text }`. */
export const writeMessage = (number: bigint, text: Uint8Array): Uint8Array<ArrayBuffer> => {
  const head: Array<number> = []
  if (number !== 0n) {
    head.push(0x08)
    varint(head, number)
  }
  if (text.length > 0) {
    head.push(0x12)
    varint(head, BigInt(text.length))
  }
  const out = new Uint8Array(head.length + text.length)
  out.set(head, 0)
  out.set(text, head.length)
  return out
}

/** Wraps a message in a 5-byte envelope with `flags`. */
export const envelope = (flags: number, data: Uint8Array): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(5 + data.length)
  out[0] = flags
  new DataView(out.buffer).setUint32(1, data.length)
  out.set(data, 5)
  return out
}

/** Splits complete envelopes off the front of `buf`; returns them and the unconsumed rest. */
export const splitEnvelopes = (buf: Uint8Array): { readonly messages: Array<{ flags: number; data: Uint8Array }>; readonly rest: Uint8Array } => {
  const messages: Array<{ flags: number; data: Uint8Array }> = []
  let i = 0
  while (buf.length - i >= 5) {
    const len = ((buf[i + 1]! << 24) >>> 0) + (buf[i + 2]! << 16) + (buf[i + 3]! << 8) + buf[i + 4]!
    if (buf.length - i - 5 < len) break
    messages.push({ flags: buf[i]!, data: buf.subarray(i + 5, i + 5 + len) })
    i += 5 + len
  }
  return { messages, rest: buf.subarray(i) }
}

export const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

const encoder = new TextEncoder()
/** The JSON end-of-stream message of the Connect protocol, as an envelope (flags 0x02). */
export const connectEndStream = envelope(2, encoder.encode("{}"))
/** The gRPC-Web trailer frame `grpc-status: 0`. */
export const grpcWebOkTrailer = envelope(0x80, encoder.encode("grpc-status: 0\r\ngrpc-message: \r\n"))
export const connectErrorBody = encoder.encode(JSON.stringify({ code: "invalid_argument", message: "number must not be negative" }))
