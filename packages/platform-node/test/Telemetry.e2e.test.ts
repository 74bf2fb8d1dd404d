/**
 * Telemetry over real sockets: a NodeServer with the server interceptor and a NodeTransport
 * client with the client layer, exporting to one in-memory OpenTelemetry exporter. The server
 * runs in its own fibers, so the only link between the two spans is the `traceparent` header.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Code from "@connect-effect/core/Code"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as Router from "@connect-effect/core/Router"
import * as Telemetry from "@connect-effect/core/Telemetry"
import type { Transport, TransportConfigError } from "@connect-effect/core/Transport"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"
import { makeTracing, only, type ReadableSpan, SpanKind, SpanStatusCode } from "../../core/test/telemetrySupport.ts"

const tracing = makeTracing()
afterEach(() => tracing.reset())

const handlers: ElizaServiceHandlers = {
  say: (request) => {
    const s = request.sentence
    if (s.startsWith("error:")) {
      const code = s.slice(6)
      return Code.isCode(code) ? Effect.fail(ConnectError.make(code, `failed with ${code}`)) : Effect.die("bad code")
    }
    return Effect.succeed({ sentence: `echo ${s}` })
  },
  introduce: (request) =>
    request.name.startsWith("fail-after:")
      ? Stream.concat(
        Stream.range(1, Number(request.name.slice(11))).pipe(Stream.map((i) => ({ sentence: `#${i}` }))),
        Stream.fail(ConnectError.make("data_loss", "lost"))
      )
      : Stream.range(1, 5).pipe(Stream.map((i) => ({ sentence: `#${i}` }))),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence.toUpperCase() })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: String(all.length) }))
}

const router = Router.empty.pipe(Router.service(ElizaService, handlers), Router.intercept(Telemetry.server()))

let scope: Scope.Closeable
let baseUrl = ""
let port = 0

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const ctx = await Effect.runPromise(
    Layer.buildWithScope(NodeServer.layerRouter(router, { port: 0 }).pipe(Layer.provide(tracing.layer)), scope)
  )
  const info = Context.get(ctx, NodeServer.NodeServer)
  baseUrl = info.url
  port = info.port
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

/** Waits (without a fixed sleep) until `n` spans have ended: the server ends its span on its own fiber. */
const spansWhen = async (n: number): Promise<ReadonlyArray<ReadableSpan>> => {
  const start = Date.now()
  while (tracing.spans().length < n) {
    if (Date.now() - start > 10_000) throw new Error(`only ${tracing.spans().length} of ${n} spans ended`)
    await new Promise((resolve) => setImmediate(resolve))
  }
  return tracing.spans()
}

const setups: ReadonlyArray<readonly [string, string, () => Layer.Layer<Transport, TransportConfigError>]> = [
  ["connect over HTTP/1.1", "connect_rpc", () => NodeTransport.layerConnect({ baseUrl })],
  ["connect over HTTP/2", "connect_rpc", () => NodeTransport.layerConnect({ baseUrl, httpVersion: "2" })],
  ["grpc", "grpc", () => NodeTransport.layerGrpc({ baseUrl })],
  ["grpc-web", "grpc", () => NodeTransport.layerGrpcWeb({ baseUrl })]
]

describe.each(setups)("Telemetry e2e, %s", (name, system, transport) => {
  const grpc = system === "grpc"
  const run = <A, E>(effect: Effect.Effect<A, E, ElizaClient>) =>
    Effect.runPromiseExit(
      effect.pipe(
        Effect.provide(ElizaClient.layer.pipe(Layer.provide(Telemetry.layerClient()), Layer.provide(transport()))),
        Effect.provide(tracing.layer)
      )
    )

  it("puts client and server span in one trace through traceparent", async () => {
    const exit = await run(
      Effect.withSpan(Effect.flatMap(Effect.service(ElizaClient), (eliza) => eliza.say({ sentence: "hi" })), "caller")
    )
    expect(exit._tag).toBe("Success")
    const spans = await spansWhen(3)
    const caller = spans.find((s) => s.name === "caller")!
    const client = only(spans, SpanKind.CLIENT)
    const server = only(spans, SpanKind.SERVER)
    expect(client.name).toBe("connectrpc.eliza.v1.ElizaService/Say")
    expect(server.name).toBe("connectrpc.eliza.v1.ElizaService/Say")
    expect(client.parentSpanContext?.spanId).toBe(caller.spanContext().spanId)
    expect(server.parentSpanContext?.spanId).toBe(client.spanContext().spanId)
    expect(server.parentSpanContext?.isRemote).toBe(true)
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1)
    for (const span of [client, server]) {
      expect(span.attributes["rpc.system"]).toBe(system)
      expect(span.attributes["rpc.service"]).toBe("connectrpc.eliza.v1.ElizaService")
      expect(span.attributes["rpc.method"]).toBe("Say")
      if (grpc) expect(span.attributes["rpc.grpc.status_code"]).toBe(0)
    }
    expect(client.attributes["server.address"]).toBe("127.0.0.1")
    expect(client.attributes["server.port"]).toBe(port)
    if (name === "connect over HTTP/1.1") {
      // HTTP/1.1 carries the Host header (HTTP/2's :authority is not among the request headers)
      expect(server.attributes["server.address"]).toBe("127.0.0.1")
      expect(server.attributes["server.port"]).toBe(port)
    }
    // the client end of the connection, read from the socket
    expect(server.attributes["client.address"]).toBe("127.0.0.1")
    expect(server.attributes["network.peer.address"]).toBe("127.0.0.1")
    const peerPort = server.attributes["network.peer.port"]
    expect(typeof peerPort === "number" && peerPort > 0 && peerPort < 65536 && peerPort !== port).toBe(true)
    expect(server.attributes["client.port"]).toBe(peerPort)
    expect(client.attributes["client.address"]).toBeUndefined()
  })

  it("records error codes on both sides", async () => {
    const exit = await run(Effect.flatMap(Effect.service(ElizaClient), (eliza) => eliza.say({ sentence: "error:unavailable" })))
    expect(exit._tag).toBe("Failure")
    const spans = await spansWhen(2)
    for (const span of [only(spans, SpanKind.CLIENT), only(spans, SpanKind.SERVER)]) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR)
      if (grpc) expect(span.attributes["rpc.grpc.status_code"]).toBe(14)
      else expect(span.attributes["rpc.connect_rpc.error_code"]).toBe("unavailable")
    }
    tracing.reset()
    await run(Effect.flatMap(Effect.service(ElizaClient), (eliza) => eliza.say({ sentence: "error:permission_denied" })))
    const denied = await spansWhen(2)
    expect(only(denied, SpanKind.CLIENT).status.code).toBe(SpanStatusCode.ERROR)
    expect(only(denied, SpanKind.SERVER).status.code).not.toBe(SpanStatusCode.ERROR)
    if (grpc) expect(only(denied, SpanKind.SERVER).attributes["rpc.grpc.status_code"]).toBe(7)
    else expect(only(denied, SpanKind.SERVER).attributes["rpc.connect_rpc.error_code"]).toBe("permission_denied")
  })

  it("spans a whole server stream, and records its failure", async () => {
    const exit = await run(Effect.flatMap(Effect.service(ElizaClient), (eliza) => Stream.runCollect(eliza.introduce({ name: "x" }))))
    expect(exit._tag).toBe("Success")
    if (exit._tag === "Success") expect(exit.value).toHaveLength(5)
    const spans = await spansWhen(2)
    const client = only(spans, SpanKind.CLIENT)
    const server = only(spans, SpanKind.SERVER)
    expect(client.name).toBe("connectrpc.eliza.v1.ElizaService/Introduce")
    expect(server.parentSpanContext?.spanId).toBe(client.spanContext().spanId)
    // the client span lasts until the stream's end
    const endOf = (s: ReadableSpan) => s.endTime[0] * 1e9 + s.endTime[1]
    expect(endOf(client)).toBeGreaterThanOrEqual(endOf(server))
    tracing.reset()
    const failed = await run(
      Effect.flatMap(Effect.service(ElizaClient), (eliza) => Stream.runCollect(eliza.introduce({ name: "fail-after:2" })))
    )
    expect(failed._tag).toBe("Failure")
    const failedSpans = await spansWhen(2)
    for (const span of [only(failedSpans, SpanKind.CLIENT), only(failedSpans, SpanKind.SERVER)]) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR)
      if (grpc) expect(span.attributes["rpc.grpc.status_code"]).toBe(15)
      else expect(span.attributes["rpc.connect_rpc.error_code"]).toBe("data_loss")
    }
  })
})
