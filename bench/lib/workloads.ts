/**
 * Workloads and the request bodies/headers for each protocol, plus the probe that checks an
 * implementation answers a workload correctly before it is measured.
 */
import { create, fromBinary, fromJsonString, toBinary, toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf"
import * as zlib from "node:zlib"
import {
  CountUpRequestSchema, CountUpResponseSchema, PingRequestSchema, PingResponseSchema, SumRequestSchema,
  SumResponseSchema
} from "../gen/bench/v1/ping_pb.ts"
import type { Impl } from "./servers.ts"

export type Protocol = "connect" | "grpc" | "grpc-web"
export type Transport = "h1" | "h2c"
export type Kind = "unary-small" | "unary-64k" | "server-stream" | "client-stream" | "bidi" | "error"

export const KIND_TITLE: Record<Kind, string> = {
  "unary-small": "unary small",
  "unary-64k": "unary 64 KiB",
  "server-stream": "server stream 1000 × small",
  "client-stream": "client stream 1000 × small",
  "bidi": "bidi ping-pong 1000 round trips",
  "error": "unary error path"
}

/** Messages carried per call (req/s × this = msgs/s). */
export const MSGS_PER_CALL: Record<Kind, number> = {
  "unary-small": 1, "unary-64k": 1, "server-stream": 1000, "client-stream": 1000, "bidi": 1000, "error": 1
}

export interface Comparison {
  readonly id: string
  readonly kind: Kind
  readonly protocol: Protocol
  readonly codec: "proto" | "json"
  readonly compression: "identity" | "gzip"
  readonly transport: Transport
  readonly impls: ReadonlyArray<Impl>
  /** Part of the --quick subset. */
  readonly quick: boolean
}

const STREAM_N = 1000
const SMALL_TEXT = "hello, benchmark"
/** 64 KiB of text from a fixed PRNG over a 64-letter alphabet (gzip takes it to about 75 %). */
const BIG_TEXT = (() => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  let x = 0x2545f491
  let s = ""
  for (let i = 0; i < 65536; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    s += alphabet[(x >>> 0) & 63]
  }
  return s
})()

const gzip = (b: Uint8Array): Uint8Array => new Uint8Array(zlib.gzipSync(b))

const envelope = (flags: number, data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(5 + data.length)
  out[0] = flags
  new DataView(out.buffer).setUint32(1, data.length)
  out.set(data, 5)
  return out
}

const join = (parts: ReadonlyArray<Uint8Array>): Uint8Array => Buffer.concat(parts)

export interface Request {
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: Uint8Array
}

const METHOD: Record<Kind, string> = {
  "unary-small": "Ping", "unary-64k": "Ping", "error": "Ping", "server-stream": "CountUp", "client-stream": "Sum", "bidi": "CumSum"
}

/** The request messages of one call of a workload. */
const messages = (kind: Kind): { schema: DescMessage; msgs: Array<MessageShape<DescMessage>> } => {
  switch (kind) {
    case "unary-small":
      return { schema: PingRequestSchema, msgs: [create(PingRequestSchema, { number: 42n, text: SMALL_TEXT })] }
    case "unary-64k":
      return { schema: PingRequestSchema, msgs: [create(PingRequestSchema, { number: 42n, text: BIG_TEXT })] }
    case "error":
      return { schema: PingRequestSchema, msgs: [create(PingRequestSchema, { number: -1n, text: SMALL_TEXT })] }
    case "server-stream":
      return { schema: CountUpRequestSchema, msgs: [create(CountUpRequestSchema, { number: BigInt(STREAM_N), text: SMALL_TEXT })] }
    case "client-stream":
    case "bidi":
      return {
        schema: SumRequestSchema,
        msgs: Array.from({ length: STREAM_N }, (_, i) => create(SumRequestSchema, { number: BigInt(i + 1), text: SMALL_TEXT }))
      }
  }
}

/** The HTTP request (path, headers, body) of one call of a comparison. */
export const buildRequest = (c: Comparison): Request => {
  const { schema, msgs } = messages(c.kind)
  const path = `/bench.v1.PingService/${METHOD[c.kind]}`
  const gz = c.compression === "gzip"
  const unaryKind = c.kind === "unary-small" || c.kind === "unary-64k" || c.kind === "error"
  if (c.protocol === "connect" && unaryKind) {
    const raw = c.codec === "json" ? new TextEncoder().encode(toJsonString(schema, msgs[0]!)) : toBinary(schema, msgs[0]!)
    return {
      path,
      headers: {
        "content-type": `application/${c.codec}`,
        "connect-protocol-version": "1",
        ...(gz ? { "content-encoding": "gzip", "accept-encoding": "gzip" } : { "accept-encoding": "identity" })
      },
      body: gz ? gzip(raw) : raw
    }
  }
  const frames = msgs.map((m) => {
    const raw = c.codec === "json" ? new TextEncoder().encode(toJsonString(schema, m)) : toBinary(schema, m)
    return gz ? envelope(1, gzip(raw)) : envelope(0, raw)
  })
  const body = join(frames)
  if (c.protocol === "connect") {
    return {
      path,
      headers: {
        "content-type": `application/connect+${c.codec}`,
        "connect-protocol-version": "1",
        ...(gz ? { "connect-content-encoding": "gzip", "connect-accept-encoding": "gzip" } : {})
      },
      body
    }
  }
  if (c.protocol === "grpc") {
    return {
      path,
      headers: { "content-type": "application/grpc", "te": "trailers", ...(gz ? { "grpc-encoding": "gzip", "grpc-accept-encoding": "gzip" } : {}) },
      body
    }
  }
  return {
    path,
    headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...(gz ? { "grpc-encoding": "gzip", "grpc-accept-encoding": "gzip" } : {}) },
    body
  }
}

export interface Response {
  readonly status: number
  readonly headers: Record<string, string>
  readonly trailers: Record<string, string>
  readonly body: Uint8Array
}

const splitEnvelopes = (b: Uint8Array): Array<{ flags: number; data: Uint8Array }> => {
  const out: Array<{ flags: number; data: Uint8Array }> = []
  let i = 0
  while (b.length - i >= 5) {
    const len = new DataView(b.buffer, b.byteOffset + i + 1, 4).getUint32(0)
    if (b.length - i - 5 < len) throw new Error(`truncated envelope (${b.length - i - 5} of ${len} bytes)`)
    out.push({ flags: b[i]!, data: b.subarray(i + 5, i + 5 + len) })
    i += 5 + len
  }
  if (i !== b.length) throw new Error("trailing bytes after the last envelope")
  return out
}

const text = (b: Uint8Array) => new TextDecoder().decode(b)

/**
 * Checks that a response is the correct answer to `c`'s request; returns undefined when it
 * is, or what is wrong.
 */
export const validate = (c: Comparison, res: Response): string | undefined => {
  try {
    const gz = (flags: number, data: Uint8Array, encoding: string | undefined) =>
      (flags & 1) === 1 || encoding === "gzip" ? new Uint8Array(zlib.gunzipSync(data)) : data
    const decode = <D extends DescMessage>(schema: D, data: Uint8Array): MessageShape<D> =>
      c.codec === "json" ? fromJsonString(schema, text(data)) : fromBinary(schema, data)
    const unaryKind = c.kind === "unary-small" || c.kind === "unary-64k" || c.kind === "error"
    let payloads: Array<Uint8Array>
    if (c.protocol === "connect" && unaryKind) {
      const body = gz(0, res.body, res.headers["content-encoding"])
      if (c.kind === "error") {
        if (res.status !== 400) return `expected HTTP 400, got ${res.status}`
        const j = JSON.parse(text(body)) as { code?: string }
        return j.code === "invalid_argument" ? undefined : `expected code invalid_argument, got ${j.code}`
      }
      if (res.status !== 200) return `HTTP ${res.status}: ${text(body).slice(0, 200)}`
      payloads = [body]
    } else {
      if (res.status !== 200) return `HTTP ${res.status}: ${text(res.body).slice(0, 200)}`
      const frames = splitEnvelopes(res.body)
      let status: string | undefined
      if (c.protocol === "connect") {
        const end = frames.pop()
        if (end === undefined || (end.flags & 2) === 0) return "no end-stream message"
        const j = JSON.parse(text(gz(end.flags, end.data, undefined))) as { error?: { code?: string } }
        if (j.error !== undefined) return `end-stream error ${JSON.stringify(j.error)}`
        status = "0"
      } else if (c.protocol === "grpc") {
        status = res.trailers["grpc-status"] ?? res.headers["grpc-status"]
      } else {
        const last = frames[frames.length - 1]
        if (last !== undefined && (last.flags & 0x80) !== 0) {
          frames.pop()
          status = /grpc-status:\s*(\d+)/i.exec(text(last.data))?.[1]
        } else status = res.headers["grpc-status"]
      }
      if (c.kind === "error") return status === "3" ? undefined : `expected grpc-status 3, got ${status}`
      if (status !== "0") return `grpc-status ${status} ${res.trailers["grpc-message"] ?? res.headers["grpc-message"] ?? ""}`
      payloads = frames.map((f) => gz(f.flags, f.data, c.protocol === "connect" ? undefined : res.headers["grpc-encoding"]))
    }
    switch (c.kind) {
      case "unary-small":
      case "unary-64k": {
        if (payloads.length !== 1) return `expected 1 message, got ${payloads.length}`
        const m = decode(PingResponseSchema, payloads[0]!)
        const want = c.kind === "unary-small" ? SMALL_TEXT : BIG_TEXT
        return m.number === 42n && m.text === want ? undefined : `wrong response (number ${m.number}, text ${m.text.length} chars)`
      }
      case "server-stream": {
        if (payloads.length !== STREAM_N) return `expected ${STREAM_N} messages, got ${payloads.length}`
        const last = decode(CountUpResponseSchema, payloads[STREAM_N - 1]!)
        return last.number === BigInt(STREAM_N) ? undefined : `last message number ${last.number}`
      }
      case "client-stream": {
        if (payloads.length !== 1) return `expected 1 message, got ${payloads.length}`
        const m = decode(SumResponseSchema, payloads[0]!)
        const want = BigInt((STREAM_N * (STREAM_N + 1)) / 2)
        return m.number === want ? undefined : `sum ${m.number}, expected ${want}`
      }
      default:
        return undefined
    }
  } catch (e) {
    return `bad response: ${e instanceof Error ? e.message : String(e)}`
  }
}

/** Implementations that speak a protocol over a transport. */
const speaks = (impls: ReadonlyArray<Impl>, protocol: Protocol, transport: Transport, table: Record<Impl, { h1: boolean; h2c: boolean; protocols: ReadonlyArray<Protocol> }>) =>
  impls.filter((i) => table[i].protocols.includes(protocol) && (transport === "h1" ? table[i].h1 : table[i].h2c))

export const comparisons = (
  table: Record<Impl, { h1: boolean; h2c: boolean; protocols: ReadonlyArray<Protocol> }>
): Array<Comparison> => {
  // ours-node-base (--baseline) right after ours-node: the A/B pair runs back to back in every round
  const all: Array<Impl> = ["ours-node", "ours-node-base", "ours-bun", "connect-node", "grpc-js", "connect-go", "connect-python", "raw-node", "raw-bun"]
  const noRaw = all.filter((i) => !i.startsWith("raw-"))
  const out: Array<Comparison> = []
  const add = (
    kind: Kind, protocol: Protocol, transport: Transport, quick: boolean,
    opts: { codec?: "proto" | "json"; compression?: "identity" | "gzip"; impls?: ReadonlyArray<Impl> } = {}
  ) => {
    const codec = opts.codec ?? "proto"
    const compression = opts.compression ?? "identity"
    const impls = speaks(opts.impls ?? all, protocol, transport, table)
    out.push({ id: `${kind}/${protocol}/${codec}${compression === "gzip" ? "+gzip" : ""}/${transport}`, kind, protocol, codec, compression, transport, impls, quick })
  }
  add("unary-small", "connect", "h1", true)
  add("unary-small", "connect", "h2c", true)
  add("unary-small", "connect", "h1", false, { codec: "json" })
  add("unary-small", "connect", "h2c", false, { codec: "json" })
  add("unary-small", "grpc", "h2c", true)
  add("unary-small", "grpc-web", "h1", false)
  add("unary-small", "grpc-web", "h2c", false)
  add("unary-64k", "connect", "h1", false)
  add("unary-64k", "connect", "h2c", false)
  add("unary-64k", "connect", "h1", false, { compression: "gzip", impls: noRaw })
  add("unary-64k", "grpc", "h2c", false)
  add("unary-64k", "grpc", "h2c", false, { compression: "gzip", impls: noRaw })
  add("server-stream", "connect", "h2c", true)
  add("server-stream", "connect", "h1", false)
  add("server-stream", "grpc", "h2c", false)
  add("client-stream", "connect", "h2c", false)
  add("client-stream", "connect", "h1", false)
  add("client-stream", "grpc", "h2c", false)
  add("bidi", "connect", "h2c", true)
  add("bidi", "grpc", "h2c", false)
  add("error", "connect", "h1", true)
  add("error", "connect", "h2c", false)
  add("error", "grpc", "h2c", false)
  return out
}
