/**
 * HTTP/2 request header limits over real sockets, from a raw client that really sends the bytes
 * (fixtures/h2raw.ts: Node's own client will not send a block over the server's announced
 * SETTINGS_MAX_HEADER_LIST_SIZE). Each case runs twice: with the request sent right away, before
 * the client acknowledged the server's SETTINGS (what curl, Go and browsers do, and where nghttp2
 * does not apply the announced limit yet), and after the SETTINGS exchange.
 *
 * What the server does, by size of the request's header block:
 * - header list (name + value + 32 per field) up to `maxHeaderSize`: served;
 * - over it, or more than 256 fields: RST_STREAM(ENHANCE_YOUR_CALM) on that stream only, the
 *   handler never runs, other streams on the connection carry on;
 * - a single name or value over 65536 bytes (nghttp2's HPACK decoder limit): GOAWAY(COMPRESSION_ERROR)
 *   and the connection closes (RFC 9113 §4.3: a block the decoder cannot decode is a connection error);
 * - a block in more than 9 frames (HEADERS + 8 CONTINUATION, nghttp2's CVE-2024-28182 limit: over
 *   147456 bytes of HPACK in 16 KiB frames): GOAWAY(ENHANCE_YOUR_CALM) and the connection closes.
 */
import * as http2 from "node:http2"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import type { ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"
import * as Certs from "./certs.ts"
import * as H2 from "./fixtures/h2raw.ts"

const { NGHTTP2_COMPRESSION_ERROR: COMPRESSION_ERROR, NGHTTP2_ENHANCE_YOUR_CALM: ENHANCE_YOUR_CALM } = http2.constants
const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6
const SAY = "/connectrpc.eliza.v1.ElizaService/Say"
const SMALL = 4096

/** Sentences the Say handler saw: a refused request must never reach it. */
const seen: Array<string> = []

const handlers: ElizaServiceHandlers = {
  say: (request) =>
    Effect.sync(() => {
      seen.push(request.sentence)
      return { sentence: `echo: ${request.sentence}` }
    }),
  introduce: () => Stream.empty,
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence })),
  reflect: () => Effect.succeed({ summary: "" })
}


let scope: Scope.Closeable
/** All defaults (maxHeaderSize 16 KiB). */
let defaults: NodeServer.Info
/** maxHeaderSize 4096. */
let small: NodeServer.Info
/** Defaults over TLS (ALPN h2), when openssl is there. */
let secure: NodeServer.Info | undefined

const start = async (options: NodeServer.Options) => {
  const layer = NodeServer.layerRouter(Router.service(Router.empty, ElizaService, handlers), { port: 0, ...options })
  return Context.get(await Effect.runPromise(Layer.buildWithScope(layer, scope)), NodeServer.NodeServer)
}

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  defaults = await start({})
  small = await start({ maxHeaderSize: SMALL })
  const certs = Certs.generate()
  secure = await start({ tls: { cert: certs.serverCert, key: certs.serverKey } })
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

beforeEach(() => {
  seen.length = 0
})

type Timing = "right away" | "after the SETTINGS exchange"
const timings: ReadonlyArray<Timing> = ["right away", "after the SETTINGS exchange"]

const open = async (info: NodeServer.Info, timing: Timing): Promise<H2.RawH2> => {
  const c = await H2.connect(info.port, info.url.startsWith("https:") ? { tls: { ca: Certs.generate().ca } } : {})
  if (timing === "after the SETTINGS exchange") {
    await c.until(() => c.settingsAcked() && c.serverSettings() !== undefined, 3000, "SETTINGS exchange")
  } else {
    // nothing read yet: the first request goes out before our ACK of the server's SETTINGS
    expect(c.serverSettings()).toBeUndefined()
  }
  return c
}

type Fields = Array<[string, string]>

const requestHeaders = (info: NodeServer.Info, extra: Fields = [], method = "POST", path = SAY): Fields => [
  [":method", method],
  [":scheme", info.url.startsWith("https:") ? "https" : "http"],
  [":path", path],
  [":authority", `${info.host}:${info.port}`],
  ["content-type", "application/json"],
  ...extra
]

/** Extra fields that make the request's header list exactly `size` bytes (one `x-big` field). */
const padTo = (info: NodeServer.Info, size: number): Fields => {
  const rest = size - H2.headerListSize(requestHeaders(info)) - "x-big".length - 32
  return [["x-big", "a".repeat(rest)]]
}

const bigFields = (count: number, length: number): Fields =>
  Array.from({ length: count }, (_, i) => [`x-big-${i}`, "a".repeat(length)] as [string, string])

/** Starts a Connect unary JSON call of Say on `id` (the body follows with {@link finishSay}). */
const startSay = (c: H2.RawH2, info: NodeServer.Info, id: number, extra: Fields = []): void =>
  c.headers(id, requestHeaders(info, extra))

const finishSay = (c: H2.RawH2, id: number, sentence: string): Promise<H2.StreamResult> => {
  c.data(id, Buffer.from(JSON.stringify({ sentence })), true)
  return c.finished(id)
}

const say = (c: H2.RawH2, info: NodeServer.Info, id: number, sentence: string, extra: Fields = []) => {
  startSay(c, info, id, extra)
  return finishSay(c, id, sentence)
}

const expectEcho = (r: H2.StreamResult, sentence: string): void => {
  expect({ status: r.status, rstCode: r.rstCode }).toEqual({ status: 200, rstCode: undefined })
  expect(JSON.parse(Buffer.concat(r.data).toString())).toEqual({ sentence: `echo: ${sentence}` })
}

/** Refused on its stream: RST_STREAM(ENHANCE_YOUR_CALM), no response, the handler not run. */
const expectRefused = (r: H2.StreamResult, sentence: string): void => {
  expect({ status: r.status, rstCode: r.rstCode, data: r.data.length }).toEqual({
    status: undefined,
    rstCode: ENHANCE_YOUR_CALM,
    data: 0
  })
  expect(seen).not.toContain(sentence)
}

/** The refused stream costs nothing else: the connection is up and serves the next call. */
const expectConnectionUsable = async (c: H2.RawH2, info: NodeServer.Info, id: number): Promise<void> => {
  expect({ goaway: c.goaway(), closed: c.closed() }).toEqual({ goaway: undefined, closed: false })
  expectEcho(await say(c, info, id, `after ${id}`), `after ${id}`)
}

/** The connection ends with GOAWAY(`code`) (never INTERNAL_ERROR); the server serves new ones. */
const expectConnectionEnded = async (c: H2.RawH2, info: NodeServer.Info, timing: Timing, code: number, sentence: string) => {
  await c.until(() => c.closed(), 5000, "connection close")
  expect(c.goaway()?.code).toBe(code)
  expect(seen).not.toContain(sentence)
  const next = await open(info, timing)
  try {
    expectEcho(await say(next, info, 1, "new connection"), "new connection")
  } finally {
    next.close()
  }
}

/** Runs `f` on a fresh connection, closed afterwards. */
const withConnection = async (info: NodeServer.Info, timing: Timing, f: (c: H2.RawH2) => Promise<void>) => {
  const c = await open(info, timing)
  try {
    await f(c)
  } finally {
    c.close()
  }
}

for (const timing of timings) {
  describe(`HTTP/2 header limits, request sent ${timing}`, () => {
    it("default 16 KiB: a 32 KiB header is refused on its stream; an in-flight call and a new one succeed", () =>
      withConnection(defaults, timing, async (c) => {
        // stream 1 is in flight (headers sent, body not yet) while stream 3 is refused
        startSay(c, defaults, 1)
        expectRefused(await say(c, defaults, 3, "too big 32k", [["x-big", "a".repeat(32 * 1024)]]), "too big 32k")
        expectEcho(await finishSay(c, 1, "in flight"), "in flight")
        expect(c.serverSettings()?.get(SETTINGS_MAX_HEADER_LIST_SIZE)).toBe(16 * 1024)
        await expectConnectionUsable(c, defaults, 5)
      }))

    it("default 16 KiB: a header list of exactly 16384 bytes is served, 16385 is refused", async () => {
      const at = padTo(defaults, 16 * 1024)
      expect(H2.headerListSize(requestHeaders(defaults, at))).toBe(16 * 1024)
      // each as the first request of its connection, then the other one
      await withConnection(defaults, timing, async (c) => {
        expectEcho(await say(c, defaults, 1, "at the limit", at), "at the limit")
        expectRefused(await say(c, defaults, 3, "one over", padTo(defaults, 16 * 1024 + 1)), "one over")
        await expectConnectionUsable(c, defaults, 5)
      })
      await withConnection(defaults, timing, async (c) => {
        expectRefused(await say(c, defaults, 1, "first one over", padTo(defaults, 16 * 1024 + 1)), "first one over")
        expectEcho(await say(c, defaults, 3, "then at the limit", at), "then at the limit")
      })
    })

    it("maxHeaderSize 4096: announced, a 60 KB header refused, 4096 bytes served, 4097 refused", () =>
      withConnection(small, timing, async (c) => {
        expectRefused(await say(c, small, 1, "too big 60k", bigFields(1, 60_000)), "too big 60k")
        expect(c.serverSettings()?.get(SETTINGS_MAX_HEADER_LIST_SIZE)).toBe(SMALL)
        expectEcho(await say(c, small, 3, "small at the limit", padTo(small, SMALL)), "small at the limit")
        expectRefused(await say(c, small, 5, "small one over", padTo(small, SMALL + 1)), "small one over")
        await expectConnectionUsable(c, small, 7)
      }))

    it("two 60 KB headers (120 KB, within nghttp2's 9 frames) are refused on their stream", () =>
      withConnection(defaults, timing, async (c) => {
        expectRefused(await say(c, defaults, 1, "two 60k", bigFields(2, 60_000)), "two 60k")
        await expectConnectionUsable(c, defaults, 3)
      }))

    it("a 65536-byte header (nghttp2's largest field) is refused on its stream", () =>
      withConnection(defaults, timing, async (c) => {
        expectRefused(await say(c, defaults, 1, "field 64k", bigFields(1, 65_536)), "field 64k")
        await expectConnectionUsable(c, defaults, 3)
      }))

    it("more than 256 header fields (each small) are refused on their stream", () =>
      withConnection(defaults, timing, async (c) => {
        const many = Array.from({ length: 300 }, (_, i) => [`x-f${i}`, "v"] as [string, string])
        expect(H2.headerListSize(requestHeaders(defaults, many))).toBeLessThan(16 * 1024)
        expectRefused(await say(c, defaults, 1, "many fields", many), "many fields")
        await expectConnectionUsable(c, defaults, 3)
      }))

    it("four 60 KB headers (over 9 frames: HEADERS + 8 CONTINUATION) end the connection with GOAWAY(ENHANCE_YOUR_CALM)", () =>
      withConnection(defaults, timing, async (c) => {
        const fields = bigFields(4, 60_000)
        expect(H2.encodeHeaderBlock(requestHeaders(defaults, fields)).length).toBeGreaterThan(9 * H2.DEFAULT_MAX_FRAME_SIZE)
        say(c, defaults, 1, "four 60k", fields).catch(() => {})
        await expectConnectionEnded(c, defaults, timing, ENHANCE_YOUR_CALM, "four 60k")
      }))

    it("one header over 65536 bytes ends the connection with GOAWAY(COMPRESSION_ERROR)", () =>
      withConnection(defaults, timing, async (c) => {
        say(c, defaults, 1, "field over 64k", bigFields(1, 65_537)).catch(() => {})
        await expectConnectionEnded(c, defaults, timing, COMPRESSION_ERROR, "field over 64k")
      }))

    it("Connect GET: a small query is served, a 1 MiB query ends the connection with GOAWAY(COMPRESSION_ERROR)", () =>
      withConnection(defaults, timing, async (c) => {
        const get = (sentence: string) =>
          `${SAY}?connect=v1&encoding=json&message=${encodeURIComponent(JSON.stringify({ sentence }))}`
        c.headers(1, requestHeaders(defaults, [], "GET", get("get")).filter(([name]) => name !== "content-type"), { endStream: true })
        expectEcho(await c.finished(1), "get")
        const huge = "h".repeat(1 << 20)
        c.headers(3, requestHeaders(defaults, [], "GET", get(huge)).filter(([name]) => name !== "content-type"), { endStream: true })
        await expectConnectionEnded(c, defaults, timing, COMPRESSION_ERROR, huge)
      }))
  })

  describe(`HTTP/2 over TLS (ALPN h2) header limits, request sent ${timing}`, () => {
    it("a 32 KiB header is refused on its stream, the connection serves the next call", () =>
      withConnection(secure!, timing, async (c) => {
        expect((c.socket as import("node:tls").TLSSocket).alpnProtocol).toBe("h2")
        expectRefused(await say(c, secure!, 1, "tls too big", [["x-big", "a".repeat(32 * 1024)]]), "tls too big")
        expectEcho(await say(c, secure!, 3, "tls at the limit", padTo(secure!, 16 * 1024)), "tls at the limit")
        await expectConnectionUsable(c, secure!, 5)
      }))

    it("four 60 KB headers end the connection with GOAWAY(ENHANCE_YOUR_CALM)", () =>
      withConnection(secure!, timing, async (c) => {
        say(c, secure!, 1, "tls four 60k", bigFields(4, 60_000)).catch(() => {})
        await expectConnectionEnded(c, secure!, timing, ENHANCE_YOUR_CALM, "tls four 60k")
      }))
  })
}
