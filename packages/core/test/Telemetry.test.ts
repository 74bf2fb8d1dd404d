/**
 * Telemetry over the in-memory transport for every protocol: client and server spans with the
 * RPC semantic-convention attributes, one trace through `traceparent`, status by code, streams
 * covered end to end, `tracestate` forwarded, and the W3C header parser.
 */
import { afterEach, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ConnectError from "../src/ConnectError.ts"
import * as Code from "../src/Code.ts"
import * as MemoryTransport from "../src/adapters/MemoryTransport.ts"
import * as Router from "../src/Router.ts"
import * as Telemetry from "../src/extensions/Telemetry.ts"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"
import { makeTracing, only, SpanKind, SpanStatusCode } from "./telemetrySupport.ts"

const tracing = makeTracing()
afterEach(() => tracing.reset())

/** What the handlers saw of the trace context, by call. */
const seen: Array<{ readonly traceparent: string | null; readonly tracestate: string | null }> = []

const handlers: ElizaServiceHandlers = {
  say: (request, ctx) => {
    seen.push({ traceparent: ctx.requestHeaders.get("traceparent"), tracestate: ctx.requestHeaders.get("tracestate") })
    const s = request.sentence
    if (s.startsWith("error:")) {
      const code = s.slice(6)
      return Code.isCode(code) ? Effect.fail(ConnectError.make(code, `failed with ${code}`)) : Effect.die("bad code")
    }
    if (s.startsWith("sleep:")) return Effect.as(Effect.sleep(Number(s.slice(6))), { sentence: "woke" })
    if (s === "nested") {
      // a call made by the handler: same trace, child of this server span
      return Effect.provide(
        Effect.flatMap(Effect.service(ElizaClient), (eliza) => eliza.say({ sentence: "inner" })),
        ElizaClient.layer.pipe(Layer.provide(Telemetry.layerClient()), Layer.provide(Layer.orDie(MemoryTransport.layerClient(innerRouter))))
      )
    }
    return Effect.succeed({ sentence: `echo ${s}` })
  },
  introduce: (request) =>
    request.name.startsWith("fail-after:")
      ? Stream.concat(
        Stream.range(1, Number(request.name.slice(11))).pipe(Stream.map((i) => ({ sentence: `#${i}` }))),
        Stream.fail(ConnectError.make("resource_exhausted", "no more"))
      )
      : Stream.range(1, 3).pipe(Stream.map((i) => ({ sentence: `#${i}` }))),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence.toUpperCase() })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: String(all.length) }))
}

const innerRouter = Router.empty.pipe(
  Router.service(ElizaService, {
    say: (request, ctx) => {
      seen.push({ traceparent: ctx.requestHeaders.get("traceparent"), tracestate: ctx.requestHeaders.get("tracestate") })
      return Effect.succeed({ sentence: `inner ${request.sentence}` })
    }
  }),
  Router.intercept(Telemetry.server())
)

const router = Router.empty.pipe(Router.service(ElizaService, handlers), Router.intercept(Telemetry.server()))

const run = <A, E>(effect: Effect.Effect<A, E, ElizaClient>, protocol: "connect" | "grpc" | "grpc-web") =>
  Effect.runPromiseExit(
    effect.pipe(
      Effect.provide(ElizaClient.layer.pipe(
        Layer.provide(Telemetry.layerClient()),
        Layer.provide(MemoryTransport.layerClient(router, { protocol }))
      )),
      Effect.provide(tracing.layer)
    )
  )

const say = (sentence: string, options?: { readonly headers?: HeadersInit; readonly timeoutMs?: number }) =>
  Effect.flatMap(Effect.service(ElizaClient), (eliza) => eliza.say({ sentence }, options))

describe.each(["connect", "grpc", "grpc-web"] as const)("Telemetry over %s", (protocol) => {
  const system = protocol === "connect" ? "connect_rpc" : "grpc"
  const grpc = protocol !== "connect"

  it("traces a unary call on both sides, in one trace", async () => {
    seen.length = 0
    const exit = await run(say("hi"), protocol)
    expect(exit._tag).toBe("Success")
    const spans = tracing.spans()
    expect(spans).toHaveLength(2)
    const client = only(spans, SpanKind.CLIENT)
    const server = only(spans, SpanKind.SERVER)
    for (const span of [client, server]) {
      expect(span.name).toBe("connectrpc.eliza.v1.ElizaService/Say")
      expect(span.attributes["rpc.system"]).toBe(system)
      expect(span.attributes["rpc.service"]).toBe("connectrpc.eliza.v1.ElizaService")
      expect(span.attributes["rpc.method"]).toBe("Say")
      expect(span.status.code).not.toBe(SpanStatusCode.ERROR)
      if (grpc) expect(span.attributes["rpc.grpc.status_code"]).toBe(0)
      else expect(span.attributes["rpc.connect_rpc.error_code"]).toBeUndefined()
    }
    expect(client.attributes["server.address"]).toBe("in-memory")
    expect(client.attributes["server.port"]).toBe(80)
    // in memory there is no socket, so no peer
    expect(server.attributes["network.peer.address"]).toBeUndefined()
    expect(server.attributes["client.address"]).toBeUndefined()
    // the server span is the child of the client span, through the traceparent header
    expect(server.spanContext().traceId).toBe(client.spanContext().traceId)
    expect(server.parentSpanContext?.spanId).toBe(client.spanContext().spanId)
    expect(seen[0]?.traceparent).toBe(`00-${client.spanContext().traceId}-${client.spanContext().spanId}-01`)
  })

  it("records error codes; caller errors leave the server span successful", async () => {
    const exit = await run(say("error:not_found"), protocol)
    expect(exit._tag).toBe("Failure")
    const client = only(tracing.spans(), SpanKind.CLIENT)
    const server = only(tracing.spans(), SpanKind.SERVER)
    for (const span of [client, server]) {
      if (grpc) expect(span.attributes["rpc.grpc.status_code"]).toBe(5)
      else expect(span.attributes["rpc.connect_rpc.error_code"]).toBe("not_found")
    }
    expect(client.status.code).toBe(SpanStatusCode.ERROR)
    expect(server.status.code).not.toBe(SpanStatusCode.ERROR)
  })

  it("marks server faults as errors on the server span", async () => {
    await run(say("error:internal"), protocol)
    const server = only(tracing.spans(), SpanKind.SERVER)
    expect(server.status.code).toBe(SpanStatusCode.ERROR)
    if (grpc) expect(server.attributes["rpc.grpc.status_code"]).toBe(13)
    else expect(server.attributes["rpc.connect_rpc.error_code"]).toBe("internal")
    expect(only(tracing.spans(), SpanKind.CLIENT).status.code).toBe(SpanStatusCode.ERROR)
  })

  it("records an expired deadline on both spans", async () => {
    const exit = await run(say("sleep:5000", { timeoutMs: 50 }), protocol)
    expect(exit._tag).toBe("Failure")
    const server = only(tracing.spans(), SpanKind.SERVER)
    expect(server.status.code).toBe(SpanStatusCode.ERROR)
    if (grpc) expect(server.attributes["rpc.grpc.status_code"]).toBe(4)
    else expect(server.attributes["rpc.connect_rpc.error_code"]).toBe("deadline_exceeded")
    const client = only(tracing.spans(), SpanKind.CLIENT)
    expect(client.status.code).toBe(SpanStatusCode.ERROR)
    if (grpc) expect(client.attributes["rpc.grpc.status_code"]).toBe(4)
    else expect(client.attributes["rpc.connect_rpc.error_code"]).toBe("deadline_exceeded")
  })

  it("covers a whole server stream with one span per side", async () => {
    const exit = await run(
      Effect.flatMap(Effect.service(ElizaClient), (eliza) =>
        Stream.runCollect(Stream.tap(eliza.introduce({ name: "x" }), () =>
          // still inside the call: nothing has ended yet on the client side
          Effect.sync(() => expect(tracing.spans().filter((s) => s.kind === SpanKind.CLIENT)).toHaveLength(0))))),
      protocol
    )
    expect(exit._tag).toBe("Success")
    if (exit._tag === "Success") expect(exit.value).toHaveLength(3)
    const client = only(tracing.spans(), SpanKind.CLIENT)
    const server = only(tracing.spans(), SpanKind.SERVER)
    expect(client.name).toBe("connectrpc.eliza.v1.ElizaService/Introduce")
    expect(server.parentSpanContext?.spanId).toBe(client.spanContext().spanId)
    expect(client.status.code).not.toBe(SpanStatusCode.ERROR)
  })

  it("records a stream that fails after some messages", async () => {
    const received: Array<string> = []
    const exit = await run(
      Effect.flatMap(Effect.service(ElizaClient), (eliza) =>
        Stream.runForEach(eliza.introduce({ name: "fail-after:2" }), (r) => Effect.sync(() => received.push(r.sentence)))),
      protocol
    )
    expect(exit._tag).toBe("Failure")
    expect(received).toEqual(["#1", "#2"])
    const client = only(tracing.spans(), SpanKind.CLIENT)
    expect(client.status.code).toBe(SpanStatusCode.ERROR)
    if (grpc) expect(client.attributes["rpc.grpc.status_code"]).toBe(8)
    else expect(client.attributes["rpc.connect_rpc.error_code"]).toBe("resource_exhausted")
    // resource_exhausted is the caller's problem by the conventions
    expect(only(tracing.spans(), SpanKind.SERVER).status.code).not.toBe(SpanStatusCode.ERROR)
  })

  it("traces bidi and client streams", async () => {
    const exit = await run(
      Effect.flatMap(Effect.service(ElizaClient), (eliza) =>
        Effect.zip(
          Stream.runCollect(eliza.converse(Stream.make({ sentence: "a" }, { sentence: "b" }))),
          eliza.reflect(Stream.make({ sentence: "a" }, { sentence: "b" }))
        )),
      protocol
    )
    expect(exit._tag).toBe("Success")
    const names = tracing.spans().map((s) => `${s.kind}:${s.name}`).sort()
    expect(names).toEqual([
      `${SpanKind.SERVER}:connectrpc.eliza.v1.ElizaService/Converse`,
      `${SpanKind.CLIENT}:connectrpc.eliza.v1.ElizaService/Converse`,
      `${SpanKind.SERVER}:connectrpc.eliza.v1.ElizaService/Reflect`,
      `${SpanKind.CLIENT}:connectrpc.eliza.v1.ElizaService/Reflect`
    ].sort())
  })

  it("joins a call made by a handler to the caller's trace and forwards tracestate", async () => {
    seen.length = 0
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
    const exit = await run(
      say("nested", { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: "vendor=abc" } }),
      protocol
    )
    expect(exit._tag).toBe("Success")
    const spans = tracing.spans()
    expect(spans).toHaveLength(4)
    // a traceparent the caller set parents the client span: all four spans are in that trace
    for (const span of spans) expect(span.spanContext().traceId).toBe(traceId)
    const outerClient = spans.find((s) => s.kind === SpanKind.CLIENT && s.parentSpanContext?.spanId === "00f067aa0ba902b7")
    expect(outerClient).toBeDefined()
    const outerServer = spans.find((s) => s.kind === SpanKind.SERVER && s.parentSpanContext?.spanId === outerClient!.spanContext().spanId)
    expect(outerServer).toBeDefined()
    const innerClient = spans.find((s) => s.kind === SpanKind.CLIENT && s.parentSpanContext?.spanId === outerServer!.spanContext().spanId)
    expect(innerClient).toBeDefined()
    const innerServer = spans.find((s) => s.kind === SpanKind.SERVER && s.parentSpanContext?.spanId === innerClient!.spanContext().spanId)
    expect(innerServer).toBeDefined()
    expect(seen[0]).toEqual({ traceparent: `00-${traceId}-${outerClient!.spanContext().spanId}-01`, tracestate: "vendor=abc" })
    expect(seen[1]).toEqual({ traceparent: `00-${traceId}-${innerClient!.spanContext().spanId}-01`, tracestate: "vendor=abc" })
  })
})

describe("Telemetry", () => {
  it("starts a new trace linked to the caller with trustRemoteParent: false", async () => {
    const untrusting = Router.empty.pipe(
      Router.service(ElizaService, { say: () => Effect.succeed({ sentence: "ok" }) }),
      Router.intercept(Telemetry.server({ trustRemoteParent: false }))
    )
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await Effect.runPromise(
      say("x", { headers: { traceparent } }).pipe(
        Effect.provide(ElizaClient.layer.pipe(Layer.provide(MemoryTransport.layerClient(untrusting)))),
        Effect.provide(tracing.layer)
      )
    )
    const server = only(tracing.spans(), SpanKind.SERVER)
    expect(server.spanContext().traceId).not.toBe("4bf92f3577b34da6a3ce929d0e0e4736")
    expect(server.parentSpanContext).toBeUndefined()
    expect(server.links.map((l) => l.context.spanId)).toEqual(["00f067aa0ba902b7"])
  })

  it("creates no span for calls that do not opt in", async () => {
    const plain = Router.service(Router.empty, ElizaService, { say: () => Effect.succeed({ sentence: "ok" }) })
    await Effect.runPromise(
      say("x").pipe(
        Effect.provide(ElizaClient.layer.pipe(Layer.provide(MemoryTransport.layerClient(plain)))),
        Effect.provide(tracing.layer)
      )
    )
    expect(tracing.spans()).toHaveLength(0)
  })

  it("sends no traceparent with propagate: false", async () => {
    seen.length = 0
    await Effect.runPromise(
      say("x").pipe(
        Effect.provide(ElizaClient.layer.pipe(
          Layer.provide(Telemetry.layerClient({ propagate: false })),
          Layer.provide(MemoryTransport.layerClient(router))
        )),
        Effect.provide(tracing.layer)
      )
    )
    expect(seen[0]?.traceparent).toBeNull()
    expect(tracing.spans()).toHaveLength(2)
  })

  it("parses and formats W3C traceparent", () => {
    const span = Telemetry.parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    expect(span).toMatchObject({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", sampled: true })
    expect(Telemetry.formatTraceparent(span!)).toBe("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    expect(Telemetry.parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled).toBe(false)
    // a later version may carry more fields
    expect(Telemetry.parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")).toBeDefined()
    for (
      const bad of [
        null,
        "",
        "garbage",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        "00-xbf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
      ]
    ) {
      expect(Telemetry.parseTraceparent(bad)).toBeUndefined()
    }
  })
})
