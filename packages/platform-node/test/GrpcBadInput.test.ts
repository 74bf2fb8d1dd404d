/**
 * Bad input over real sockets, gRPC and gRPC-Web edition.
 *
 * Server side: raw h2c (`node:http2`) gRPC requests, and raw HTTP/1.1 (`node:http`) and h2c
 * gRPC-Web requests against one connect-effect Node server, asserting the exact gRPC status of
 * each malformed request and that the server keeps serving good calls afterwards.
 *
 * Client side: small raw `node:http2` / `node:http` servers that misbehave on purpose, called
 * through `NodeTransport.layerGrpc` / `layerGrpcWeb` and the generated Eliza client, asserting
 * the exact code the client reports.
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import type { AddressInfo } from "node:net"
import * as zlib from "node:zlib"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { create, fromBinary, toBinary } from "@bufbuild/protobuf"
import { StringValueSchema } from "@bufbuild/protobuf/wkt"
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Code from "@connect-effect/core/Code"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as Envelope from "@connect-effect/core/Envelope"
import * as ProtocolGrpc from "@connect-effect/core/ProtocolGrpc"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import {
  ElizaService,
  IntroduceRequestSchema,
  IntroduceResponseSchema,
  ReflectRequestSchema,
  ReflectResponseSchema,
  SayRequestSchema,
  SayResponseSchema
} from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

// -----------------------------------------------------------------------------
// server under test
// -----------------------------------------------------------------------------

const READ_MAX = 1024
/** Per raw request / client call: a hang fails the test instead of stalling it. */
const REQUEST_TIMEOUT_MS = 5000

/** A message that needs percent-encoding in `grpc-message` (non-ASCII, an emoji, a `%`). */
const TRICKY_MESSAGE = "héllo 😈 100%"
const TRICKY_DETAIL = ConnectError.detail(StringValueSchema, { value: "details" })

const defects: Array<Cause.Cause<unknown>> = []

const handlers: ElizaServiceHandlers = {
  say: (request) =>
    request.sentence === "details"
      ? Effect.fail(ConnectError.make("failed_precondition", TRICKY_MESSAGE, { details: [TRICKY_DETAIL] }))
      : Effect.succeed({ sentence: `echo: ${request.sentence}` }),
  introduce: (request) =>
    request.name === "details"
      ? Stream.concat(
        Stream.make({ sentence: "first" }),
        Stream.fail(ConnectError.make("failed_precondition", TRICKY_MESSAGE, { details: [TRICKY_DETAIL] }))
      )
      : Stream.make({ sentence: `hello ${request.name}` }, { sentence: `bye ${request.name}` }),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: `echo ${r.sentence}` })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: all.map((r) => r.sentence).join("|") }))
}

const router = Router.service(Router.empty, ElizaService, handlers)

let scope: Scope.Closeable
let info: NodeServer.Info
let agent: http.Agent
let session: http2.ClientHttp2Session | undefined

// -----------------------------------------------------------------------------
// misbehaving servers (for the client side)
// -----------------------------------------------------------------------------

/** What a misbehaving server answers; picked per call by the `x-case` request header. */
interface Script {
  readonly status?: number
  readonly headers?: Record<string, string>
  readonly body?: Uint8Array
  /** HTTP/2 only: trailers after the body (else the stream just ends). */
  readonly trailers?: Record<string, string>
}

const scripts = new Map<string, Script>()
let scriptCounter = 0
/** Registers a script and returns the `x-case` header value that selects it. */
const script = (s: Script): string => {
  const id = `case-${scriptCounter++}`
  scripts.set(id, s)
  return id
}
/** The request headers the misbehaving servers saw, by case. */
const seen = new Map<string, Record<string, string>>()

let rawH2: http2.Http2Server
let rawH1: http.Server
const rawSessions = new Set<http2.ServerHttp2Session>()
let rawH2Url = ""
let rawH1Url = ""

const listen = (server: http.Server | http2.Http2Server): Promise<string> =>
  new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))
  })

const startRawServers = async () => {
  rawH2 = http2.createServer()
  rawH2.on("session", (s) => rawSessions.add(s))
  rawH2.on("stream", (stream, headers) => {
    stream.on("error", () => {})
    const id = String(headers["x-case"])
    seen.set(id, normalize(headers))
    const s = scripts.get(id)
    stream.resume()
    stream.on("end", () => {
      if (s === undefined) {
        stream.respond({ ":status": 500 }, { endStream: true })
        return
      }
      const h = { ":status": s.status ?? 200, ...s.headers }
      const body = s.body ?? new Uint8Array(0)
      if (s.trailers !== undefined) {
        const trailers = s.trailers
        stream.respond(h, { waitForTrailers: true })
        stream.on("wantTrailers", () => stream.sendTrailers(trailers))
        stream.end(body)
      } else if (body.byteLength === 0) {
        stream.respond(h, { endStream: true })
      } else {
        stream.respond(h)
        stream.end(body)
      }
    })
  })
  rawH1 = http.createServer((req, res) => {
    const id = String(req.headers["x-case"])
    seen.set(id, normalize(req.headers))
    const s = scripts.get(id)
    req.resume()
    req.on("end", () => {
      if (s === undefined) {
        res.writeHead(500).end()
        return
      }
      res.writeHead(s.status ?? 200, s.headers)
      res.end(s.body ?? new Uint8Array(0))
    })
  })
  rawH2Url = await listen(rawH2)
  rawH1Url = await listen(rawH1)
}

const close = (server: http.Server | http2.Http2Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve())
    if ("closeAllConnections" in server) server.closeAllConnections()
    else for (const s of rawSessions) s.destroy()
  })

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
  await startRawServers()
})

afterAll(async () => {
  session?.close()
  agent.destroy()
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await Promise.all([close(rawH1), close(rawH2)])
})

afterEach(() => {
  expect(defects).toEqual([])
})

// -----------------------------------------------------------------------------
// raw HTTP clients (for the server side)
// -----------------------------------------------------------------------------

type Version = "1.1" | "2"

interface RawRequest {
  readonly path: string
  readonly headers?: Record<string, string>
  /** One buffer (HTTP/1.1: sent with content-length) or chunks (HTTP/1.1: chunked). */
  readonly body: Uint8Array | ReadonlyArray<Uint8Array>
}

interface RawResponse {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: Buffer
  readonly trailers: Record<string, string>
  /** HTTP/2: whether a trailing HEADERS frame arrived at all. */
  readonly gotTrailers: boolean
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
    if (r.body instanceof Uint8Array) headers["content-length"] = String(r.body.byteLength)
    const req = http.request({ host: info.host, port: info.port, method: "POST", path: r.path, headers, agent }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("error", reject)
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: normalize(res.headers),
          body: Buffer.concat(chunks),
          trailers: normalize(res.trailers),
          gotTrailers: Object.keys(res.trailers).length > 0
        }))
    })
    req.on("error", reject)
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`HTTP/1.1 ${r.path}: no response (hang)`)))
    if (r.body instanceof Uint8Array) req.end(r.body)
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
    const stream = h2session().request({ ":method": "POST", ":path": r.path, ...r.headers })
    let status = 0
    let headers: Record<string, string> = {}
    let trailers: Record<string, string> = {}
    let gotTrailers = false
    const chunks: Array<Buffer> = []
    stream.on("response", (h) => {
      status = Number(h[":status"])
      headers = normalize(h)
    })
    stream.on("trailers", (t) => {
      gotTrailers = true
      trailers = normalize(t)
    })
    stream.on("data", (c: Buffer) => chunks.push(c))
    stream.on("end", () => resolve({ status, headers, body: Buffer.concat(chunks), trailers, gotTrailers }))
    stream.on("error", reject)
    stream.on("close", () => reject(new Error(`HTTP/2 ${r.path}: stream closed without a complete response (rst ${stream.rstCode})`)))
    stream.setTimeout(REQUEST_TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL))
    if (r.body instanceof Uint8Array) stream.end(r.body)
    else {
      for (const chunk of r.body) stream.write(chunk)
      stream.end()
    }
  })

// -----------------------------------------------------------------------------
// messages, envelopes and assertions
// -----------------------------------------------------------------------------

const SERVICE = "/connectrpc.eliza.v1.ElizaService"
const SAY = `${SERVICE}/Say`
const INTRODUCE = `${SERVICE}/Introduce`
const REFLECT = `${SERVICE}/Reflect`

/** gRPC status numbers. */
const OK = 0
const UNKNOWN = 2
const INVALID_ARGUMENT = 3
const FAILED_PRECONDITION = 9
const RESOURCE_EXHAUSTED = 8
const UNIMPLEMENTED = 12
const INTERNAL = 13

const say = (sentence: string) => toBinary(SayRequestSchema, create(SayRequestSchema, { sentence }))
const introduce = (name: string) => toBinary(IntroduceRequestSchema, create(IntroduceRequestSchema, { name }))
const reflect = (sentence: string) => toBinary(ReflectRequestSchema, create(ReflectRequestSchema, { sentence }))
const sayResponse = (sentence: string) => toBinary(SayResponseSchema, create(SayResponseSchema, { sentence }))
const frame = (data: Uint8Array, flags = 0) => Envelope.encode(flags, data)
const utf8 = (s: string) => new TextEncoder().encode(s)
const concat = (...parts: ReadonlyArray<Uint8Array>) => new Uint8Array(Buffer.concat(parts))
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

/** Parses a gRPC-Web trailer block independently of the implementation. */
const parseTrailerBlock = (data: Uint8Array): Record<string, string> => {
  const text = Buffer.from(data).toString("utf8")
  expect(text.endsWith("\r\n"), "trailer block ends with CRLF").toBe(true)
  const out: Record<string, string> = {}
  for (const line of text.split("\r\n")) {
    if (line === "") continue
    const i = line.indexOf(":")
    expect(i, `trailer line ${JSON.stringify(line)}`).toBeGreaterThan(0)
    out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  return out
}

/** Decodes a google.rpc.Status independently of the implementation. */
const decodeStatus = (bytes: Uint8Array) => {
  const r = new BinaryReader(bytes)
  let code = 0
  let message = ""
  const details: Array<{ typeUrl: string; value: Uint8Array }> = []
  while (r.pos < r.len) {
    const [field, wireType] = r.tag()
    if (field === 1) code = r.int32()
    else if (field === 2) message = r.string()
    else if (field === 3) {
      const any = new BinaryReader(r.bytes())
      let typeUrl = ""
      let value: Uint8Array = new Uint8Array(0)
      while (any.pos < any.len) {
        const [f, t] = any.tag()
        if (f === 1) typeUrl = any.string()
        else if (f === 2) value = any.bytes()
        else any.skip(t, f)
      }
      details.push({ typeUrl, value })
    } else r.skip(wireType, field)
  }
  return { code, message, details }
}

/** Encodes a google.rpc.Status independently of the implementation. */
const encodeStatus = (code: number, message: string, details: ReadonlyArray<ConnectError.ErrorDetail>) => {
  const w = new BinaryWriter()
  w.tag(1, WireType.Varint).int32(code)
  w.tag(2, WireType.LengthDelimited).string(message)
  for (const d of details) {
    w.tag(3, WireType.LengthDelimited).fork()
    w.tag(1, WireType.LengthDelimited).string(`type.googleapis.com/${d.type}`)
    w.tag(2, WireType.LengthDelimited).bytes(d.value)
    w.join()
  }
  return w.finish()
}

/** The `grpc-status-details-bin` checks: unpadded standard base64 of a matching google.rpc.Status. */
const expectDetailsBin = (fields: Record<string, string>, code: number, message: string) => {
  const bin = fields["grpc-status-details-bin"]
  expect(bin).toBeDefined()
  expect(bin!).toMatch(/^[A-Za-z0-9+/]+$/) // no padding, not base64url
  const bytes = Buffer.from(bin!, "base64")
  expect(bytes.toString("base64").replace(/=+$/, "")).toBe(bin) // canonical
  const status = decodeStatus(bytes)
  expect(status.code).toBe(code)
  expect(status.message).toBe(message)
  expect(Number(fields["grpc-status"])).toBe(status.code)
  expect(decodeURIComponent(fields["grpc-message"]!)).toBe(status.message)
  return status
}

interface Kind {
  readonly name: string
  readonly version: Version
  readonly web: boolean
}

const KINDS: ReadonlyArray<Kind> = [
  { name: "gRPC over h2c", version: "2", web: false },
  { name: "gRPC-Web over HTTP/1.1", version: "1.1", web: true },
  { name: "gRPC-Web over h2c", version: "2", web: true }
]

const contentTypeOf = (kind: Kind) => (kind.web ? "application/grpc-web+proto" : "application/grpc")
const headersOf = (kind: Kind, extra: Record<string, string> = {}): Record<string, string> => ({
  "content-type": contentTypeOf(kind),
  ...(kind.web ? { "x-grpc-web": "1" } : { te: "trailers" }),
  ...extra
})

const sendKind = (kind: Kind, path: string, body: Uint8Array | ReadonlyArray<Uint8Array>, extra: Record<string, string> = {}) =>
  (kind.version === "1.1" ? send1 : send2)({ path, headers: headersOf(kind, extra), body })

/** A trailers-only answer: HTTP 200, the status in the headers, an empty body, no trailers. */
const expectTrailersOnly = (kind: Kind, res: RawResponse, code: number): Record<string, string> => {
  expect({
    status: res.status,
    contentType: res.headers["content-type"],
    grpcStatus: res.headers["grpc-status"],
    bodyBytes: res.body.byteLength,
    gotTrailers: res.gotTrailers
  }).toEqual({ status: 200, contentType: contentTypeOf(kind), grpcStatus: String(code), bodyBytes: 0, gotTrailers: false })
  if (code !== OK) expect(res.headers["grpc-message"] ?? "").not.toBe("")
  return res.headers
}

/**
 * A full (not trailers-only) answer: the messages, then the status in HTTP/2 trailers (gRPC) or
 * in a final 0x80 frame (gRPC-Web). Returns the data frames and the status fields.
 */
const expectFull = (kind: Kind, res: RawResponse, code: number) => {
  expect({ status: res.status, contentType: res.headers["content-type"] }).toEqual({ status: 200, contentType: contentTypeOf(kind) })
  expect(res.headers["grpc-status"], "status not in the headers").toBeUndefined()
  const envelopes = parseEnvelopes(res.body)
  let fields: Record<string, string>
  let data: Array<Envelope.Envelope>
  if (kind.web) {
    expect(res.gotTrailers).toBe(false)
    expect(envelopes.length).toBeGreaterThan(0)
    const last = envelopes[envelopes.length - 1]!
    expect(last.flags).toBe(Envelope.FLAG_TRAILERS)
    fields = parseTrailerBlock(last.data)
    data = envelopes.slice(0, -1)
  } else {
    expect(res.gotTrailers, "HTTP/2 trailers").toBe(true)
    fields = res.trailers
    data = envelopes
  }
  for (const e of data) expect(e.flags).toBe(0)
  expect(fields["grpc-status"]).toBe(String(code))
  return { data, fields }
}

const expectSay = (kind: Kind, res: RawResponse, sentence: string) => {
  const { data, fields } = expectFull(kind, res, OK)
  expect(data.map((e) => fromBinary(SayResponseSchema, e.data).sentence)).toEqual([`echo: ${sentence}`])
  expect(fields["grpc-message"]).toBeUndefined()
}

/** A good unary call and a good server-stream call both succeed on the same transport. */
const expectAlive = async (kind: Kind, tag = "alive") => {
  expectSay(kind, await sendKind(kind, SAY, frame(say(tag))), tag)
  const { data } = expectFull(kind, await sendKind(kind, INTRODUCE, frame(introduce(tag))), OK)
  expect(data.map((e) => fromBinary(IntroduceResponseSchema, e.data).sentence)).toEqual([`hello ${tag}`, `bye ${tag}`])
}

// -----------------------------------------------------------------------------
// server cases
// -----------------------------------------------------------------------------

describe.each(KINDS)("server: $name", (kind) => {
  /** Runs a bad-input case, then checks that good calls on the same server still succeed. */
  const bad = (name: string, f: () => Promise<void>) =>
    it(name, async () => {
      await f()
      await expectAlive(kind)
    })

  it("good calls: the status ends the response (HTTP/2 trailer / 0x80 frame)", async () => {
    const res = await sendKind(kind, SAY, frame(say("hi")))
    expectSay(kind, res, "hi")
    if (kind.web) {
      // the trailer frame's text block carries grpc-status: 0
      const last = parseEnvelopes(res.body).at(-1)!
      expect(Buffer.from(last.data).toString("utf8")).toContain("grpc-status: 0\r\n")
    } else {
      expect(res.trailers["grpc-status"]).toBe("0")
      expect(res.headers["grpc-status"]).toBeUndefined()
    }
    const reflected = expectFull(kind, await sendKind(kind, REFLECT, [frame(reflect("a")), frame(reflect("b"))]), OK)
    expect(reflected.data.map((e) => fromBinary(ReflectResponseSchema, e.data).summary)).toEqual(["a|b"])
    await expectAlive(kind)
  })

  describe("grpc-timeout", () => {
    for (const timeout of ["abc", "1", "123456789S", "10x", "", "-1S", "1.5S"]) {
      bad(`grpc-timeout ${JSON.stringify(timeout)} → invalid_argument, trailers-only`, async () => {
        const unary = await sendKind(kind, SAY, frame(say("x")), { "grpc-timeout": timeout })
        expect(expectTrailersOnly(kind, unary, INVALID_ARGUMENT)["grpc-message"]).toContain("grpc-timeout")
        const stream = await sendKind(kind, INTRODUCE, frame(introduce("x")), { "grpc-timeout": timeout })
        expectTrailersOnly(kind, stream, INVALID_ARGUMENT)
      })
    }
    bad("an 8-digit grpc-timeout is accepted", async () => {
      expectSay(kind, await sendKind(kind, SAY, frame(say("t")), { "grpc-timeout": "99999999S" }), "t")
      expectSay(kind, await sendKind(kind, SAY, frame(say("t")), { "grpc-timeout": "5000000u" }), "t")
    })
  })

  describe("compression", () => {
    bad("unknown grpc-encoding → unimplemented listing gzip, br, zstd", async () => {
      const res = await sendKind(kind, SAY, frame(say("x"), Envelope.FLAG_COMPRESSED), { "grpc-encoding": "foo" })
      const headers = expectTrailersOnly(kind, res, UNIMPLEMENTED)
      expect(headers["grpc-accept-encoding"]!.split(",").map((s) => s.trim())).toEqual(["gzip", "br", "zstd"])
      expect(decodeURIComponent(headers["grpc-message"]!)).toContain("foo")
    })
    bad("compressed flag without grpc-encoding → internal", async () => {
      const res = await sendKind(kind, SAY, frame(zlib.gzipSync(say("x")), Envelope.FLAG_COMPRESSED))
      expectTrailersOnly(kind, res, INTERNAL)
    })
    bad("compressed flag with grpc-encoding: identity → internal", async () => {
      const res = await sendKind(kind, REFLECT, frame(reflect("x"), Envelope.FLAG_COMPRESSED), { "grpc-encoding": "identity" })
      expectTrailersOnly(kind, res, INTERNAL)
    })
    bad("gzip message and gzip response work (sanity)", async () => {
      const res = await sendKind(kind, SAY, frame(zlib.gzipSync(say("gz")), Envelope.FLAG_COMPRESSED), {
        "grpc-encoding": "gzip"
      })
      expectSay(kind, res, "gz")
    })
    bad("corrupt gzip message → invalid_argument", async () => {
      const res = await sendKind(kind, SAY, frame(utf8("definitely not gzip"), Envelope.FLAG_COMPRESSED), { "grpc-encoding": "gzip" })
      expectTrailersOnly(kind, res, INVALID_ARGUMENT)
    })
  })

  describe("sizes and envelopes", () => {
    bad("announced length beyond readMaxBytes → resource_exhausted", async () => {
      const res = await sendKind(kind, SAY, [new Uint8Array([0, 0, 0, 0x08, 0x01])]) // 2049 bytes announced, none sent
      expectTrailersOnly(kind, res, RESOURCE_EXHAUSTED)
    })
    bad("whole message beyond readMaxBytes → resource_exhausted", async () => {
      const res = await sendKind(kind, REFLECT, [frame(reflect("r".repeat(READ_MAX * 4)))])
      expectTrailersOnly(kind, res, RESOURCE_EXHAUSTED)
    })
    bad("gzip message that inflates past readMaxBytes → resource_exhausted", async () => {
      const bomb = gzipBomb()
      expect(bomb.byteLength).toBeLessThan(READ_MAX)
      const res = await sendKind(kind, SAY, frame(bomb, Envelope.FLAG_COMPRESSED), { "grpc-encoding": "gzip" })
      expectTrailersOnly(kind, res, RESOURCE_EXHAUSTED)
    })
    bad("truncated payload → invalid_argument", async () => {
      const whole = frame(say("truncated"))
      const res = await sendKind(kind, SAY, [whole.subarray(0, whole.byteLength - 2)])
      expectTrailersOnly(kind, res, INVALID_ARGUMENT)
    })
    bad("truncated header after a full envelope (client stream) → invalid_argument", async () => {
      const res = await sendKind(kind, REFLECT, [frame(reflect("a")), new Uint8Array([0, 0, 0])])
      expectTrailersOnly(kind, res, INVALID_ARGUMENT)
    })
    bad("invalid binary proto → invalid_argument", async () => {
      for (const body of [new Uint8Array([0x0a, 0x7f, 0x41]), new Uint8Array([0x0f, 0x01])]) {
        expectTrailersOnly(kind, await sendKind(kind, SAY, frame(body)), INVALID_ARGUMENT)
      }
    })
    bad("unary method with zero request messages → unimplemented", async () => {
      expectTrailersOnly(kind, await sendKind(kind, SAY, new Uint8Array(0)), UNIMPLEMENTED)
    })
    bad("unary method with two request messages → unimplemented", async () => {
      expectTrailersOnly(kind, await sendKind(kind, SAY, [frame(say("a")), frame(say("b"))]), UNIMPLEMENTED)
    })
    bad("server-stream method with zero request messages → unimplemented", async () => {
      expectTrailersOnly(kind, await sendKind(kind, INTRODUCE, new Uint8Array(0)), UNIMPLEMENTED)
    })
    if (kind.web) {
      bad("a trailer frame (0x80) sent by the client → invalid_argument", async () => {
        const block = utf8("grpc-status: 0\r\n")
        expectTrailersOnly(kind, await sendKind(kind, SAY, frame(block, Envelope.FLAG_TRAILERS)), INVALID_ARGUMENT)
        expectTrailersOnly(kind, await sendKind(kind, SAY, [frame(say("a")), frame(block, Envelope.FLAG_TRAILERS)]), INVALID_ARGUMENT)
        expectTrailersOnly(
          kind,
          await sendKind(kind, REFLECT, [frame(reflect("a")), frame(block, Envelope.FLAG_TRAILERS)]),
          INVALID_ARGUMENT
        )
      })
    }
  })

  describe("content types", () => {
    for (const contentType of ["application/grpc+foo", "application/grpc-web+foo", "application/grpcx"]) {
      bad(`content-type ${contentType} → HTTP 415`, async () => {
        const res = await (kind.version === "1.1" ? send1 : send2)({
          path: SAY,
          headers: { ...headersOf(kind), "content-type": contentType },
          body: frame(say("x"))
        })
        expect(res.status).toBe(415)
        expect(res.headers["grpc-status"]).toBeUndefined()
        expect(res.body.byteLength).toBe(0)
      })
    }
    bad("content-type without +proto is answered with the same content type", async () => {
      const base = kind.web ? "application/grpc-web" : "application/grpc"
      const res = await (kind.version === "1.1" ? send1 : send2)({
        path: SAY,
        headers: { ...headersOf(kind), "content-type": base },
        body: frame(say("x"))
      })
      expect(res.headers["content-type"]).toBe(base)
    })
  })

  describe("errors", () => {
    bad("error with details: percent-encoded grpc-message, unpadded grpc-status-details-bin (trailers-only)", async () => {
      const headers = expectTrailersOnly(kind, await sendKind(kind, SAY, frame(say("details"))), FAILED_PRECONDITION)
      expect(headers["grpc-message"]).toBe("h%C3%A9llo %F0%9F%98%88 100%25")
      const status = expectDetailsBin(headers, FAILED_PRECONDITION, TRICKY_MESSAGE)
      expect(status.details.map((d) => ({ typeUrl: d.typeUrl, value: new Uint8Array(d.value) }))).toEqual([{ typeUrl: "type.googleapis.com/google.protobuf.StringValue", value: new Uint8Array(TRICKY_DETAIL.value) }])
    })
    bad("error with details after a message: the status comes at the end", async () => {
      const { data, fields } = expectFull(kind, await sendKind(kind, INTRODUCE, frame(introduce("details"))), FAILED_PRECONDITION)
      expect(data.map((e) => fromBinary(IntroduceResponseSchema, e.data).sentence)).toEqual(["first"])
      expect(fields["grpc-message"]).toBe("h%C3%A9llo %F0%9F%98%88 100%25")
      expectDetailsBin(fields, FAILED_PRECONDITION, TRICKY_MESSAGE)
    })
    it("the details-bin of the case above needs padding in padded base64 (so 'unpadded' is really checked)", async () => {
      const headers = (await sendKind(kind, SAY, frame(say("details")))).headers
      const bin = headers["grpc-status-details-bin"]!
      expect(Buffer.from(bin, "base64").byteLength % 3).not.toBe(0)
    })
  })
})

// -----------------------------------------------------------------------------
// the client against the real server (round trip of tricky messages and details)
// -----------------------------------------------------------------------------

type ClientKind = { readonly name: string; readonly web: boolean; readonly httpVersion: Version }

const CLIENT_KINDS: ReadonlyArray<ClientKind> = [
  { name: "gRPC", web: false, httpVersion: "2" },
  { name: "gRPC-Web HTTP/1.1", web: true, httpVersion: "1.1" },
  { name: "gRPC-Web HTTP/2", web: true, httpVersion: "2" }
]

const clientLayer = (kind: ClientKind, baseUrl: string) =>
  ElizaClient.layer.pipe(
    Layer.provide(
      kind.web ? NodeTransport.layerGrpcWeb({ baseUrl, httpVersion: kind.httpVersion }) : NodeTransport.layerGrpc({ baseUrl })
    )
  )

/** Runs a client effect, bounded: a hang fails with a timeout instead of stalling. */
const runClient = <A, E>(kind: ClientKind, baseUrl: string, effect: Effect.Effect<A, E, ElizaClient>): Promise<A> =>
  Effect.runPromise(
    effect.pipe(Effect.provide(clientLayer(kind, baseUrl)), Effect.timeout(REQUEST_TIMEOUT_MS + 1000)) as Effect.Effect<A>
  )

/** Runs a client call that must fail; resolves with its ConnectError. */
const callError = async <A, E>(kind: ClientKind, baseUrl: string, effect: Effect.Effect<A, E, ElizaClient>) => {
  const result = await runClient(
    kind,
    baseUrl,
    Effect.matchEffect(effect, {
      onFailure: (e) => Effect.succeed(e),
      onSuccess: (a) => Effect.die(new Error(`expected a failure, got ${JSON.stringify(a)}`))
    })
  )
  expect(ConnectError.isConnectError(result), String(result)).toBe(true)
  return result as unknown as ConnectError.ConnectError
}

describe.each(CLIENT_KINDS)("client $name ↔ connect-effect server", (kind) => {
  it("decodes a percent-encoded message and the details exactly (trailers-only and after messages)", async () => {
    const unary = await callError(
      kind,
      info.url,
      Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "details" }, { timeoutMs: REQUEST_TIMEOUT_MS }))
    )
    const stream = await callError(
      kind,
      info.url,
      Effect.flatMap(Effect.service(ElizaClient), (c) =>
        Stream.runCollect(c.introduce({ name: "details" }, { timeoutMs: REQUEST_TIMEOUT_MS })))
    )
    for (const error of [unary, stream]) {
      expect(error.code).toBe("failed_precondition")
      expect(error.message).toBe(TRICKY_MESSAGE)
      expect(ConnectError.findDetails(error, StringValueSchema).map((d) => d.value)).toEqual(["details"])
    }
    const ok = await runClient(kind, info.url, Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "ok" })))
    expect(ok.sentence).toBe("echo: ok")
  })
})

// -----------------------------------------------------------------------------
// client cases against misbehaving servers
// -----------------------------------------------------------------------------

const RAW_KINDS: ReadonlyArray<ClientKind & { readonly url: () => string }> = [
  { name: "gRPC (h2c)", web: false, httpVersion: "2", url: () => rawH2Url },
  { name: "gRPC-Web (HTTP/1.1)", web: true, httpVersion: "1.1", url: () => rawH1Url },
  { name: "gRPC-Web (h2c)", web: true, httpVersion: "2", url: () => rawH2Url }
]

describe.each(RAW_KINDS)("client $name against a misbehaving server", (kind) => {
  const ct = kind.web ? "application/grpc-web+proto" : "application/grpc+proto"
  const okFrame = frame(sayResponse("fine"))
  /** A full response: messages, then the status (HTTP/2 trailers for gRPC, a 0x80 frame for gRPC-Web). */
  const full = (body: Uint8Array, status: Record<string, string>, headers: Record<string, string> = {}): Script =>
    kind.web
      ? { headers: { "content-type": ct, ...headers }, body: concat(body, frame(trailerBlock(status), Envelope.FLAG_TRAILERS)) }
      : { headers: { "content-type": ct, ...headers }, body, trailers: status }
  const trailerBlock = (fields: Record<string, string>) => utf8(Object.entries(fields).map(([k, v]) => `${k}: ${v}\r\n`).join(""))

  /** Calls Say against a script; resolves with the error, checking the request looked like gRPC(-Web). */
  const sayError = async (s: Script, options: { onTrailers?: (t: Headers) => void } = {}) => {
    const id = script(s)
    const error = await callError(
      kind,
      kind.url(),
      Effect.flatMap(Effect.service(ElizaClient), (c) =>
        c.say({ sentence: "x" }, { headers: { "x-case": id }, timeoutMs: REQUEST_TIMEOUT_MS, ...options }))
    )
    const request = seen.get(id)!
    expect(request["content-type"]).toBe(ct)
    if (!kind.web) expect(request["te"]).toBe("trailers")
    return error
  }
  const expectCode = async (s: Script, code: Code.Code) => {
    const error = await sayError(s)
    expect(error.code, error.message).toBe(code)
    return error
  }

  it("a well-formed response works (sanity)", async () => {
    const id = script(full(okFrame, { "grpc-status": "0" }))
    const res = await runClient(
      kind,
      kind.url(),
      Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "x" }, { headers: { "x-case": id }, timeoutMs: REQUEST_TIMEOUT_MS }))
    )
    expect(res.sentence).toBe("fine")
  })

  if (!kind.web) {
    it("messages, then trailers without grpc-status → internal", async () => {
      const error = await expectCode({ headers: { "content-type": ct }, body: okFrame, trailers: { "x-other": "1" } }, "internal")
      expect(error.message).toContain("grpc-status")
    })
    it("messages, then no trailers at all → internal", async () => {
      await expectCode({ headers: { "content-type": ct }, body: okFrame }, "internal")
    })
  } else {
    it("trailer frame with a line without a colon → internal", async () => {
      const body = concat(okFrame, frame(utf8("grpc-status: 0\r\nno colon here\r\n"), Envelope.FLAG_TRAILERS))
      await expectCode({ headers: { "content-type": ct }, body }, "internal")
    })
    it("trailer frame with a header name that is not a token → internal", async () => {
      const body = concat(okFrame, frame(utf8("grpc-status: 0\r\nbad name: 1\r\n"), Envelope.FLAG_TRAILERS))
      await expectCode({ headers: { "content-type": ct }, body }, "internal")
    })
    it("no trailer frame → internal", async () => {
      await expectCode({ headers: { "content-type": ct }, body: okFrame }, "internal")
    })
    it("empty body and no grpc-status anywhere → internal", async () => {
      await expectCode({ headers: { "content-type": ct } }, "internal")
    })
    it("data after the trailer frame → internal (unary and server stream, same chunk)", async () => {
      const body = concat(okFrame, frame(trailerBlock({ "grpc-status": "0" }), Envelope.FLAG_TRAILERS), okFrame)
      await expectCode({ headers: { "content-type": ct }, body }, "internal")
      const id = script({
        headers: { "content-type": ct },
        body: concat(
          frame(toBinary(IntroduceResponseSchema, create(IntroduceResponseSchema, { sentence: "one" }))),
          frame(trailerBlock({ "grpc-status": "0" }), Envelope.FLAG_TRAILERS),
          frame(toBinary(IntroduceResponseSchema, create(IntroduceResponseSchema, { sentence: "smuggled" })))
        )
      })
      const received: Array<string> = []
      const error = await callError(
        kind,
        kind.url(),
        Effect.flatMap(Effect.service(ElizaClient), (c) =>
          Stream.runForEach(
            c.introduce({ name: "x" }, { headers: { "x-case": id }, timeoutMs: REQUEST_TIMEOUT_MS }),
            (m) => Effect.sync(() => received.push(m.sentence))
          ))
      )
      expect(error.code, error.message).toBe("internal")
      expect(received).not.toContain("smuggled")
    })
    it("truncated trailer frame → internal", async () => {
      const trailer = frame(trailerBlock({ "grpc-status": "0" }), Envelope.FLAG_TRAILERS)
      await expectCode({ headers: { "content-type": ct }, body: concat(okFrame, trailer.subarray(0, trailer.byteLength - 3)) }, "internal")
    })
  }

  const httpStatuses: ReadonlyArray<readonly [number, Code.Code]> = [
    [503, "unavailable"],
    [404, "unimplemented"],
    [429, "unavailable"],
    [401, "unauthenticated"],
    [403, "permission_denied"],
    [400, "internal"],
    [502, "unavailable"],
    [504, "unavailable"],
    [500, "unknown"]
  ]
  for (const [status, code] of httpStatuses) {
    it(`HTTP ${status} → ${code}`, async () => {
      await expectCode({ status, headers: { "content-type": "text/plain" }, body: utf8("nope") }, code)
    })
  }
  it("HTTP 503 with a grpc-status in the headers still maps from the HTTP status → unavailable", async () => {
    await expectCode({ status: 503, headers: { "content-type": ct, "grpc-status": "3" } }, "unavailable")
  })

  it("compressed flag without grpc-encoding → internal", async () => {
    await expectCode(full(frame(zlib.gzipSync(sayResponse("z")), Envelope.FLAG_COMPRESSED), { "grpc-status": "0" }), "internal")
  })
  it("compressed flag with grpc-encoding: identity → internal", async () => {
    await expectCode(
      full(frame(sayResponse("z"), Envelope.FLAG_COMPRESSED), { "grpc-status": "0" }, { "grpc-encoding": "identity" }),
      "internal"
    )
  })
  it("unknown grpc-encoding in the response → internal", async () => {
    await expectCode(full(frame(sayResponse("z"), Envelope.FLAG_COMPRESSED), { "grpc-status": "0" }, { "grpc-encoding": "foo" }), "internal")
  })
  it("gzip response works (sanity)", async () => {
    const id = script(full(frame(zlib.gzipSync(sayResponse("gz")), Envelope.FLAG_COMPRESSED), { "grpc-status": "0" }, { "grpc-encoding": "gzip" }))
    const res = await runClient(
      kind,
      kind.url(),
      Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence: "x" }, { headers: { "x-case": id }, timeoutMs: REQUEST_TIMEOUT_MS }))
    )
    expect(res.sentence).toBe("gz")
  })
  it("corrupt response message → internal", async () => {
    await expectCode(full(frame(new Uint8Array([0x0a, 0x7f, 0x41])), { "grpc-status": "0" }), "internal")
  })
  it("truncated response envelope → internal", async () => {
    await expectCode(full(okFrame.subarray(0, okFrame.byteLength - 1), { "grpc-status": "0" }), "internal")
  })

  it("trailers-only error → its code, message and details", async () => {
    const details = [ConnectError.detail(StringValueSchema, { value: "why" })]
    const message = "no entry — é"
    const bin = Buffer.from(encodeStatus(7, message, details)).toString("base64").replace(/=+$/, "")
    let trailers: Headers | undefined
    const error = await sayError(
      {
        headers: {
          "content-type": ct,
          "grpc-status": "7",
          "grpc-message": ProtocolGrpc.encodeMessageHeader(message),
          "grpc-status-details-bin": bin,
          "x-meta": "m"
        }
      },
      { onTrailers: (t) => (trailers = t) }
    )
    expect({ code: error.code, message: error.message }).toEqual({ code: "permission_denied", message })
    expect(ConnectError.findDetails(error, StringValueSchema).map((d) => d.value)).toEqual(["why"])
    expect(error.metadata?.get("x-meta")).toBe("m")
    expect(trailers).toBeDefined()
  })
  it("trailers-only error with a padded details-bin and no grpc-message → the details' message", async () => {
    const details = [ConnectError.detail(StringValueSchema, { value: "padded" })]
    const raw = encodeStatus(5, "from details", details)
    const padded = Buffer.from(raw).toString("base64")
    const error = await sayError({ headers: { "content-type": ct, "grpc-status": "5", "grpc-status-details-bin": padded } })
    expect({ code: error.code, message: error.message }).toEqual({ code: "not_found", message: "from details" })
    expect(ConnectError.findDetails(error, StringValueSchema).map((d) => d.value)).toEqual(["padded"])
  })
  it("error status after a message (in the trailers / trailer frame) → its code and message", async () => {
    const error = await sayError(full(okFrame, { "grpc-status": "14", "grpc-message": "try%20again" }))
    expect({ code: error.code, message: error.message }).toEqual({ code: "unavailable", message: "try again" })
  })
  it("error status with no message at all (in the trailers / trailer frame) → its code", async () => {
    const error = await sayError(full(new Uint8Array(0), { "grpc-status": "14", "grpc-message": "try%20again" }))
    expect({ code: error.code, message: error.message }).toEqual({ code: "unavailable", message: "try again" })
  })

  it("content-type text/html on a 200 → unknown", async () => {
    await expectCode({ headers: { "content-type": "text/html" }, body: utf8("<html>hello</html>") }, "unknown")
  })
  it(`content-type of the other gRPC flavour on a 200 → unknown`, async () => {
    const other = kind.web ? "application/grpc+proto" : "application/grpc-web+proto"
    await expectCode({ headers: { "content-type": other, "grpc-status": "0" } }, "unknown")
  })
  it("grpc-status: 2 without a message → unknown", async () => {
    const error = await expectCode({ headers: { "content-type": ct, "grpc-status": String(UNKNOWN) } }, "unknown")
    expect(error.message).toBe("")
    const after = await expectCode(full(okFrame, { "grpc-status": "2" }), "unknown")
    expect(after.message).toBe("")
  })
  it("non-numeric grpc-status → unknown", async () => {
    // (whitespace around a value is not part of it: nghttp2 drops " ", HTTP/1.1 trims "1 ")
    for (const status of ["abc", "1.0", "-1", "0x1", "1a"]) {
      await expectCode({ headers: { "content-type": ct, "grpc-status": status, "grpc-message": "m" } }, "unknown")
    }
    await expectCode(full(okFrame, { "grpc-status": "ok" }), "unknown")
  })
  it("grpc-status beyond the known codes → unknown", async () => {
    await expectCode({ headers: { "content-type": ct, "grpc-status": "17" } }, "unknown")
  })

  it("-bin trailers (unpadded and padded base64) reach onTrailers intact and decode to the bytes", async () => {
    const bytes = new Uint8Array([0, 1, 2, 0xfe, 0xff])
    const unpadded = Buffer.from(bytes).toString("base64").replace(/=+$/, "")
    const padded = Buffer.from(bytes).toString("base64")
    expect(padded).not.toBe(unpadded)
    for (const value of [unpadded, padded]) {
      const id = script(full(okFrame, { "grpc-status": "0", "x-data-bin": value }))
      let trailers: Headers | undefined
      const res = await runClient(
        kind,
        kind.url(),
        Effect.flatMap(Effect.service(ElizaClient), (c) =>
          c.say({ sentence: "x" }, { headers: { "x-case": id }, timeoutMs: REQUEST_TIMEOUT_MS, onTrailers: (t) => (trailers = t) }))
      )
      expect(res.sentence).toBe("fine")
      expect(trailers?.get("x-data-bin")).toBe(value)
      expect(trailers?.has("grpc-status")).toBe(false)
      expect(ProtocolGrpc.decodeBinaryHeader(trailers!.get("x-data-bin")!)).toEqual(bytes)
    }
  })
})
