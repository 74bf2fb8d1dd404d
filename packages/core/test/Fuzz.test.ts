/**
 * Property-based tests of every decoder that reads bytes or strings from the network (in
 * process). Normal runs use a fixed seed and a modest sample; `npm run fuzz` runs the same
 * properties with `FUZZ_RUNS` cases each (see fuzzSupport.ts).
 *
 * The contract checked everywhere: any input either decodes, or fails with a `ConnectError`
 * carrying the code the protocol asks for — nothing else is thrown, nothing hangs — and whatever
 * an encoder produces decodes back to the same value.
 */
import { afterAll, describe, expect, it } from "vitest"
import { create, fromBinary, toBinary } from "@bufbuild/protobuf"
import { base64Encode } from "@bufbuild/protobuf/wire"
import { AnySchema, DurationSchema, FieldMaskSchema, StructSchema, TimestampSchema, ValueSchema } from "@bufbuild/protobuf/wkt"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as Code from "../src/Code.ts"
import * as Codec from "../src/Codec.ts"
import * as ConnectError from "../src/ConnectError.ts"
import * as Envelope from "../src/Envelope.ts"
import * as ProtocolConnect from "../src/ProtocolConnect.ts"
import * as ProtocolGrpc from "../src/ProtocolGrpc.ts"
import * as GrpcStatus from "../src/protocol-grpc/status.ts"
import { decodeMessage } from "../src/protocol/pipeline.ts"
import { SayRequestSchema } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"
import {
  anyHeaderValue,
  chunked,
  counted,
  headerName,
  headerValue,
  numberish,
  params,
  report,
  testTimeout,
  toHeaderValue
} from "./fuzzSupport.ts"

const startedAt = performance.now()
afterAll(() => report("packages/core/test/Fuzz.test.ts", startedAt))

/** Runs `f`; returns its value, or the ConnectError it threw (anything else thrown fails the case). */
const attempt = <A>(f: () => A): { readonly ok: A } | { readonly error: ConnectError.ConnectError } => {
  try {
    return { ok: f() }
  } catch (e) {
    if (!ConnectError.isConnectError(e)) throw new Error(`threw a non-ConnectError: ${String(e)}`, { cause: e })
    return { error: e }
  }
}

const expectCode = (r: { readonly ok: unknown } | { readonly error: ConnectError.ConnectError }, code: Code.Code) => {
  if ("ok" in r) throw new Error(`expected ${code}, decoded ${String(r.ok)}`)
  expect(r.error.code).toBe(code)
}

const entries = (h: Headers): Array<[string, string]> => Array.from(h.entries())

const frameArb = fc.record({ flags: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 48 }) })
const framesArb = fc.array(frameArb, { maxLength: 8 })
const cutsArb = fc.array(fc.nat(), { maxLength: 12 })

/** Decodes through the incremental `Parser` (chunk by chunk). */
const parseChunks = (chunks: ReadonlyArray<Uint8Array>, maxBytes = Infinity) => {
  const parser = new Envelope.Parser(maxBytes)
  const out: Array<Envelope.Envelope> = []
  for (const c of chunks) parser.push(c, out)
  return { out, pending: parser.pending }
}

/** Decodes through the `Envelope.decode` stream; the exit of collecting it. */
const decodeStream = (chunks: ReadonlyArray<Uint8Array>, maxBytes: number, truncatedCode: Code.Code) =>
  Effect.runSyncExit(
    Stream.runCollect(Envelope.decode({ maxBytes, truncatedCode })(Stream.fromIterable(chunks)))
  )

const plain = (envs: ReadonlyArray<Envelope.Envelope>) => envs.map((e) => ({ flags: e.flags, data: Array.from(e.data) }))

// -----------------------------------------------------------------------------
// envelope framing
// -----------------------------------------------------------------------------

describe("fuzz: envelope framing", () => {
  it("any chunking decodes like the whole buffer (Parser and decode stream)", () => {
    fc.assert(
      fc.property(framesArb, cutsArb, counted("envelope chunking", (frames, cuts) => {
        const whole = Envelope.encodeAll(frames)
        const expected = plain(frames)
        const once = parseChunks([whole])
        expect(plain(once.out)).toEqual(expected)
        expect(once.pending).toBe(0)
        const chunks = chunked(whole, cuts)
        expect(plain(parseChunks(chunks).out)).toEqual(expected)
        const exit = decodeStream(chunks, Infinity, "invalid_argument")
        expect(Exit.isSuccess(exit) ? plain(exit.value) : exit).toEqual(expected)
      })),
      params()
    )
  }, testTimeout)

  it("arbitrary bytes: envelopes that cover the input exactly, or the right code", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 96 }),
        cutsArb,
        fc.constantFrom(0, 3, 16, 1024, Infinity),
        fc.constantFrom<Code.Code>("invalid_argument", "internal"),
        counted("envelope arbitrary bytes", (bytes, cuts, maxBytes, truncatedCode) => {
          const exit = decodeStream(chunked(bytes, cuts), maxBytes, truncatedCode)
          // an oracle that walks the headers
          let o = 0
          let expected: Code.Code | undefined
          while (o < bytes.byteLength) {
            if (bytes.byteLength - o < 5) {
              expected = truncatedCode
              break
            }
            const len = Buffer.from(bytes.subarray(o + 1, o + 5)).readUInt32BE(0)
            if (len > maxBytes) {
              expected = "resource_exhausted"
              break
            }
            if (bytes.byteLength - o - 5 < len) {
              expected = truncatedCode
              break
            }
            o += 5 + len
          }
          if (expected === undefined) {
            if (!Exit.isSuccess(exit)) throw new Error(`failed: ${String(exit.cause)}`)
            expect(Array.from(Envelope.encodeAll(exit.value))).toEqual(Array.from(bytes))
          } else {
            if (!Exit.isFailure(exit)) throw new Error(`expected ${expected}, decoded ${exit.value.length} envelopes`)
            const error = exit.cause.reasons[0]
            expect(error !== undefined && error._tag === "Fail" && ConnectError.isConnectError(error.error)).toBe(true)
            expect((error as { error: ConnectError.ConnectError }).error.code).toBe(expected)
          }
        })
      ),
      params()
    )
  }, testTimeout)

  it("truncation inside the last envelope fails with the reader's code", () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 5 }),
        fc.nat(),
        cutsArb,
        fc.constantFrom<Code.Code>("invalid_argument", "internal"),
        counted("envelope truncation", (frames, cut, cuts, truncatedCode) => {
          const whole = Envelope.encodeAll(frames)
          const last = 5 + frames[frames.length - 1]!.data.byteLength
          // keep 1 … last-1 bytes of the last envelope
          const keep = whole.byteLength - last + 1 + (cut % (last - 1))
          const exit = decodeStream(chunked(whole.subarray(0, keep), cuts), Infinity, truncatedCode)
          if (!Exit.isFailure(exit)) throw new Error("a truncated stream decoded")
          const reason = exit.cause.reasons[0] as { error?: ConnectError.ConnectError }
          expect(reason.error?.code).toBe(truncatedCode)
          expect(reason.error?.message).toContain("incomplete envelope")
        })
      ),
      params()
    )
  }, testTimeout)

  it("a large envelope in many small chunks decodes in linear time (chunks are copied once)", () => {
    const payload = new Uint8Array(8 * 1024 * 1024).fill(1)
    const chunks = chunked(Envelope.encode(0, payload), Array.from({ length: 2048 }, (_, i) => i * 4096 + 7))
    const start = performance.now()
    const { out, pending } = parseChunks(chunks)
    // gluing every chunk to the ones before would copy ~8 GiB here
    expect(performance.now() - start).toBeLessThan(1000)
    expect(pending).toBe(0)
    expect(out.length).toBe(1)
    expect(out[0]!.data.byteLength).toBe(payload.byteLength)
  })

  it("a huge announced length is resource_exhausted from the 5 header bytes, nothing buffered", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1024 * 1024 }),
        fc.integer({ min: 1, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 255 }),
        counted("envelope huge length", (maxBytes, over, flags) => {
          const len = Math.min(0xffff_ffff, maxBytes + over)
          const header = new Uint8Array([flags, len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff])
          const parser = new Envelope.Parser(maxBytes)
          const out: Array<Envelope.Envelope> = []
          // the first 4 bytes are not a header yet
          parser.push(header.subarray(0, 4), out)
          expect(parser.pending).toBe(4)
          const r = attempt(() => parser.push(header.subarray(4), out))
          expectCode(r, "resource_exhausted")
          expect(out).toEqual([])
          // nothing was allocated for the payload: the parser holds the 5 header bytes at most
          expect(parser.pending).toBeLessThanOrEqual(5)
        })
      ),
      params()
    )
  }, testTimeout)
})

// -----------------------------------------------------------------------------
// Connect: end-stream JSON and error JSON
// -----------------------------------------------------------------------------

const detailArb = fc.record({
  type: fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_.]{0,30}$/),
  value: fc.uint8Array({ maxLength: 24 })
})
const errorArb = fc.record({
  code: fc.constantFrom(...Code.all),
  message: fc.string({ unit: "grapheme", maxLength: 30 }),
  details: fc.array(detailArb, { maxLength: 3 })
}).map(({ code, details, message }) => ConnectError.make(code, message, { details }))
const headersOf = (value: fc.Arbitrary<string>) =>
  fc.array(fc.tuple(headerName, value), { maxLength: 5 }).map((pairs) => {
    const h = new Headers()
    for (const [k, v] of pairs) h.append(k, v)
    return h
  })
const headersArb = headersOf(headerValue)
/**
 * Without empty values: `Headers` joins a repeated name as `a, b`, so two empty values become
 * `", "`, which no text header block can carry apart from `","` (values are trimmed).
 */
const nonEmptyHeadersArb = headersOf(headerValue.filter((v) => v !== ""))

/** JSON values, and objects shaped like (broken) end-stream messages and errors. */
const codeish = fc.oneof(
  fc.constantFrom(...Code.all),
  fc.constantFrom("toString", "constructor", "__proto__", "hasOwnProperty", "valueOf", "OK", "ok", "", "Internal"),
  fc.string({ maxLength: 12 }),
  fc.jsonValue({ maxDepth: 1 })
)
const errorLike = fc.record({
  code: codeish,
  message: fc.oneof(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 1 })),
  details: fc.oneof(
    fc.array(
      fc.record({
        type: fc.oneof(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })),
        value: fc.oneof(fc.base64String({ maxLength: 12 }), fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 1 })),
        debug: fc.jsonValue({ maxDepth: 1 })
      }, { requiredKeys: [] }),
      { maxLength: 3 }
    ),
    fc.jsonValue({ maxDepth: 1 })
  )
}, { requiredKeys: [] })
const metadataLike = fc.oneof(
  fc.dictionary(
    fc.oneof(headerName, fc.string({ maxLength: 8 })),
    fc.oneof(fc.array(fc.oneof(headerValue, fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 0 })), { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
    { maxKeys: 4 }
  ),
  fc.jsonValue({ maxDepth: 1 })
)
const endStreamLike = fc.oneof(
  fc.record({ error: fc.oneof(errorLike, fc.jsonValue({ maxDepth: 2 })), metadata: metadataLike }, { requiredKeys: [] }),
  fc.jsonValue({ maxDepth: 3 })
)

describe("fuzz: Connect end-stream and error JSON", () => {
  it("arbitrary bytes and JSON: trailers and an optional error, or internal", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          endStreamLike.map((v) => new TextEncoder().encode(JSON.stringify(v) ?? "")),
          fc.string({ unit: "binary", maxLength: 48 }).map((s) => new TextEncoder().encode(s))
        ),
        counted("end-stream JSON arbitrary", (bytes) => {
          const r = attempt(() => ProtocolConnect.endStreamFromJson(bytes))
          if ("error" in r) {
            expect(r.error.code).toBe("internal")
            return
          }
          expect(r.ok.trailers).toBeInstanceOf(Headers)
          if (r.ok.error !== undefined) expect(Code.isCode(r.ok.error.code)).toBe(true)
        })
      ),
      params()
    )
  }, testTimeout)

  it("end-stream messages round-trip (error, details, metadata)", () => {
    fc.assert(
      fc.property(fc.option(errorArb, { nil: undefined }), headersArb, counted("end-stream JSON round-trip", (error, trailers) => {
        const decoded = ProtocolConnect.endStreamFromJson(ProtocolConnect.endStreamToJson(error, trailers))
        expect(entries(decoded.trailers)).toEqual(entries(trailers))
        if (error === undefined) {
          expect(decoded.error).toBeUndefined()
          return
        }
        expect(decoded.error?.code).toBe(error.code)
        expect(decoded.error?.message).toBe(error.message)
        expect((decoded.error?.details ?? []).map((d) => ({ type: d.type, value: Array.from(d.value) })))
          .toEqual((error.details ?? []).map((d) => ({ type: d.type, value: Array.from(d.value) })))
      })),
      params()
    )
  }, testTimeout)

  it("error JSON: arbitrary values give undefined or an error with a valid code; never throw", () => {
    fc.assert(
      fc.property(fc.oneof(errorLike, fc.jsonValue({ maxDepth: 3 })), counted("error JSON arbitrary", (value) => {
        const r = attempt(() => ProtocolConnect.errorFromJson(value, undefined))
        if ("error" in r) throw new Error(`threw ${r.error.code}: ${r.error.message}`)
        const isObject = typeof value === "object" && value !== null && !Array.isArray(value)
        const code = isObject ? (value as Record<string, unknown>).code : undefined
        const valid = isObject && typeof code === "string" && (Code.all as ReadonlyArray<string>).includes(code)
        if (!valid) {
          expect(r.ok).toBeUndefined()
          return
        }
        expect(r.ok?.code).toBe(code)
      })),
      params()
    )
  }, testTimeout)

  it("error JSON round-trips", () => {
    fc.assert(
      fc.property(errorArb, counted("error JSON round-trip", (error) => {
        const json: unknown = JSON.parse(JSON.stringify(ProtocolConnect.errorToJson(error)))
        const back = ProtocolConnect.errorFromJson(json, undefined)
        expect(back?.code).toBe(error.code)
        expect(back?.message).toBe(error.message)
        expect((back?.details ?? []).map((d) => [d.type, Array.from(d.value)]))
          .toEqual((error.details ?? []).map((d) => [d.type, Array.from(d.value)]))
      })),
      params()
    )
  }, testTimeout)
})

// -----------------------------------------------------------------------------
// gRPC: trailers, google.rpc.Status, gRPC-Web trailer frames, -bin headers, grpc-message
// -----------------------------------------------------------------------------

const statusArb = fc.oneof(
  fc.integer({ min: 0, max: 20 }).map(String),
  numberish.map(toHeaderValue),
  anyHeaderValue
)
const statusBytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 48 }),
  fc.record({
    code: fc.integer({ min: -5, max: 40 }),
    message: fc.string({ maxLength: 12 }),
    details: fc.array(detailArb, { maxLength: 2 })
  }).map((s) => GrpcStatus.encode(s))
)
const binArb = fc.oneof(
  statusBytesArb.map((b) => ProtocolGrpc.encodeBinaryHeader(b)),
  statusBytesArb.map((b) => base64Encode(b, "std")),
  statusBytesArb.map((b) => base64Encode(b, "url")),
  anyHeaderValue
)

const tryHeaders = (pairs: ReadonlyArray<readonly [string, string | undefined]>): Headers => {
  const h = new Headers()
  for (const [k, v] of pairs) if (v !== undefined) h.append(k, v)
  return h
}

describe("fuzz: gRPC trailers and status", () => {
  it("errorFromTrailers: any grpc-status / grpc-message / grpc-status-details-bin", () => {
    fc.assert(
      fc.property(
        fc.option(statusArb, { nil: undefined }),
        fc.option(fc.oneof(anyHeaderValue, fc.string({ unit: "grapheme", maxLength: 12 }).map(ProtocolGrpc.encodeMessageHeader)), { nil: undefined }),
        fc.option(binArb, { nil: undefined }),
        counted("gRPC trailers", (status, message, bin) => {
          const trailers = tryHeaders([["grpc-status", status], ["grpc-message", message], ["grpc-status-details-bin", bin], ["x-user", "v"]])
          const r = attempt(() => ProtocolGrpc.errorFromTrailers(trailers, new Headers()))
          if ("error" in r) throw new Error(`threw ${r.error.code}`)
          const s = trailers.get("grpc-status")
          if (s === null) {
            expect(r.ok?.code).toBe("internal")
            return
          }
          const n = /^[0-9]+$/.test(s) ? Number(s) : NaN
          if (n === 0) {
            expect(r.ok).toBeUndefined()
            return
          }
          const error = r.ok!
          expect(Code.isCode(error.code)).toBe(true)
          let binOk = true
          const b = trailers.get("grpc-status-details-bin")
          if (b !== null) {
            try {
              GrpcStatus.decode(ProtocolGrpc.decodeBinaryHeader(b))
            } catch {
              binOk = false
            }
          }
          expect(error.code).toBe(binOk ? (Number.isNaN(n) ? "unknown" : Code.fromGrpcNumber(n)) : "internal")
          expect(error.metadata?.get("x-user")).toBe("v")
          expect(error.metadata?.has("grpc-status")).toBe(false)
        })
      ),
      params()
    )
  }, testTimeout)

  it("status trailers round-trip (code, message, details)", () => {
    fc.assert(
      fc.property(errorArb, counted("gRPC status round-trip", (error) => {
        const back = ProtocolGrpc.errorFromTrailers(ProtocolGrpc.statusTrailers(error, new Headers()), new Headers())
        expect(back?.code).toBe(error.code)
        expect(back?.message).toBe(error.message)
        expect((back?.details ?? []).map((d) => [d.type, Array.from(d.value)]))
          .toEqual((error.details ?? []).map((d) => [d.type, Array.from(d.value)]))
      })),
      params()
    )
  }, testTimeout)

  it("google.rpc.Status: arbitrary bytes decode or throw an Error; encodings round-trip", () => {
    fc.assert(
      fc.property(statusBytesArb, counted("google.rpc.Status arbitrary", (bytes) => {
        try {
          const s = GrpcStatus.decode(bytes)
          expect(Number.isInteger(s.code)).toBe(true)
          expect(typeof s.message).toBe("string")
          for (const d of s.details) expect(d.value).toBeInstanceOf(Uint8Array)
        } catch (e) {
          expect(e).toBeInstanceOf(Error)
        }
      })),
      params()
    )
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.string({ maxLength: 20 }),
        fc.array(detailArb, { maxLength: 3 }),
        counted("google.rpc.Status round-trip", (code, message, details) => {
          const wellFormed = new TextDecoder().decode(new TextEncoder().encode(message))
          const s = GrpcStatus.decode(GrpcStatus.encode({ code, message: wellFormed, details }))
          expect(s.code).toBe(code)
          expect(s.message).toBe(wellFormed)
          expect(s.details.map((d) => [d.type, Array.from(d.value)])).toEqual(details.map((d) => [d.type, Array.from(d.value)]))
        })
      ),
      params()
    )
  }, testTimeout)

  it("gRPC-Web trailer frames: arbitrary bytes give headers or internal; frames round-trip", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.array(fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom(":", ": ", "", "::"), anyHeaderValue, fc.constantFrom("\r\n", "\n", "\r", "")), { maxLength: 4 })
            .map((lines) => new TextEncoder().encode(lines.map((l) => l.join("")).join("")))
        ),
        counted("gRPC-Web trailer frame arbitrary", (bytes) => {
          const r = attempt(() => ProtocolGrpc.trailersFromWebFrame(bytes))
          if ("error" in r) expect(r.error.code).toBe("internal")
          else expect(r.ok).toBeInstanceOf(Headers)
        })
      ),
      params()
    )
    fc.assert(
      fc.property(nonEmptyHeadersArb, counted("gRPC-Web trailer frame round-trip", (headers) => {
        expect(entries(ProtocolGrpc.trailersFromWebFrame(ProtocolGrpc.trailersToWebFrame(headers)))).toEqual(entries(headers))
      })),
      params()
    )
  }, testTimeout)

  it("-bin headers: any bytes round-trip (padded or not); any string decodes or throws an Error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), counted("-bin round-trip", (bytes) => {
        expect(Array.from(ProtocolGrpc.decodeBinaryHeader(ProtocolGrpc.encodeBinaryHeader(bytes)))).toEqual(Array.from(bytes))
        expect(Array.from(ProtocolGrpc.decodeBinaryHeader(base64Encode(bytes, "std")))).toEqual(Array.from(bytes))
        expect(Array.from(ProtocolGrpc.decodeBinaryHeader(base64Encode(bytes, "url")))).toEqual(Array.from(bytes))
      })),
      params()
    )
    fc.assert(
      fc.property(fc.oneof(anyHeaderValue, fc.base64String({ maxLength: 40 })), counted("-bin arbitrary", (value) => {
        try {
          expect(ProtocolGrpc.decodeBinaryHeader(value)).toBeInstanceOf(Uint8Array)
        } catch (e) {
          expect(e).toBeInstanceOf(Error)
        }
      })),
      params()
    )
  }, testTimeout)

  it("grpc-message: any header value decodes without throwing; any string round-trips", () => {
    fc.assert(
      fc.property(fc.oneof(anyHeaderValue, fc.stringMatching(/^(%[0-9a-fA-F]{0,2}|[a-z ])*$/)), counted("grpc-message arbitrary", (value) => {
        expect(typeof ProtocolGrpc.decodeMessageHeader(value)).toBe("string")
      })),
      params()
    )
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 30 }), counted("grpc-message round-trip", (message) => {
        // through Headers, which trims values: leading and trailing spaces must survive
        const h = new Headers({ "grpc-message": ProtocolGrpc.encodeMessageHeader(message) })
        expect(ProtocolGrpc.decodeMessageHeader(h.get("grpc-message")!)).toBe(message)
      })),
      params()
    )
    // the encoded form, byte by byte: printable ASCII except `%` and edge spaces as it is, the rest %XX
    const reference = (message: string): string => {
      const bytes = new TextEncoder().encode(message)
      return Array.from(bytes, (b, i) =>
        b >= 0x20 && b <= 0x7e && b !== 0x25 && !(b === 0x20 && (i === 0 || i === bytes.length - 1))
          ? String.fromCharCode(b)
          : `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("")
    }
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: "grapheme", maxLength: 30 }), fc.stringMatching(/^[ -~]{0,30}$/), fc.stringMatching(/^[ %a\t\x7f]{0,8}$/)),
        counted("grpc-message encoding", (message) => {
          expect(ProtocolGrpc.encodeMessageHeader(message)).toBe(reference(message))
        })
      ),
      params()
    )
  }, testTimeout)
})

// -----------------------------------------------------------------------------
// timeouts and content types
// -----------------------------------------------------------------------------

describe("fuzz: timeouts and content types", () => {
  it("connect-timeout-ms: 1-10 ASCII digits give that many ms, anything else invalid_argument", () => {
    fc.assert(
      fc.property(numberish, counted("connect-timeout-ms", (value) => {
        const r = attempt(() => ProtocolConnect.parseTimeout(value))
        const valid = value.length >= 1 && value.length <= 10 && Array.from(value).every((c) => c >= "0" && c <= "9")
        if (!valid) return expectCode(r, "invalid_argument")
        if (!("ok" in r)) throw new Error(`rejected ${JSON.stringify(value)}`)
        expect(r.ok).toBe(Number(value))
        expect(Number.isSafeInteger(r.ok)).toBe(true)
        expect(r.ok).toBeLessThanOrEqual(9_999_999_999)
      })),
      params()
    )
  }, testTimeout)

  it("grpc-timeout: 1-8 ASCII digits and a unit give ms in range, anything else invalid_argument", () => {
    const units: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }
    fc.assert(
      fc.property(numberish, counted("grpc-timeout", (value) => {
        const r = attempt(() => ProtocolGrpc.parseTimeout(value))
        const digits = value.slice(0, -1)
        const unit = units[value.slice(-1)]
        const valid = Object.hasOwn(units, value.slice(-1)) && digits.length >= 1 && digits.length <= 8 &&
          Array.from(digits).every((c) => c >= "0" && c <= "9")
        if (!valid) return expectCode(r, "invalid_argument")
        if (!("ok" in r)) throw new Error(`rejected ${JSON.stringify(value)}`)
        expect(r.ok).toBeCloseTo(Number(digits) * unit!, 9)
        expect(r.ok).toBeGreaterThanOrEqual(0)
        expect(r.ok).toBeLessThanOrEqual(99_999_999 * 3_600_000)
      })),
      params()
    )
  }, testTimeout)

  it("absent timeouts are undefined", () => {
    expect(ProtocolConnect.parseTimeout(null)).toBeUndefined()
    expect(ProtocolGrpc.parseTimeout(null)).toBeUndefined()
  })

  it("content types: any string parses or is undefined, never throws", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyHeaderValue,
          fc.tuple(
            fc.constantFrom("application/", "Application/", "application/connect+", "application/grpc", "application/grpc-web", ""),
            fc.constantFrom("proto", "json", "+proto", "+json", "", "+xml", "PROTO"),
            fc.constantFrom("", ";", "; charset=utf-8", ";charset=\"utf-8\"", "; charset=latin1", " ;x=y")
          ).map((p) => p.join(""))
        ),
        counted("content types", (value) => {
          const c = ProtocolConnect.parseContentType(value)
          if (c !== undefined) expect(["proto", "json"]).toContain(c.codec)
          const g = ProtocolGrpc.parseContentType(value)
          if (g !== undefined) expect(["proto", "json"]).toContain(g.codec)
        })
      ),
      params()
    )
  }, testTimeout)
})

// -----------------------------------------------------------------------------
// messages (JSON and binary), as servers decode them
// -----------------------------------------------------------------------------

const schemas = [SayRequestSchema, StructSchema, ValueSchema, TimestampSchema, DurationSchema, FieldMaskSchema, AnySchema] as const

const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"),
  fc.record({ sentence: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.constantFrom(
    "\"1970-01-01T00:00:00Z\"",
    "\"9999-12-31T23:59:59.999999999Z\"",
    "\"10000-01-01T00:00:00Z\"",
    "\"-315576000001s\"",
    "\"1.5s\"",
    "\"a.b,c\"",
    "{\"@type\":\"type.googleapis.com/google.protobuf.Duration\",\"value\":\"1s\"}",
    "{\"@type\":\"\"}",
    "{\"sentence\":\"\\ud800\"}",
    "{\"__proto__\":{\"x\":1}}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
  ),
  fc.string({ unit: "binary", maxLength: 40 })
).map((s) => new TextEncoder().encode(s))

describe("fuzz: messages", () => {
  it("JSON: arbitrary JSON and bytes decode or fail with invalid_argument", () => {
    fc.assert(
      fc.property(fc.constantFrom(...schemas), fc.oneof(jsonish, fc.uint8Array({ maxLength: 32 })), counted("JSON messages", (schema, bytes) => {
        const r = attempt(() => decodeMessage(Codec.jsonDefault, schema, bytes, "invalid_argument"))
        if ("error" in r) expect(r.error.code).toBe("invalid_argument")
      })),
      params()
    )
  }, testTimeout)

  it("binary: arbitrary bytes decode or fail with invalid_argument; messages round-trip", () => {
    fc.assert(
      fc.property(fc.constantFrom(...schemas), fc.uint8Array({ maxLength: 48 }), counted("binary messages", (schema, bytes) => {
        const r = attempt(() => decodeMessage(Codec.proto, schema, bytes, "invalid_argument"))
        if ("error" in r) expect(r.error.code).toBe("invalid_argument")
      })),
      params()
    )
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), counted("message round-trip", (sentence) => {
        const wellFormed = new TextDecoder().decode(new TextEncoder().encode(sentence))
        const m = create(SayRequestSchema, { sentence: wellFormed })
        expect(fromBinary(SayRequestSchema, toBinary(SayRequestSchema, m)).sentence).toBe(wellFormed)
        const json = Codec.jsonDefault
        expect((json.decode(SayRequestSchema, json.encode(SayRequestSchema, m)) as { sentence: string }).sentence).toBe(wellFormed)
      })),
      params()
    )
  }, testTimeout)
})
