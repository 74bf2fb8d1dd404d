/**
 * `readMaxBytes` over real sockets, for every protocol, on both sides: a message of exactly the
 * limit passes, one byte more fails with `resource_exhausted`, and the error names the configured
 * limit (not an internal read limit with envelope or trailer headroom added).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import type { ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaClient } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

/** The server's default `readMaxBytes`. */
const SERVER_MAX = 4 * 1024 * 1024
/** The clients' `readMaxBytes` in the response tests. */
const CLIENT_MAX = 1000

/** N pseudo-random letters: incompressible enough that a compressed response stays past the limits. */
const noise = (n: number) => {
  const chars = new Array<string>(n)
  let x = 2463534242
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    chars[i] = String.fromCharCode(97 + ((x >>> 0) % 26))
  }
  return chars.join("")
}

/** `say("reply:N")` answers a sentence of N bytes; anything else answers its own length. */
const handlers: ElizaServiceHandlers = {
  say: (request) =>
    Effect.succeed({
      sentence: request.sentence.startsWith("reply:") ? noise(Number(request.sentence.slice(6))) : String(request.sentence.length)
    }),
  introduce: () => Stream.empty,
  converse: () => Stream.empty,
  reflect: () => Effect.succeed({ summary: "" })
}

/** The length of a sentence whose SayRequest / SayResponse encodes to `size` bytes (tag, varint length, bytes). */
const sentenceFor = (size: number) => {
  let n = size - 2
  while (1 + varintSize(n) + n > size) n--
  expect(1 + varintSize(n) + n).toBe(size)
  return n
}
const varintSize = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4)

let scope: Scope.Closeable
let baseUrl = ""
/** A server whose writeMaxBytes is SERVER_WRITE_MAX. */
let smallWriteUrl = ""
const SERVER_WRITE_MAX = 1000

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const ctx = await Effect.runPromise(
    Layer.buildWithScope(NodeServer.layerRouter(Router.service(Router.empty, ElizaService, handlers), { port: 0 }), scope)
  )
  baseUrl = Context.get(ctx, NodeServer.NodeServer).url
  const small = await Effect.runPromise(
    Layer.buildWithScope(
      NodeServer.layerRouter(Router.service(Router.empty, ElizaService, handlers), { port: 0, writeMaxBytes: SERVER_WRITE_MAX }),
      scope
    )
  )
  smallWriteUrl = Context.get(small, NodeServer.NodeServer).url
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

type Protocol = "connect" | "grpc" | "grpc-web"

const kinds: ReadonlyArray<{ protocol: Protocol; httpVersion: "1.1" | "2" }> = [
  { protocol: "grpc", httpVersion: "2" },
  { protocol: "grpc-web", httpVersion: "2" },
  { protocol: "grpc-web", httpVersion: "1.1" },
  { protocol: "connect", httpVersion: "2" },
  { protocol: "connect", httpVersion: "1.1" }
]

/** Calls `say` with a client of `protocol`; the response sentence, or the ConnectError. */
const say = (
  kind: { protocol: Protocol; httpVersion: "1.1" | "2" },
  sentence: string,
  options: { readMaxBytes?: number; writeMaxBytes?: number } = {},
  url: string = baseUrl
): Promise<string | ConnectError.ConnectError> => {
  const transportOptions = { baseUrl: url, httpVersion: kind.httpVersion, ...options }
  const transport = kind.protocol === "grpc"
    ? NodeTransport.layerGrpc(transportOptions)
    : kind.protocol === "grpc-web"
    ? NodeTransport.layerGrpcWeb(transportOptions)
    : NodeTransport.layerConnect(transportOptions)
  return Effect.runPromiseExit(
    Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence })).pipe(
      Effect.provide(ElizaClient.layer.pipe(Layer.provide(transport)))
    )
  ).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value.sentence
    const error = Cause.squash(exit.cause)
    if (ConnectError.isConnectError(error)) return error
    throw error
  })
}

const expectTooLarge = (result: string | ConnectError.ConnectError, limit: number) => {
  expect(ConnectError.isConnectError(result), `expected resource_exhausted, got ${String(result).slice(0, 100)}`).toBe(true)
  const error = result as ConnectError.ConnectError
  expect(error.code).toBe("resource_exhausted")
  // the limit the message names is the configured one, not an internal read limit
  expect(error.message).toMatch(/configured max \d+/)
  expect(error.message.match(/configured max (\d+)/)![1]).toBe(String(limit))
}

describe("readMaxBytes on the server (default 4 MiB)", () => {
  for (const kind of kinds) {
    it(`${kind.protocol} over HTTP/${kind.httpVersion}: exactly readMaxBytes is accepted, one byte more is resource_exhausted naming the limit`, async () => {
      const atLimit = sentenceFor(SERVER_MAX)
      const options = { writeMaxBytes: 2 * SERVER_MAX }
      expect(await say(kind, "a".repeat(atLimit), options)).toBe(String(atLimit))
      expectTooLarge(await say(kind, "a".repeat(atLimit + 1), options), SERVER_MAX)
    })
  }
})

describe("readMaxBytes on the client", () => {
  for (const kind of kinds) {
    it(`${kind.protocol} over HTTP/${kind.httpVersion}: a response of exactly readMaxBytes is accepted, larger ones are resource_exhausted naming the limit`, async () => {
      const options = { readMaxBytes: CLIENT_MAX }
      const atLimit = sentenceFor(CLIENT_MAX)
      expect(await say(kind, `reply:${atLimit}`, options)).toBe(noise(atLimit))
      expectTooLarge(await say(kind, `reply:${atLimit + 1}`, options), CLIENT_MAX)
      // far past the limit, beyond any read headroom (a gRPC-Web trailer frame, 64 KiB)
      expectTooLarge(await say(kind, `reply:${200_000}`, options), CLIENT_MAX)
    })
  }
})

describe("writeMaxBytes on the server", () => {
  for (const kind of kinds) {
    it(`${kind.protocol} over HTTP/${kind.httpVersion}: a response of exactly writeMaxBytes is sent, a larger one fails the call with resource_exhausted naming the limit`, async () => {
      const atLimit = sentenceFor(SERVER_WRITE_MAX)
      expect(await say(kind, `reply:${atLimit}`, {}, smallWriteUrl)).toBe(noise(atLimit))
      expectTooLarge(await say(kind, `reply:${atLimit + 1}`, {}, smallWriteUrl), SERVER_WRITE_MAX)
    })
  }
})
