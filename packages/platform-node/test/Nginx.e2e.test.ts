/**
 * connect-effect behind a real nginx: Connect and gRPC-Web through `proxy_pass` (HTTP/1.1
 * upstream, buffering off), gRPC through `grpc_pass` over h2c. Every RPC kind the path
 * supports, errors with metadata and details, deadlines, and response headers and trailers
 * surviving the proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { StringValueSchema } from "@bufbuild/protobuf/wkt"
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
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"
import { type Nginx, startNginx } from "./fixtures/nginx.ts"

let interrupted = 0

const handlers: ElizaServiceHandlers = {
  say: (request, ctx) =>
    Effect.gen(function*() {
      ctx.responseHeaders.set("x-response-header", ctx.requestHeaders.get("x-request-header") ?? "-")
      ctx.responseTrailers.set("x-response-trailer", "t")
      if (request.sentence === "error") {
        return yield* ConnectError.make("failed_precondition", "not now", {
          metadata: { "x-error-meta": "m" },
          details: [ConnectError.detail(StringValueSchema, { value: "detail" })]
        })
      }
      if (request.sentence.startsWith("sleep:")) {
        yield* Effect.sleep(Number(request.sentence.slice(6))).pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted++)))
        return { sentence: "woke up" }
      }
      return { sentence: `${ctx.httpMethod} ${request.sentence}` }
    }),
  introduce: (request, ctx) => {
    ctx.responseTrailers.set("x-stream-trailer", "st")
    const [kind, n] = request.name.split(":")
    const messages = Stream.range(1, Number(n)).pipe(Stream.map((i) => ({ sentence: `#${i}` })))
    if (kind === "slow") {
      // spaced out: each message must pass nginx as it is produced (no buffering)
      return messages.pipe(Stream.tap(() => Effect.sleep(20)))
    }
    return kind === "fail"
      ? Stream.concat(messages, Stream.fail(ConnectError.make("resource_exhausted", "no more", { metadata: { "x-error-meta": "s" } })))
      : messages
  },
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: `echo ${r.sentence}` })),
  reflect: (requests) =>
    Effect.map(Stream.runCollect(requests), (all) => ({ summary: all.map((r) => r.sentence).join("|") }))
}

let scope: Scope.Closeable
let nginx: Nginx | undefined

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const ctx = await Effect.runPromise(Layer.buildWithScope(
    NodeServer.layerRouter(Router.service(Router.empty, ElizaService, handlers), { onDefect: () => {} }),
    scope
  ))
  nginx = await startNginx(Context.get(ctx, NodeServer.NodeServer).port)
}, 60_000)

afterAll(async () => {
  await nginx?.stop()
  await Effect.runPromise(Scope.close(scope, Exit.void))
}, 60_000)

type Protocol = "connect" | "grpc-web" | "grpc"

const clientLayer = (protocol: Protocol) =>
  ElizaClient.layer.pipe(Layer.provide(
    protocol === "grpc"
      ? NodeTransport.layerGrpc({ baseUrl: nginx!.http2Url })
      : protocol === "grpc-web"
      ? NodeTransport.layerGrpcWeb({ baseUrl: nginx!.http1Url })
      : NodeTransport.layerConnect({ baseUrl: nginx!.http1Url })
  ))

const run = <A, E>(protocol: Protocol, effect: Effect.Effect<A, E, ElizaClient>): Promise<Exit.Exit<A, E>> =>
  Effect.runPromiseExit(Effect.provide(effect, Layer.orDie(clientLayer(protocol))))

const success = async <A, E>(exit: Promise<Exit.Exit<A, E>>): Promise<A> => {
  const result = await exit
  if (Exit.isFailure(result)) throw new Error(`expected success, got ${String(result.cause)}`)
  return result.value
}

const failure = async <A>(exit: Promise<Exit.Exit<A, ConnectError.ConnectError>>): Promise<ConnectError.ConnectError> => {
  const result = await exit
  if (Exit.isSuccess(result)) throw new Error("expected a failure")
  const error = result.cause.reasons.find((r) => r._tag === "Fail")
  if (error === undefined || error._tag !== "Fail") throw new Error(`expected a ConnectError, got ${String(result.cause)}`)
  return error.error
}

describe.each(["connect", "grpc-web", "grpc"] as const)("through nginx: %s", (protocol) => {
  it("unary, with request headers, response headers and trailers surviving the proxy", async () => {
    let headers = new Headers()
    let trailers = new Headers()
    const response = await success(run(protocol, Effect.gen(function*() {
      const eliza = yield* ElizaClient
      return yield* eliza.say({ sentence: "hi" }, {
        headers: { "x-request-header": "r" },
        onHeaders: (h) => (headers = h),
        onTrailers: (t) => (trailers = t)
      })
    })))
    expect(response.sentence).toBe("POST hi")
    expect(headers.get("x-response-header")).toBe("r")
    expect(trailers.get("x-response-trailer")).toBe("t")
  })

  it("server streaming, message by message, with trailers", async () => {
    let trailers = new Headers()
    const arrivals: Array<number> = []
    const all = await success(run(protocol, Effect.gen(function*() {
      const eliza = yield* ElizaClient
      return yield* Stream.runCollect(eliza.introduce({ name: "slow:5" }, { onTrailers: (t) => (trailers = t) }).pipe(
        Stream.tap(() => Effect.sync(() => arrivals.push(performance.now())))
      ))
    })))
    expect(all.map((r) => r.sentence)).toEqual(["#1", "#2", "#3", "#4", "#5"])
    // not buffered until the end: the first message arrived well before the last
    expect(arrivals[4]! - arrivals[0]!).toBeGreaterThan(40)
    expect(trailers.get("x-stream-trailer")).toBe("st")
  })

  it("client streaming", async () => {
    const response = await success(run(protocol, Effect.gen(function*() {
      const eliza = yield* ElizaClient
      return yield* eliza.reflect(Stream.make({ sentence: "one" }, { sentence: "two" }, { sentence: "three" }))
    })))
    expect(response.summary).toBe("one|two|three")
  })

  it("bidi streaming (half duplex through HTTP/1.1, full duplex through grpc_pass)", async () => {
    const all = await success(run(protocol, Effect.gen(function*() {
      const eliza = yield* ElizaClient
      return yield* Stream.runCollect(eliza.converse(Stream.make({ sentence: "a" }, { sentence: "b" })))
    })))
    expect(all.map((r) => r.sentence)).toEqual(["echo a", "echo b"])
  })

  it("an error with code, message, metadata and details", async () => {
    const error = await failure(run(protocol, Effect.gen(function*() {
      const eliza = yield* ElizaClient
      return yield* eliza.say({ sentence: "error" })
    })))
    expect(error.code).toBe("failed_precondition")
    expect(error.message).toBe("not now")
    expect(error.metadata?.get("x-error-meta")).toBe("m")
    expect(ConnectError.findDetails(error, StringValueSchema).map((d) => d.value)).toEqual(["detail"])
  })

  it("a stream failing after two messages", async () => {
    const received: Array<string> = []
    const error = await failure(run(protocol, Effect.gen(function*() {
      const eliza = yield* ElizaClient
      return yield* Stream.runForEach(eliza.introduce({ name: "fail:2" }), (r) => Effect.sync(() => received.push(r.sentence)))
    })))
    expect(received).toEqual(["#1", "#2"])
    expect(error.code).toBe("resource_exhausted")
    expect(error.metadata?.get("x-error-meta")).toBe("s")
  })

  it("a deadline: the client gives up and the server's handler is interrupted", async () => {
    const before = interrupted
    const start = performance.now()
    const error = await failure(run(protocol, Effect.gen(function*() {
      const eliza = yield* ElizaClient
      return yield* eliza.say({ sentence: "sleep:20000" }, { timeoutMs: 300 })
    })))
    expect(error.code).toBe("deadline_exceeded")
    expect(performance.now() - start).toBeLessThan(10_000)
    // the server side ends too (its own deadline from the forwarded timeout header, or nginx closing the upstream exchange)
    await expect.poll(() => interrupted, { timeout: 15_000 }).toBeGreaterThan(before)
  }, 30_000)
})
