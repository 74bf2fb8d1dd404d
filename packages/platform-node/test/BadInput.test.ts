/**
 * Bad input over real sockets: raw HTTP/1.1 (`node:http`) and raw h2c (`node:http2`) requests
 * against one connect-effect Node server, asserting the exact Connect protocol answer for
 * each kind of malformed request, and that the server keeps serving good calls afterwards and
 * concurrently.
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import * as net from "node:net"
import * as zlib from "node:zlib"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { create, fromBinary, toBinary } from "@bufbuild/protobuf"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Envelope from "@connect-effect/core/Envelope"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import type { ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import {
  ConverseRequestSchema,
  ConverseResponseSchema,
  ElizaService,
  IntroduceRequestSchema,
  IntroduceResponseSchema,
  ReflectRequestSchema,
  ReflectResponseSchema,
  SayRequestSchema,
  SayResponseSchema
} from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

// -----------------------------------------------------------------------------
// server
// -----------------------------------------------------------------------------

const READ_MAX = 1024
/** Per raw request: a hang fails the test instead of timing it out silently. */
const REQUEST_TIMEOUT_MS = 5000

const defects: Array<Cause.Cause<unknown>> = []
let converseFinalized = 0
let reflectFinalized = 0

const handlers: ElizaServiceHandlers = {
  say: (request) => Effect.succeed({ sentence: `echo: ${request.sentence}` }),
  introduce: (request) => Stream.make({ sentence: `hello ${request.name}` }, { sentence: `bye ${request.name}` }),
  converse: (requests) =>
    requests.pipe(
      Stream.map((r) => ({ sentence: `echo ${r.sentence}` })),
      Stream.ensuring(Effect.sync(() => converseFinalized++))
    ),
  reflect: (requests) =>
    Effect.map(Stream.runCollect(requests), (all) => ({ summary: all.map((r) => r.sentence).join("|") })).pipe(
      Effect.ensuring(Effect.sync(() => reflectFinalized++))
    )
}

const router = Router.service(Router.empty, ElizaService, handlers)

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
  agent = new http.Agent({ keepAlive: true })
})

afterAll(async () => {
  session?.close()
  agent.destroy()
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

afterEach(() => {
  expect(defects).toEqual([])
})

// -----------------------------------------------------------------------------
// raw HTTP clients
// -----------------------------------------------------------------------------

type Version = "1.1" | "2"

interface RawRequest {
  readonly method?: string
  readonly path: string
  readonly headers?: Record<string, string>
  /** One buffer (HTTP/1.1: sent with content-length) or chunks (HTTP/1.1: chunked). */
  readonly body?: Uint8Array | ReadonlyArray<Uint8Array>
}

interface RawResponse {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: Buffer
  readonly trailers: Record<string, string>
}

const normalize = (headers: Record<string, string | Array<string> | number | undefined>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || k.startsWith(":")) continue
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : String(v)
  }
  return out
}

const send1 = (r: RawRequest): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...r.headers }
    // Node's client sends a DELETE body without content-length unless told: set it explicitly
    if (r.body instanceof Uint8Array) headers["content-length"] = String(r.body.byteLength)
    const req = http.request(
      { host: info.host, port: info.port, method: r.method ?? "POST", path: r.path, headers, agent },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("error", reject)
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: normalize(res.headers),
            body: Buffer.concat(chunks),
            trailers: normalize(res.trailers)
          }))
      }
    )
    req.on("error", reject)
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`HTTP/1.1 ${r.path}: no response (hang)`)))
    if (r.body === undefined) req.end()
    else if (r.body instanceof Uint8Array) req.end(r.body)
    else {
      for (const chunk of r.body) req.write(chunk)
      req.end()
    }
  })

const h2session = (): http2.ClientHttp2Session => {
  if (session === undefined || session.closed || session.destroyed) {
    session = http2.connect(info.url)
    session.on("error", () => {})
  }
  return session
}

const send2 = (r: RawRequest): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    // Node ends DELETE/GET requests at once unless told otherwise
    const stream = h2session().request({ ":method": r.method ?? "POST", ":path": r.path, ...r.headers }, {
      endStream: r.body === undefined
    })
    let status = 0
    let headers: Record<string, string> = {}
    let trailers: Record<string, string> = {}
    const chunks: Array<Buffer> = []
    stream.on("response", (h) => {
      status = Number(h[":status"])
      headers = normalize(h)
    })
    stream.on("trailers", (t) => {
      trailers = normalize(t)
    })
    stream.on("data", (c: Buffer) => chunks.push(c))
    stream.on("end", () => resolve({ status, headers, body: Buffer.concat(chunks), trailers }))
    stream.on("error", reject)
    stream.on("close", () => reject(new Error(`HTTP/2 ${r.path}: stream closed without a complete response (rst ${stream.rstCode})`)))
    stream.setTimeout(REQUEST_TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL))
    if (r.body === undefined) stream.end()
    else if (r.body instanceof Uint8Array) stream.end(r.body)
    else {
      for (const chunk of r.body) stream.write(chunk)
      stream.end()
    }
  })

const send = (version: Version, r: RawRequest): Promise<RawResponse> => (version === "1.1" ? send1(r) : send2(r))

/**
 * Sends the headers and `parts` of a body and never finishes it (a stalled client); resolves
 * with the response the server gives anyway, then drops the request.
 */
const sendStalled = (version: Version, r: RawRequest & { readonly body: ReadonlyArray<Uint8Array> }): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const collect = (
      status: number,
      headers: Record<string, string>,
      body: NodeJS.ReadableStream,
      done: () => void
    ) => {
      const chunks: Array<Buffer> = []
      body.on("data", (c: Buffer) => chunks.push(c))
      body.on("end", () => {
        resolve({ status, headers, body: Buffer.concat(chunks), trailers: {} })
        done()
      })
    }
    if (version === "1.1") {
      const req = http.request({ host: info.host, port: info.port, method: "POST", path: r.path, headers: r.headers ?? {}, agent: false })
      req.on("error", reject)
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`HTTP/1.1 ${r.path}: no response (hang)`)))
      req.on("response", (res) => collect(res.statusCode ?? 0, normalize(res.headers), res, () => req.destroy()))
      for (const p of r.body) req.write(p)
    } else {
      const stream = h2session().request({ ":method": "POST", ":path": r.path, ...r.headers })
      stream.on("error", reject)
      stream.setTimeout(REQUEST_TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL))
      stream.on("response", (h) =>
        collect(Number(h[":status"]), normalize(h), stream, () => {
          if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL)
        }))
      for (const p of r.body) stream.write(p)
    }
  })

// -----------------------------------------------------------------------------
// messages, envelopes and assertions
// -----------------------------------------------------------------------------

const SERVICE = "/connectrpc.eliza.v1.ElizaService"
const SAY = `${SERVICE}/Say`
const INTRODUCE = `${SERVICE}/Introduce`
const CONVERSE = `${SERVICE}/Converse`
const REFLECT = `${SERVICE}/Reflect`

const UNARY_PROTO = { "content-type": "application/proto", "connect-protocol-version": "1" }
const UNARY_JSON = { "content-type": "application/json", "connect-protocol-version": "1" }
const STREAM_PROTO = { "content-type": "application/connect+proto", "connect-protocol-version": "1" }
const STREAM_JSON = { "content-type": "application/connect+json", "connect-protocol-version": "1" }

const say = (sentence: string) => toBinary(SayRequestSchema, create(SayRequestSchema, { sentence }))
const introduce = (name: string) => toBinary(IntroduceRequestSchema, create(IntroduceRequestSchema, { name }))
const converse = (sentence: string) => toBinary(ConverseRequestSchema, create(ConverseRequestSchema, { sentence }))
const reflect = (sentence: string) => toBinary(ReflectRequestSchema, create(ReflectRequestSchema, { sentence }))
const frame = (data: Uint8Array, flags = 0) => Envelope.encode(flags, data)
const utf8 = (s: string) => new TextEncoder().encode(s)
const concat = (...parts: ReadonlyArray<Uint8Array>) => new Uint8Array(Buffer.concat(parts))

/** A SayRequest whose binary encoding is exactly `size` bytes (size ≥ 131). */
const sayOfSize = (size: number) => {
  const bytes = say("s".repeat(size - 3)) // tag (1) + 2-byte varint length
  expect(bytes.byteLength).toBe(size)
  return bytes
}
/** Tiny when gzipped, far beyond READ_MAX once inflated. */
const gzipBomb = () => zlib.gzipSync(say("a".repeat(200_000)))

const parseEnvelopes = (body: Uint8Array): Array<Envelope.Envelope> => {
  const out: Array<Envelope.Envelope> = []
  let o = 0
  while (o < body.byteLength) {
    expect(body.byteLength - o, "envelope header").toBeGreaterThanOrEqual(5)
    const flags = body[o]!
    const len = Buffer.from(body.buffer, body.byteOffset + o + 1, 4).readUInt32BE(0)
    const data = body.subarray(o + 5, o + 5 + len)
    expect(data.byteLength, "envelope payload").toBe(len)
    out.push({ flags, data })
    o += 5 + len
  }
  return out
}

interface ErrorJson {
  readonly code: string
  readonly message?: string
  readonly details?: ReadonlyArray<unknown>
}

const checkErrorShape = (value: unknown, code: string): ErrorJson => {
  expect(typeof value === "object" && value !== null && !Array.isArray(value)).toBe(true)
  const error = value as Record<string, unknown>
  for (const key of Object.keys(error)) expect(["code", "message", "details"]).toContain(key)
  expect(error.code).toBe(code)
  if ("message" in error) expect(typeof error.message).toBe("string")
  if ("details" in error) expect(Array.isArray(error.details)).toBe(true)
  return error as unknown as ErrorJson
}

/** A unary Connect error: status, `application/json`, error JSON with only code/message/details. */
const expectUnaryError = (res: RawResponse, status: number, code: string): ErrorJson => {
  expect({ status: res.status, contentType: res.headers["content-type"] }).toEqual({
    status,
    contentType: "application/json"
  })
  expect(res.trailers).toEqual({})
  return checkErrorShape(JSON.parse(res.body.toString("utf8")), code)
}

/** A streaming Connect error: HTTP 200, the streaming content type, an end-stream (0x02) error. */
const expectEndStreamError = (res: RawResponse, code: string, codec: "proto" | "json" = "proto"): ErrorJson => {
  expect({ status: res.status, contentType: res.headers["content-type"] }).toEqual({
    status: 200,
    contentType: `application/connect+${codec}`
  })
  expect(res.trailers).toEqual({})
  const envelopes = parseEnvelopes(res.body)
  expect(envelopes.length).toBeGreaterThan(0)
  const last = envelopes[envelopes.length - 1]!
  expect(last.flags).toBe(Envelope.FLAG_END_STREAM)
  for (const e of envelopes.slice(0, -1)) expect(e.flags).toBe(0)
  const end = JSON.parse(Buffer.from(last.data).toString("utf8")) as Record<string, unknown>
  for (const key of Object.keys(end)) expect(["error", "metadata"]).toContain(key)
  return checkErrorShape(end.error, code)
}

/** Not an RPC at all: the status, no Connect JSON body. */
const expectNonConnect = (res: RawResponse, status: number) => {
  expect(res.status).toBe(status)
  expect(res.headers["content-type"]).toBeUndefined()
  expect(res.body.byteLength).toBe(0)
}

/** `Accept-Post` lists (at least) the Connect content types the method takes. */
const expectAcceptPost = (res: RawResponse, types: ReadonlyArray<string>) => {
  const listed = (res.headers["accept-post"] ?? "").split(",").map((t) => t.trim())
  expect(listed).toEqual(expect.arrayContaining([...types]))
}

const expectSay = (res: RawResponse, sentence: string) => {
  expect({ status: res.status, contentType: res.headers["content-type"] }).toEqual({
    status: 200,
    contentType: "application/proto"
  })
  expect(fromBinary(SayResponseSchema, res.body).sentence).toBe(`echo: ${sentence}`)
}

/** A good unary call and a good server-stream call both succeed. */
const expectAlive = async (version: Version, tag = "alive") => {
  expectSay(await send(version, { path: SAY, headers: UNARY_PROTO, body: say(tag) }), tag)
  const res = await send(version, { path: INTRODUCE, headers: STREAM_PROTO, body: frame(introduce(tag)) })
  expect(res.status).toBe(200)
  const envs = parseEnvelopes(res.body)
  expect(envs.map((e) => e.flags)).toEqual([0, 0, Envelope.FLAG_END_STREAM])
  expect(envs.slice(0, 2).map((e) => fromBinary(IntroduceResponseSchema, e.data).sentence)).toEqual([
    `hello ${tag}`,
    `bye ${tag}`
  ])
  expect(JSON.parse(Buffer.from(envs[2]!.data).toString("utf8"))).toEqual({})
}

const waitFor = async (predicate: () => boolean, what: string) => {
  for (let i = 0; i < 100 && !predicate(); i++) await new Promise((r) => setTimeout(r, 20))
  expect(predicate(), what).toBe(true)
}

// -----------------------------------------------------------------------------
// cases
// -----------------------------------------------------------------------------

describe.each(["1.1", "2"] as const)("HTTP/%s", (version) => {
  /** Runs a bad-input case, then checks that good calls still succeed. */
  const bad = (name: string, f: () => Promise<void>) =>
    it(name, async () => {
      await f()
      await expectAlive(version)
    })

  it("good calls work (sanity)", async () => {
    await expectAlive(version)
    const res = await send(version, {
      path: REFLECT,
      headers: STREAM_PROTO,
      body: [frame(reflect("a")), frame(reflect("b"))]
    })
    const envs = parseEnvelopes(res.body)
    expect(envs.map((e) => e.flags)).toEqual([0, Envelope.FLAG_END_STREAM])
    expect(fromBinary(ReflectResponseSchema, envs[0]!.data).summary).toBe("a|b")
  })

  describe("envelopes", () => {
    bad("truncated payload (server stream) → invalid_argument", async () => {
      const whole = frame(introduce("x"))
      const res = await send(version, { path: INTRODUCE, headers: STREAM_PROTO, body: [whole.subarray(0, whole.byteLength - 2)] })
      const error = expectEndStreamError(res, "invalid_argument")
      expect(error.message).toContain("incomplete envelope")
    })
    bad("truncated header (client stream) → invalid_argument", async () => {
      const res = await send(version, {
        path: REFLECT,
        headers: STREAM_PROTO,
        body: [frame(reflect("a")), new Uint8Array([0, 0, 0])]
      })
      expectEndStreamError(res, "invalid_argument")
    })
    bad("truncated envelope after a full one (bidi) → invalid_argument after the first response", async () => {
      const res = await send(version, {
        path: CONVERSE,
        headers: STREAM_PROTO,
        body: [frame(converse("a")), frame(converse("b")).subarray(0, 6)]
      })
      expectEndStreamError(res, "invalid_argument")
      const envs = parseEnvelopes(res.body)
      expect(envs.length).toBe(2)
      expect(fromBinary(ConverseResponseSchema, envs[0]!.data).sentence).toBe("echo a")
    })
    bad("a bad message between good ones in one chunk (bidi) → the one before it is answered, then invalid_argument", async () => {
      const res = await send(version, {
        path: CONVERSE,
        headers: STREAM_PROTO,
        body: [Buffer.concat([frame(converse("a")), frame(new Uint8Array([0x0a, 0xff])), frame(converse("c"))])]
      })
      const error = expectEndStreamError(res, "invalid_argument")
      expect(error.message).toContain("unmarshal")
      const envs = parseEnvelopes(res.body)
      expect(envs.length).toBe(2)
      expect(fromBinary(ConverseResponseSchema, envs[0]!.data).sentence).toBe("echo a")
    })
    bad("plain, gzip and plain envelopes in one chunk (bidi) are answered in order", async () => {
      const res = await send(version, {
        path: CONVERSE,
        headers: { ...STREAM_PROTO, "connect-content-encoding": "gzip" },
        body: [Buffer.concat([frame(converse("a")), frame(zlib.gzipSync(converse("b")), Envelope.FLAG_COMPRESSED), frame(converse("c"))])]
      })
      const envs = parseEnvelopes(res.body)
      expect(envs.map((e) => e.flags)).toEqual([0, 0, 0, Envelope.FLAG_END_STREAM])
      expect(envs.slice(0, 3).map((e) => fromBinary(ConverseResponseSchema, e.data).sentence)).toEqual(["echo a", "echo b", "echo c"])
    })
    bad("envelope length beyond readMaxBytes (announced only) → resource_exhausted", async () => {
      const header = new Uint8Array([0, 0, 0, 0x08, 0x01]) // 2049 bytes announced, none sent
      const res = await send(version, { path: INTRODUCE, headers: STREAM_PROTO, body: [header] })
      expectEndStreamError(res, "resource_exhausted")
    })
    bad("envelope length beyond readMaxBytes (whole message) → resource_exhausted", async () => {
      const res = await send(version, { path: REFLECT, headers: STREAM_PROTO, body: [frame(reflect("r".repeat(READ_MAX * 4)))] })
      expectEndStreamError(res, "resource_exhausted")
    })
    bad("large envelope (1 MiB, still uploading when refused) → resource_exhausted", async () => {
      const env = frame(reflect("L".repeat(1024 * 1024)))
      const chunks = Array.from({ length: 17 }, (_, i) => env.subarray(i * 65536, (i + 1) * 65536))
      const res = await send(version, { path: REFLECT, headers: STREAM_PROTO, body: chunks })
      expectEndStreamError(res, "resource_exhausted")
    })
    bad("envelope length 0xffffffff → resource_exhausted", async () => {
      const res = await send(version, { path: CONVERSE, headers: STREAM_PROTO, body: [new Uint8Array([0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3])] })
      expectEndStreamError(res, "resource_exhausted")
    })
    bad("envelope exactly at readMaxBytes is accepted", async () => {
      const big = toBinary(IntroduceRequestSchema, create(IntroduceRequestSchema, { name: "n".repeat(READ_MAX - 3) }))
      expect(big.byteLength).toBe(READ_MAX)
      const res = await send(version, { path: INTRODUCE, headers: STREAM_PROTO, body: frame(big) })
      const envs = parseEnvelopes(res.body)
      expect(envs.map((e) => e.flags)).toEqual([0, 0, Envelope.FLAG_END_STREAM])
    })
    bad("gzip envelope that inflates past readMaxBytes → resource_exhausted", async () => {
      const bomb = gzipBomb()
      expect(bomb.byteLength).toBeLessThan(READ_MAX)
      const res = await send(version, {
        path: INTRODUCE,
        headers: { ...STREAM_PROTO, "connect-content-encoding": "gzip" },
        body: frame(bomb, Envelope.FLAG_COMPRESSED)
      })
      expectEndStreamError(res, "resource_exhausted")
    })
    bad("compressed flag without connect-content-encoding → internal", async () => {
      const res = await send(version, {
        path: INTRODUCE,
        headers: STREAM_PROTO,
        body: frame(zlib.gzipSync(introduce("x")), Envelope.FLAG_COMPRESSED)
      })
      expectEndStreamError(res, "internal")
    })
    bad("compressed flag with connect-content-encoding: identity → internal", async () => {
      const res = await send(version, {
        path: REFLECT,
        headers: { ...STREAM_PROTO, "connect-content-encoding": "identity" },
        body: frame(reflect("x"), Envelope.FLAG_COMPRESSED)
      })
      expectEndStreamError(res, "internal")
    })
    bad("corrupt gzip envelope → invalid_argument", async () => {
      const res = await send(version, {
        path: INTRODUCE,
        headers: { ...STREAM_PROTO, "connect-content-encoding": "gzip" },
        body: frame(utf8("definitely not gzip"), Envelope.FLAG_COMPRESSED)
      })
      expectEndStreamError(res, "invalid_argument")
    })
    bad("unknown connect-content-encoding → unimplemented listing the supported encodings", async () => {
      const res = await send(version, {
        path: INTRODUCE,
        headers: { ...STREAM_PROTO, "connect-content-encoding": "foo" },
        body: frame(introduce("x"))
      })
      const error = expectEndStreamError(res, "unimplemented")
      expect(error.message).toContain("gzip, br, zstd")
    })
    bad("end-stream flag sent by the client → invalid_argument", async () => {
      const res = await send(version, { path: REFLECT, headers: STREAM_PROTO, body: frame(utf8("{}"), Envelope.FLAG_END_STREAM) })
      expectEndStreamError(res, "invalid_argument")
    })
    bad("invalid binary proto in an envelope → invalid_argument", async () => {
      const res = await send(version, { path: INTRODUCE, headers: STREAM_PROTO, body: frame(new Uint8Array([0x0a, 0xff])) })
      expectEndStreamError(res, "invalid_argument")
    })
    bad("invalid JSON in an envelope → invalid_argument (connect+json)", async () => {
      const res = await send(version, { path: INTRODUCE, headers: STREAM_JSON, body: frame(utf8("{\"name\":")) })
      expectEndStreamError(res, "invalid_argument", "json")
    })
    bad("unknown JSON field in an envelope → invalid_argument (connect+json)", async () => {
      const res = await send(version, { path: CONVERSE, headers: STREAM_JSON, body: frame(utf8("{\"nope\":1}")) })
      expectEndStreamError(res, "invalid_argument", "json")
    })
    bad("server stream with no request message → unimplemented", async () => {
      const res = await send(version, { path: INTRODUCE, headers: STREAM_PROTO, body: new Uint8Array(0) })
      expectEndStreamError(res, "unimplemented")
    })
    bad("server stream with two request messages → unimplemented", async () => {
      const res = await send(version, { path: INTRODUCE, headers: STREAM_PROTO, body: [frame(introduce("a")), frame(introduce("b"))] })
      expectEndStreamError(res, "unimplemented")
    })
  })

  describe("unary bodies", () => {
    bad("body over readMaxBytes → 429 resource_exhausted", async () => {
      const res = await send(version, { path: SAY, headers: UNARY_PROTO, body: say("o".repeat(READ_MAX * 2)) })
      expectUnaryError(res, 429, "resource_exhausted")
    })
    bad("chunked body over readMaxBytes → 429 resource_exhausted", async () => {
      const body = say("o".repeat(READ_MAX * 8))
      const chunks = [body.subarray(0, 1000), body.subarray(1000, 4000), body.subarray(4000)]
      const res = await send(version, { path: SAY, headers: UNARY_PROTO, body: chunks })
      expectUnaryError(res, 429, "resource_exhausted")
    })
    bad("body exactly at readMaxBytes is accepted (plain and gzip)", async () => {
      const exact = sayOfSize(READ_MAX)
      expectSay(await send(version, { path: SAY, headers: UNARY_PROTO, body: exact }), "s".repeat(READ_MAX - 3))
      const res = await send(version, {
        path: SAY,
        headers: { ...UNARY_PROTO, "content-encoding": "gzip" },
        body: zlib.gzipSync(exact)
      })
      expectSay(res, "s".repeat(READ_MAX - 3))
    })
    bad("large body (1 MiB, still uploading when refused) → 429 resource_exhausted", async () => {
      const body = say("L".repeat(1024 * 1024))
      const chunks = Array.from({ length: 16 }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536)).concat([body.subarray(16 * 65536)])
      for (const b of [body, chunks]) {
        const res = await send(version, { path: SAY, headers: UNARY_PROTO, body: b })
        expectUnaryError(res, 429, "resource_exhausted")
      }
    })
    bad("gzip body that inflates past readMaxBytes → 429 resource_exhausted", async () => {
      const bomb = gzipBomb()
      expect(bomb.byteLength).toBeLessThan(READ_MAX)
      const res = await send(version, { path: SAY, headers: { ...UNARY_PROTO, "content-encoding": "gzip" }, body: bomb })
      expectUnaryError(res, 429, "resource_exhausted")
    })
    bad("gzip body one byte past readMaxBytes once inflated → 429 resource_exhausted", async () => {
      const res = await send(version, {
        path: SAY,
        headers: { ...UNARY_PROTO, "content-encoding": "gzip" },
        body: zlib.gzipSync(sayOfSize(READ_MAX + 1))
      })
      expectUnaryError(res, 429, "resource_exhausted")
    })
    bad("invalid JSON → 400 invalid_argument", async () => {
      const res = await send(version, { path: SAY, headers: UNARY_JSON, body: utf8("{\"sentence\":") })
      expectUnaryError(res, 400, "invalid_argument")
    })
    bad("unknown JSON field → 400 invalid_argument", async () => {
      const res = await send(version, { path: SAY, headers: UNARY_JSON, body: utf8("{\"sentence\":\"a\",\"extra\":true}") })
      expectUnaryError(res, 400, "invalid_argument")
    })
    bad("JSON field of the wrong type → 400 invalid_argument", async () => {
      const res = await send(version, { path: SAY, headers: UNARY_JSON, body: utf8("{\"sentence\":42}") })
      expectUnaryError(res, 400, "invalid_argument")
    })
    bad("JSON that is not UTF-8 → 400 invalid_argument", async () => {
      const res = await send(version, {
        path: SAY,
        headers: { ...UNARY_JSON, "content-type": "application/json; charset=utf-8" },
        body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])
      })
      expectUnaryError(res, 400, "invalid_argument")
    })
    bad("invalid binary proto → 400 invalid_argument", async () => {
      // field 1 (string) announcing 127 bytes with 1 present, then a bogus wire type
      for (const body of [new Uint8Array([0x0a, 0x7f, 0x41]), new Uint8Array([0x0f, 0x01])]) {
        const res = await send(version, { path: SAY, headers: UNARY_PROTO, body })
        expectUnaryError(res, 400, "invalid_argument")
      }
    })
    bad("unknown content-encoding → 501 unimplemented listing the supported encodings", async () => {
      const res = await send(version, { path: SAY, headers: { ...UNARY_PROTO, "content-encoding": "foo" }, body: say("x") })
      const error = expectUnaryError(res, 501, "unimplemented")
      expect(error.message).toContain("foo")
      expect(error.message).toContain("gzip, br, zstd")
      expect(res.headers["accept-encoding"]).toBe("gzip,br,zstd")
    })
    bad("corrupt gzip body → 400 invalid_argument", async () => {
      const gz = zlib.gzipSync(say("hello"))
      const corrupt = concat(gz.subarray(0, 10), new Uint8Array(gz.byteLength - 10).fill(0xee))
      for (const body of [utf8("not gzip at all"), corrupt, gz.subarray(0, gz.byteLength - 6)]) {
        const res = await send(version, { path: SAY, headers: { ...UNARY_PROTO, "content-encoding": "gzip" }, body })
        expectUnaryError(res, 400, "invalid_argument")
      }
    })
  })

  describe("content types", () => {
    for (const contentType of ["text/plain", "image/jpeg", "application/xml", "application/proto; charset=latin1"]) {
      bad(`content-type ${contentType} → 415 without a Connect body`, async () => {
        const res = await send(version, { path: SAY, headers: { "content-type": contentType }, body: say("x") })
        expectNonConnect(res, 415)
        expectAcceptPost(res, ["application/proto", "application/json"])
      })
    }
    bad("no content-type → 415", async () => {
      const res = await send(version, { path: SAY, body: say("x") })
      expectNonConnect(res, 415)
    })
    bad("streaming content type on a unary method → 415", async () => {
      const res = await send(version, { path: SAY, headers: STREAM_PROTO, body: frame(say("x")) })
      expectNonConnect(res, 415)
    })
    bad("unary content type on streaming methods → 415", async () => {
      for (const path of [INTRODUCE, CONVERSE, REFLECT]) {
        const res = await send(version, { path, headers: UNARY_JSON, body: utf8("{}") })
        expectNonConnect(res, 415)
        expectAcceptPost(res, ["application/connect+proto", "application/connect+json"])
      }
    })
  })

  describe("headers", () => {
    for (const timeout of ["abc", "-1", "12345678901", "1.5", ""]) {
      bad(`connect-timeout-ms ${JSON.stringify(timeout)} → invalid_argument (unary and stream)`, async () => {
        const unary = await send(version, { path: SAY, headers: { ...UNARY_PROTO, "connect-timeout-ms": timeout }, body: say("x") })
        expectUnaryError(unary, 400, "invalid_argument")
        const stream = await send(version, {
          path: INTRODUCE,
          headers: { ...STREAM_PROTO, "connect-timeout-ms": timeout },
          body: frame(introduce("x"))
        })
        expectEndStreamError(stream, "invalid_argument")
      })
    }
    bad("10-digit connect-timeout-ms is accepted", async () => {
      const res = await send(version, { path: SAY, headers: { ...UNARY_PROTO, "connect-timeout-ms": "9999999999" }, body: say("t") })
      expectSay(res, "t")
    })
    for (const v of ["2", "0", "v1"]) {
      bad(`connect-protocol-version ${v} → invalid_argument (unary and stream)`, async () => {
        const unary = await send(version, { path: SAY, headers: { ...UNARY_PROTO, "connect-protocol-version": v }, body: say("x") })
        expectUnaryError(unary, 400, "invalid_argument")
        const stream = await send(version, {
          path: REFLECT,
          headers: { ...STREAM_PROTO, "connect-protocol-version": v },
          body: frame(reflect("x"))
        })
        expectEndStreamError(stream, "invalid_argument")
      })
    }
  })

  describe("routing, verbs and GET", () => {
    const get = (query: string, path = SAY) => send(version, { method: "GET", path: `${path}?${query}` })
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url")

    bad("GET works for the NO_SIDE_EFFECTS method (sanity)", async () => {
      expectSay(await get(`connect=v1&encoding=proto&base64=1&message=${b64(say("g"))}`), "g")
    })
    bad("GET on a method without NO_SIDE_EFFECTS → 405 Allow: POST", async () => {
      for (const path of [INTRODUCE, CONVERSE, REFLECT]) {
        const res = await get(`connect=v1&encoding=proto&base64=1&message=${b64(introduce("x"))}`, path)
        expectNonConnect(res, 405)
        expect(res.headers["allow"]).toBe("POST")
      }
    })
    bad("GET with a bad encoding → 400 invalid_argument", async () => {
      for (const q of ["connect=v1&encoding=xml&message=x", "connect=v1&message=x"]) {
        expectUnaryError(await get(q), 400, "invalid_argument")
      }
    })
    bad("GET with bad base64 → 400 invalid_argument", async () => {
      expectUnaryError(await get("connect=v1&encoding=proto&base64=1&message=!!!!"), 400, "invalid_argument")
    })
    bad("GET with a message that does not decode → 400 invalid_argument", async () => {
      expectUnaryError(await get(`connect=v1&encoding=proto&base64=1&message=${b64(new Uint8Array([0x0a, 0x7f]))}`), 400, "invalid_argument")
      expectUnaryError(await get(`connect=v1&encoding=json&message=${encodeURIComponent("{\"bogus\":1}")}`), 400, "invalid_argument")
    })
    bad("GET with connect=v2 → 400 invalid_argument", async () => {
      expectUnaryError(await get(`connect=v2&encoding=proto&base64=1&message=${b64(say("x"))}`), 400, "invalid_argument")
    })
    bad("GET with an unknown compression → 501 unimplemented", async () => {
      const error = expectUnaryError(
        await get(`connect=v1&encoding=proto&base64=1&compression=foo&message=${b64(say("x"))}`),
        501,
        "unimplemented"
      )
      expect(error.message).toContain("gzip, br, zstd")
    })
    bad("GET with a message over readMaxBytes → 429 resource_exhausted (plain and gzip bomb)", async () => {
      expectUnaryError(await get(`connect=v1&encoding=proto&base64=1&message=${b64(say("q".repeat(READ_MAX)))}`), 429, "resource_exhausted")
      expectUnaryError(
        await get(`connect=v1&encoding=proto&base64=1&compression=gzip&message=${b64(gzipBomb())}`),
        429,
        "resource_exhausted"
      )
    })
    bad("unknown paths → 404 without a Connect body", async () => {
      for (
        const path of [
          `${SERVICE}/Nope`,
          "/connectrpc.eliza.v1.Unknown/Say",
          "/",
          `${SAY}/`,
          `${SAY.toLowerCase()}`
        ]
      ) {
        expectNonConnect(await send(version, { path, headers: UNARY_PROTO, body: say("x") }), 404)
      }
      expectNonConnect(await send(version, { method: "GET", path: `${SERVICE}/Nope?connect=v1&encoding=json&message=%7B%7D` }), 404)
    })
    bad("PUT / DELETE / PATCH → 405 with an Allow header", async () => {
      for (const method of ["PUT", "DELETE", "PATCH"]) {
        const unary = await send(version, { method, path: SAY, headers: UNARY_PROTO, body: say("x") })
        expectNonConnect(unary, 405)
        expect(unary.headers["allow"]).toBe("GET, POST")
        const stream = await send(version, { method, path: INTRODUCE, headers: STREAM_PROTO, body: frame(introduce("x")) })
        expectNonConnect(stream, 405)
        expect(stream.headers["allow"]).toBe("POST")
      }
    })
  })

  describe("peers that go away", () => {
    /** Opens a request, writes `parts`, waits, then aborts (socket destroy / RST_STREAM CANCEL). */
    const abortMidBody = async (path: string, headers: Record<string, string>, parts: ReadonlyArray<Uint8Array>, waitForResponse: boolean) => {
      if (version === "1.1") {
        await new Promise<void>((resolve) => {
          // a fresh connection, so aborting it does not disturb the pooled ones
          const req = http.request({ host: info.host, port: info.port, method: "POST", path, headers, agent: false })
          req.on("error", () => {})
          const abort = () => {
            req.destroy()
            resolve()
          }
          if (waitForResponse) req.on("response", (res) => res.once("data", abort))
          for (const p of parts) req.write(p)
          if (!waitForResponse) setTimeout(abort, 100)
        })
      } else {
        await new Promise<void>((resolve) => {
          const stream = h2session().request({ ":method": "POST", ":path": path, ...headers })
          stream.on("error", () => {})
          const abort = () => {
            stream.close(http2.constants.NGHTTP2_CANCEL)
            resolve()
          }
          if (waitForResponse) stream.once("data", abort)
          for (const p of parts) stream.write(p)
          if (!waitForResponse) setTimeout(abort, 100)
        })
      }
    }

    bad("stalled unary body with connect-timeout-ms → 504 deadline_exceeded", async () => {
      const body = say("stall")
      const res = await sendStalled(version, {
        path: SAY,
        headers: { ...UNARY_PROTO, "connect-timeout-ms": "150", ...(version === "1.1" ? { "content-length": "100" } : {}) },
        body: [body.subarray(0, 3)]
      })
      expectUnaryError(res, 504, "deadline_exceeded")
    })
    bad("stalled client stream with connect-timeout-ms → deadline_exceeded, handler finalized", async () => {
      const before = reflectFinalized
      const res = await sendStalled(version, {
        path: REFLECT,
        headers: { ...STREAM_PROTO, "connect-timeout-ms": "150" },
        body: [frame(reflect("a")), frame(reflect("b")).subarray(0, 2)]
      })
      expectEndStreamError(res, "deadline_exceeded")
      await waitFor(() => reflectFinalized > before, "reflect handler finalized")
    })
    bad("disconnect mid-body of a unary call", async () => {
      const body = say("u".repeat(500))
      await abortMidBody(
        SAY,
        { ...UNARY_PROTO, ...(version === "1.1" ? { "content-length": String(body.byteLength) } : {}) },
        [body.subarray(0, 100)],
        false
      )
    })
    bad("disconnect mid-envelope of a client stream: the handler is finalized", async () => {
      const before = reflectFinalized
      const whole = frame(reflect("partial"))
      await abortMidBody(REFLECT, STREAM_PROTO, [frame(reflect("a")), whole.subarray(0, 4)], false)
      await waitFor(() => reflectFinalized > before, "reflect handler finalized")
    })
    bad("disconnect mid-body of a bidi stream after the first response: the handler is finalized", async () => {
      const before = converseFinalized
      await abortMidBody(CONVERSE, STREAM_PROTO, [frame(converse("first"))], true)
      await waitFor(() => converseFinalized > before, "converse handler finalized")
    })
    bad("garbage on the wire: the connection is dropped, nothing else", async () => {
      const garbage = version === "1.1"
        ? Buffer.from("BREW /pot HTCPCP/1.0\r\n\u0000\u0001\r\n\r\n")
        : Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.alloc(64, 0xab)])
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(info.port, info.host)
        const timer = setTimeout(() => {
          socket.destroy()
          reject(new Error("the server kept a garbage connection open"))
        }, REQUEST_TIMEOUT_MS)
        socket.on("error", () => {})
        socket.on("data", () => {})
        socket.on("close", () => {
          clearTimeout(timer)
          resolve()
        })
        socket.write(garbage)
      })
    })
    bad("disconnect during a burst of aborts", async () => {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          abortMidBody(CONVERSE, STREAM_PROTO, [frame(converse(`c${i}`)), frame(converse("next")).subarray(0, 3)], i % 2 === 0))
      )
    })
  })

  it("a burst of 50 bad requests in parallel with 50 good calls: every good call gets its answer", async () => {
    const badRequests: ReadonlyArray<() => Promise<unknown>> = [
      async () =>
        expectEndStreamError(
          await send(version, { path: INTRODUCE, headers: STREAM_PROTO, body: [frame(introduce("x")).subarray(0, 4)] }),
          "invalid_argument"
        ),
      async () => expectUnaryError(await send(version, { path: SAY, headers: UNARY_JSON, body: utf8("{{") }), 400, "invalid_argument"),
      async () =>
        expectUnaryError(
          await send(version, { path: SAY, headers: { ...UNARY_PROTO, "content-encoding": "foo" }, body: say("x") }),
          501,
          "unimplemented"
        ),
      async () => expectNonConnect(await send(version, { path: SAY, headers: { "content-type": "text/plain" }, body: utf8("hi") }), 415),
      async () =>
        expectUnaryError(
          await send(version, { path: SAY, headers: { ...UNARY_PROTO, "connect-timeout-ms": "abc" }, body: say("x") }),
          400,
          "invalid_argument"
        ),
      async () => expectUnaryError(await send(version, { path: SAY, headers: UNARY_PROTO, body: say("z".repeat(READ_MAX)) }), 429, "resource_exhausted"),
      async () =>
        expectUnaryError(
          await send(version, { path: SAY, headers: { ...UNARY_PROTO, "content-encoding": "gzip" }, body: gzipBomb() }),
          429,
          "resource_exhausted"
        ),
      async () =>
        expectEndStreamError(
          await send(version, { path: REFLECT, headers: STREAM_PROTO, body: frame(reflect("x"), Envelope.FLAG_COMPRESSED) }),
          "internal"
        ),
      async () => expectNonConnect(await send(version, { method: "DELETE", path: SAY, headers: UNARY_PROTO, body: say("x") }), 405),
      async () => expectNonConnect(await send(version, { path: `${SERVICE}/Nope`, headers: UNARY_PROTO, body: say("x") }), 404)
    ]
    const bads: Array<Promise<unknown>> = Array.from({ length: 50 }, (_, i) => badRequests[i % badRequests.length]!())
    let goodAnswers = 0
    const goods = Array.from({ length: 50 }, async (_, i) => {
      const sentence = `good-${version}-${i}`
      const res = await send(version, { path: SAY, headers: UNARY_PROTO, body: say(sentence) })
      expectSay(res, sentence)
      goodAnswers++
    })
    const goodStreams = Array.from({ length: 10 }, async (_, i) => {
      const name = `stream-${version}-${i}`
      const res = await send(version, { path: INTRODUCE, headers: STREAM_PROTO, body: frame(introduce(name)) })
      const envs = parseEnvelopes(res.body)
      expect(envs.map((e) => e.flags)).toEqual([0, 0, Envelope.FLAG_END_STREAM])
      expect(fromBinary(IntroduceResponseSchema, envs[0]!.data).sentence).toBe(`hello ${name}`)
      goodAnswers++
    })
    // interleave bad and good so they really are in flight together
    const all: Array<Promise<unknown>> = []
    for (let i = 0; i < 50; i++) all.push(bads[i]!, goods[i]!)
    const settled = await Promise.allSettled([...all, ...goodStreams])
    const failures = settled.flatMap((s, i) => (s.status === "rejected" ? [`#${i}: ${String(s.reason)}`] : []))
    expect(failures).toEqual([])
    expect(goodAnswers).toBe(60)
    await expectAlive(version)
  })
})

describe("both protocols at once", () => {
  it("bad requests on one protocol do not disturb good calls on the other", async () => {
    const work = Array.from({ length: 40 }, async (_, i) => {
      const good: Version = i % 2 === 0 ? "1.1" : "2"
      const badV: Version = good === "1.1" ? "2" : "1.1"
      const [g, b] = await Promise.all([
        send(good, { path: SAY, headers: UNARY_PROTO, body: say(`cross-${i}`) }),
        send(badV, { path: INTRODUCE, headers: STREAM_PROTO, body: [frame(introduce("y")).subarray(0, 7)] })
      ])
      expectSay(g, `cross-${i}`)
      expectEndStreamError(b, "invalid_argument")
    })
    await Promise.all(work)
    expect(info.connections()).toBeGreaterThan(0)
  })
})
