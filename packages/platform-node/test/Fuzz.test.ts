/**
 * Property-based tests against a real server (HTTP/1.1 and h2c on one port): arbitrary GET query
 * strings, arbitrary JSON message bodies, arbitrary enveloped bodies, arbitrary timeout headers,
 * and arbitrary compressed payloads. Every answer must be a well-formed Connect or gRPC answer —
 * success, or an error with the code the input calls for — within a bound: never a 500, a reset
 * or a hang. Normal runs use a fixed seed and a modest sample; `npm run fuzz` runs many more (see
 * packages/core/test/fuzzSupport.ts).
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import * as zlib from "node:zlib"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { create, fromBinary, fromJsonString, toBinary } from "@bufbuild/protobuf"
import { base64Encode } from "@bufbuild/protobuf/wire"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as Code from "@connect-effect/core/Code"
import type * as ConnectError from "@connect-effect/core/ConnectError"
import * as Envelope from "@connect-effect/core/Envelope"
import * as Router from "@connect-effect/core/Router"
import * as NodeCompression from "@connect-effect/platform-node/NodeCompression"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import {
  ElizaService,
  IntroduceResponseSchema,
  SayRequestSchema,
  SayResponseSchema
} from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"
import { chunked, counted, countedAsync, numberish, params, report, socketRuns, testTimeout } from "../../core/test/fuzzSupport.ts"

const startedAt = performance.now()
const READ_MAX = 4096
/** A request with no answer within this fails the case as a hang. */
const HANG_MS = 5000

const defects: Array<Cause.Cause<unknown>> = []
const router = Router.service(Router.empty, ElizaService, {
  say: (r) => Effect.succeed({ sentence: `echo: ${r.sentence}` }),
  introduce: (r) => Stream.make({ sentence: `hello ${r.name}` }, { sentence: `bye ${r.name}` }),
  converse: (rs) => Stream.map(rs, (r) => ({ sentence: `echo ${r.sentence}` })),
  reflect: (rs) => Effect.map(Stream.runCollect(rs), (all) => ({ summary: all.map((r) => r.sentence).join("|") }))
})

let scope: Scope.Closeable
let info: NodeServer.Info
let agent: http.Agent
let session: http2.ClientHttp2Session | undefined

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const ctx = await Effect.runPromise(
    Layer.buildWithScope(
      NodeServer.layerRouter(router, { port: 0, readMaxBytes: READ_MAX, onDefect: (cause) => defects.push(cause) }),
      scope
    )
  )
  info = Context.get(ctx, NodeServer.NodeServer)
  agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
})

afterAll(async () => {
  report("packages/platform-node/test/Fuzz.test.ts", startedAt)
  session?.close()
  agent.destroy()
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

afterEach(() => {
  expect(defects).toEqual([])
})

// -----------------------------------------------------------------------------
// raw clients
// -----------------------------------------------------------------------------

interface Reply {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: Buffer
  readonly trailers: Record<string, string>
}

const flat = (h: Record<string, unknown>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !k.startsWith(":")) out[k] = Array.isArray(v) ? v.join(", ") : String(v)
  return out
}

const send1 = (method: string, path: string, headers: Record<string, string>, body?: Uint8Array) =>
  new Promise<Reply>((resolve, reject) => {
    const h = body === undefined ? headers : { ...headers, "content-length": String(body.byteLength) }
    const req = http.request({ host: info.host, port: info.port, method, path, headers: h, agent }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("error", reject)
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: flat(res.headers), body: Buffer.concat(chunks), trailers: flat(res.trailers) }))
    })
    req.on("error", reject)
    req.setTimeout(HANG_MS, () => req.destroy(new Error(`HTTP/1.1 ${method} ${path}: no answer within ${HANG_MS} ms`)))
    req.end(body)
  })

const h2 = () => {
  if (session === undefined || session.closed || session.destroyed) {
    session = http2.connect(info.url)
    session.on("error", () => {})
  }
  return session
}

const send2 = (method: string, path: string, headers: Record<string, string>, body?: Uint8Array) =>
  new Promise<Reply>((resolve, reject) => {
    const stream = h2().request({ ":method": method, ":path": path, ...headers }, { endStream: body === undefined })
    let status = 0
    let h: Record<string, string> = {}
    let trailers: Record<string, string> = {}
    const chunks: Array<Buffer> = []
    stream.on("response", (r) => {
      status = Number(r[":status"])
      h = flat(r)
    })
    stream.on("trailers", (t) => (trailers = flat(t)))
    stream.on("data", (c: Buffer) => chunks.push(c))
    stream.on("end", () => resolve({ status, headers: h, body: Buffer.concat(chunks), trailers }))
    stream.on("error", reject)
    stream.on("close", () => reject(new Error(`HTTP/2 ${path}: reset (${stream.rstCode}) without a complete answer`)))
    stream.setTimeout(HANG_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL))
    if (body !== undefined) stream.end(body)
  })

const send = (version: "1.1" | "2", method: string, path: string, headers: Record<string, string>, body?: Uint8Array) =>
  version === "1.1" ? send1(method, path, headers, body) : send2(method, path, headers, body)

const versionArb = fc.constantFrom<"1.1" | "2">("1.1", "2")

// -----------------------------------------------------------------------------
// answers
// -----------------------------------------------------------------------------

const SAY = "/connectrpc.eliza.v1.ElizaService/Say"
const INTRODUCE = "/connectrpc.eliza.v1.ElizaService/Introduce"
const REFLECT = "/connectrpc.eliza.v1.ElizaService/Reflect"

/** A unary Connect answer: 200 with a message of the codec, or an error JSON whose code fits the status. */
const unaryAnswer = (r: Reply): Code.Code | "ok" => {
  if (r.status === 200) {
    const ct = r.headers["content-type"]
    if (ct === "application/proto") fromBinary(SayResponseSchema, r.body)
    else if (ct === "application/json") fromJsonString(SayResponseSchema, r.body.toString())
    else throw new Error(`200 with content-type ${ct}`)
    return "ok"
  }
  expect(r.headers["content-type"]).toBe("application/json")
  const error = JSON.parse(r.body.toString()) as { code: string }
  if (!Code.isCode(error.code)) throw new Error(`not a Connect error: ${r.body.toString()}`)
  expect(r.status).toBe(Code.toHttpStatus(error.code))
  return error.code
}

/** A streaming Connect answer: 200, envelopes, an end-stream message last; its error code or "ok". */
const streamAnswer = (r: Reply): Code.Code | "ok" => {
  expect(r.status).toBe(200)
  const parser = new Envelope.Parser()
  const envs: Array<Envelope.Envelope> = []
  parser.push(r.body, envs)
  expect(parser.pending).toBe(0)
  const last = envs[envs.length - 1]
  if (last === undefined || last.flags !== Envelope.FLAG_END_STREAM) throw new Error("no end-stream message")
  for (const e of envs.slice(0, -1)) {
    expect(e.flags).toBe(0)
    fromBinary(IntroduceResponseSchema, e.data)
  }
  const end = JSON.parse(Buffer.from(last.data).toString()) as { error?: { code: string } }
  if (end.error === undefined) return "ok"
  if (!Code.isCode(end.error.code)) throw new Error(`not a Connect error: ${JSON.stringify(end)}`)
  return end.error.code
}

const grpcCodes = [undefined, ...Code.all] as const

/**
 * A gRPC answer: 200, `grpc-status` in trailers (or trailers-only headers); gRPC-Web: in the
 * trailer frame that ends the body (or trailers-only headers).
 */
const grpcAnswer = (r: Reply): Code.Code | "ok" => {
  expect(r.status).toBe(200)
  let status = r.trailers["grpc-status"] ?? r.headers["grpc-status"]
  if (status === undefined && r.headers["content-type"]?.startsWith("application/grpc-web") === true) {
    const envs: Array<Envelope.Envelope> = []
    const parser = new Envelope.Parser()
    parser.push(r.body, envs)
    expect(parser.pending).toBe(0)
    const last = envs[envs.length - 1]
    if (last === undefined || last.flags !== Envelope.FLAG_TRAILERS) throw new Error("gRPC-Web: no trailer frame")
    status = /^grpc-status: ?([0-9]+)\r$/m.exec(Buffer.from(last.data).toString())?.[1]
  }
  if (status === undefined || !/^[0-9]+$/.test(status) || Number(status) > 16) throw new Error(`bad grpc-status ${status}`)
  return grpcCodes[Number(status)] ?? "ok"
}

const expectOneOf = (got: string, allowed: ReadonlyArray<string>, what: unknown) => {
  if (!allowed.includes(got)) throw new Error(`answer ${got} not in [${allowed.join(", ")}] for ${JSON.stringify(what)}`)
}

// -----------------------------------------------------------------------------
// GET query strings
// -----------------------------------------------------------------------------

/** Percent-encodes bytes; unreserved characters are sent as they are, unless their byte is odd. */
const pct = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) =>
    /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) && b % 2 === 0
      ? String.fromCharCode(b)
      : `%${b.toString(16).padStart(2, "0")}`).join("")

const validMessage = toBinary(SayRequestSchema, create(SayRequestSchema, { sentence: "fuzz" }))
const valueArb = fc.oneof(
  fc.constantFrom("v1", "v2", "", "proto", "json", "1", "0", "true", "gzip", "br", "zstd", "identity", "%", "%zz", "%00", "+", "%2"),
  fc.constant(base64Encode(validMessage, "url")),
  fc.constant(encodeURIComponent(JSON.stringify({ sentence: "fuzz" }))),
  fc.constant(base64Encode(zlib.gzipSync(validMessage), "url")),
  fc.uint8Array({ maxLength: 24 }).map((b) => base64Encode(b, "url")),
  fc.uint8Array({ maxLength: 24 }).map(pct),
  fc.uint8Array({ minLength: READ_MAX - 8, maxLength: READ_MAX + 64 }).map((b) => base64Encode(b, "url"))
)
const keyArb = fc.oneof(
  fc.constantFrom("connect", "encoding", "message", "base64", "compression"),
  fc.constantFrom("connect", "encoding", "message", "base64", "compression"),
  fc.uint8Array({ maxLength: 6 }).map(pct)
)
const queryArb = fc.tuple(
  fc.array(fc.tuple(keyArb, valueArb, fc.constantFrom("=", "", "==")), { maxLength: 7 }),
  fc.constantFrom("&", "&", ";", "&&")
).map(([pairs, sep]) => pairs.map(([k, v, eq]) => `${k}${eq}${v}`).join(sep))
  // within the header limit (16 KiB): longer ones are refused before they reach the router
  .filter((q) => q.length < 12 * 1024)

describe("fuzz over sockets: Connect GET", () => {
  it("arbitrary query strings: success or invalid_argument / unimplemented / resource_exhausted", async () => {
    await fc.assert(
      fc.asyncProperty(versionArb, queryArb, countedAsync("GET query strings", async (version, query) => {
        const r = await send(version, "GET", `${SAY}?${query}`, {})
        expectOneOf(unaryAnswer(r), ["ok", "invalid_argument", "unimplemented", "resource_exhausted"], query)
      })),
      params(socketRuns)
    )
  }, testTimeout)
})

// -----------------------------------------------------------------------------
// JSON messages, enveloped bodies, timeouts
// -----------------------------------------------------------------------------

const jsonBodyArb = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"),
  fc.record({ sentence: fc.jsonValue({ maxDepth: 1 }), name: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("{\"sentence\":\"ok\"}", "{}", "", "{\"sentence\":\"\\ud800\"}", "{\"sentence\":1}", "{\"unknownField\":1}")
).map((s) => new TextEncoder().encode(s))

describe("fuzz over sockets: JSON messages", () => {
  it("unary: arbitrary JSON → success or invalid_argument", async () => {
    await fc.assert(
      fc.asyncProperty(versionArb, jsonBodyArb, countedAsync("JSON unary", async (version, body) => {
        const r = await send(version, "POST", SAY, { "content-type": "application/json" }, body)
        expectOneOf(unaryAnswer(r), ["ok", "invalid_argument"], Buffer.from(body).toString())
      })),
      params(socketRuns)
    )
  }, testTimeout)

  it("streaming: arbitrary JSON in an envelope → success or invalid_argument", async () => {
    await fc.assert(
      fc.asyncProperty(versionArb, jsonBodyArb, countedAsync("JSON stream", async (version, body) => {
        const r = await send(version, "POST", INTRODUCE, { "content-type": "application/connect+json" }, Envelope.encode(0, body))
        // the answer's messages are JSON here
        expect(r.status).toBe(200)
        const envs: Array<Envelope.Envelope> = []
        new Envelope.Parser().push(r.body, envs)
        const end = JSON.parse(Buffer.from(envs[envs.length - 1]!.data).toString()) as { error?: { code: string } }
        expectOneOf(end.error?.code ?? "ok", ["ok", "invalid_argument"], Buffer.from(body).toString())
      })),
      params(socketRuns)
    )
  }, testTimeout)
})

const compressions: Record<string, (b: Uint8Array) => Uint8Array> = {
  gzip: (b) => zlib.gzipSync(b),
  br: (b) => zlib.brotliCompressSync(b),
  zstd: (b) => zlib.zstdCompressSync(b)
}

/** Enveloped bodies: valid frames, arbitrary flags, truncation, arbitrary bytes, compressed or not. */
const envelopedArb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.array(
    fc.record({
      flags: fc.constantFrom(0, 0, 0, 1, 2, 0x80, 0xff),
      data: fc.oneof(fc.constant(validMessage), fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ minLength: READ_MAX + 1, maxLength: READ_MAX + 8 }))
    }),
    { maxLength: 3 }
  ).chain((frames) =>
    fc.nat().map((cut) => {
      const whole = Envelope.encodeAll(frames)
      return cut % 3 === 0 ? whole.subarray(0, cut % (whole.byteLength + 1)) : whole
    })
  )
)

describe("fuzz over sockets: enveloped bodies", () => {
  it("Connect streaming and gRPC: arbitrary bodies → a well-formed answer with a fitting code", async () => {
    await fc.assert(
      fc.asyncProperty(
        versionArb,
        fc.constantFrom("connect", "grpc"),
        fc.constantFrom(INTRODUCE, REFLECT),
        fc.option(fc.constantFrom("gzip", "br", "zstd"), { nil: undefined }),
        envelopedArb,
        countedAsync("enveloped bodies", async (version, protocol, path, encoding, body) => {
          const headers: Record<string, string> = protocol === "connect"
            ? { "content-type": "application/connect+proto", ...(encoding ? { "connect-content-encoding": encoding } : {}) }
            : { "content-type": "application/grpc", te: "trailers", ...(encoding ? { "grpc-encoding": encoding } : {}) }
          if (protocol === "grpc" && version === "1.1") headers["content-type"] = "application/grpc-web"
          const r = await send(version, "POST", path, headers, body)
          const code = protocol === "connect" ? streamAnswer(r) : grpcAnswer(r)
          // internal: a compressed flag without an encoding (the protocols say so)
          expectOneOf(code, ["ok", "invalid_argument", "resource_exhausted", "unimplemented", "internal"], { path, encoding, body: Array.from(body) })
          if (code === "internal") {
            const compressedWithoutEncoding = encoding === undefined
            expect(compressedWithoutEncoding).toBe(true)
          }
        })
      ),
      params(socketRuns)
    )
  }, testTimeout)

  it("compressed payloads: arbitrary or truncated compressed bytes → success or invalid_argument / resource_exhausted", async () => {
    await fc.assert(
      fc.asyncProperty(
        versionArb,
        fc.constantFrom("gzip", "br", "zstd"),
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.tuple(fc.constantFrom(...Object.keys(compressions)), fc.nat(), fc.boolean()).map(([name, cut, truncate]) => {
            const whole = compressions[name]!(validMessage)
            return truncate ? whole.subarray(0, cut % whole.byteLength) : whole
          })
        ),
        countedAsync("compressed payloads", async (version, encoding, payload) => {
          const r = await send(version, "POST", SAY, { "content-type": "application/proto", "content-encoding": encoding }, payload)
          const code = unaryAnswer(r)
          expectOneOf(code, ["ok", "invalid_argument", "resource_exhausted"], { encoding, payload: Array.from(payload) })
        })
      ),
      params(socketRuns)
    )
  }, testTimeout)
})

describe("fuzz over sockets: timeout headers", () => {
  it("connect-timeout-ms and grpc-timeout: arbitrary values → success or invalid_argument", async () => {
    await fc.assert(
      fc.asyncProperty(
        versionArb,
        fc.constantFrom("connect", "grpc"),
        numberish.filter((s) => /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(s)),
        countedAsync("timeout headers", async (version, protocol, value) => {
          const body = protocol === "connect" ? validMessage : Envelope.encode(0, validMessage)
          const headers: Record<string, string> = protocol === "connect"
            ? { "content-type": "application/proto", "connect-timeout-ms": value }
            : { "content-type": version === "2" ? "application/grpc" : "application/grpc-web", te: "trailers", "grpc-timeout": value }
          const r = await send(version, "POST", SAY, headers, body)
          const code = protocol === "connect" ? unaryAnswer(r) : grpcAnswer(r)
          // a valid timeout of 0 ms may expire before the handler answers
          expectOneOf(code, ["ok", "invalid_argument", "deadline_exceeded"], value)
          if (code === "deadline_exceeded") expect(Number(value.replace(/[HMSmun]$/, ""))).toBeLessThanOrEqual(1)
        })
      ),
      params(socketRuns)
    )
  }, testTimeout)
})

/** Runs an effect that must settle synchronously (small inputs do): its value or its ConnectError. */
const settle = <A>(effect: Effect.Effect<A, ConnectError.ConnectError>): { ok: A } | { error: ConnectError.ConnectError } => {
  const exit = Effect.runSyncExit(effect)
  if (Exit.isSuccess(exit)) return { ok: exit.value }
  const reason = exit.cause.reasons[0]
  if (reason !== undefined && reason._tag === "Fail") return { error: reason.error }
  throw new Error(`did not settle synchronously with a ConnectError: ${String(exit.cause)}`)
}

describe("fuzz: decompression in process", () => {
  it("arbitrary bytes: a message, invalid_argument or resource_exhausted; truncations never decode", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...NodeCompression.all),
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 2 }),
        counted("decompress arbitrary", (c, bytes, cuts) => {
          const r = settle(c.decompress(bytes, 1024))
          if ("error" in r) expectOneOf(r.error.code, ["invalid_argument", "resource_exhausted"], Array.from(bytes))
          // a valid stream cut short is never taken for a shorter message
          const whole = compressions[c.name]!(bytes)
          for (const part of chunked(whole, cuts).slice(0, 1)) {
            if (part.byteLength === whole.byteLength || part.byteLength === 0) continue
            const cut = settle(c.decompress(part, 1024))
            if (!("error" in cut)) throw new Error(`${c.name}: truncated input decoded`)
            expect(cut.error.code).toBe("invalid_argument")
          }
        })
      ),
      params()
    )
  }, testTimeout)
})
