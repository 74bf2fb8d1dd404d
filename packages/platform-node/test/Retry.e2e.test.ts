/**
 * Retries over real sockets: a flaky server that fails a key's first attempts, then succeeds,
 * counting attempts. Idempotent methods are retried; a method with side effects is retried only
 * when its request provably never reached the server (connection refused, REFUSED_STREAM); the
 * deadline bounds the retries; other codes, consumed request streams and delivered responses are
 * never retried; the server's pushback is honoured.
 */
import * as http2 from "node:http2"
import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { create, toBinary } from "@bufbuild/protobuf"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Code from "@connect-effect/core/Code"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as Retry from "@connect-effect/core/Retry"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { RetryClient, type RetryServiceHandlers } from "./gen/connecteffect/test/retry/v1/retry_connect.ts"
import { RetryResponseSchema, RetryService } from "./gen/connecteffect/test/retry/v1/retry_pb.ts"

/** Attempts per key, and the time each attempt had left before its deadline. */
const attempts = new Map<string, number>()
const budgets = new Map<string, Array<number | undefined>>()

/**
 * Keys are `<unique>/<failures>/<code>[/<metadata name>=<value>]`: the first `failures` attempts
 * fail with `code` (and the metadata), later ones succeed with the attempt number.
 */
const attempt = (key: string, timeRemaining: number | undefined) => {
  const n = (attempts.get(key) ?? 0) + 1
  attempts.set(key, n)
  budgets.set(key, [...(budgets.get(key) ?? []), timeRemaining])
  const [, failures, code, meta] = key.split("/")
  if (n <= Number(failures ?? 0)) {
    const metadata: Record<string, string> = {}
    if (meta !== undefined) {
      const [name, value] = meta.split("=")
      metadata[name!] = value!
    }
    return Effect.fail(ConnectError.make(Code.isCode(code) ? code : "unavailable", `attempt ${n} fails`, { metadata }))
  }
  return Effect.succeed({ key, attempt: n })
}

const handlers: RetryServiceHandlers = {
  get: (request, ctx) => attempt(request.key, ctx.timeRemaining()),
  put: (request, ctx) => attempt(request.key, ctx.timeRemaining()),
  create: (request, ctx) => attempt(request.key, ctx.timeRemaining()),
  watch: (request, ctx) => {
    if (request.key.endsWith("/after-first")) {
      attempts.set(request.key, (attempts.get(request.key) ?? 0) + 1)
      return Stream.concat(Stream.make({ key: request.key, attempt: 1 }), Stream.fail(ConnectError.make("unavailable", "gone")))
    }
    return Stream.unwrap(Effect.map(attempt(request.key, ctx.timeRemaining()), (r) => Stream.make(r, r)))
  },
  upload: (requests) =>
    Effect.flatMap(Stream.runCollect(requests), (all) => attempt(all[0]?.key ?? "none", undefined))
}

const router = Router.service(Router.empty, RetryService, handlers)

let scope: Scope.Closeable
let baseUrl = ""
let unique = 0
const key = (failures: number, code: Code.Code = "unavailable", meta?: string) =>
  `k${++unique}/${failures}/${code}${meta === undefined ? "" : `/${meta}`}`

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const ctx = await Effect.runPromise(Layer.buildWithScope(NodeServer.layerRouter(router, { port: 0 }), scope))
  baseUrl = Context.get(ctx, NodeServer.NodeServer).url
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const fast = Schedule.spaced("5 millis").pipe(Schedule.upTo({ times: 5 }))

type Setup = (url: string) => Layer.Layer<import("@connect-effect/core/Transport").Transport, import("@connect-effect/core/Transport").TransportConfigError>
const setups: ReadonlyArray<readonly [string, Setup]> = [
  ["connect over HTTP/1.1", (url) => NodeTransport.layerConnect({ baseUrl: url })],
  ["connect over HTTP/2", (url) => NodeTransport.layerConnect({ baseUrl: url, httpVersion: "2" })],
  ["grpc", (url) => NodeTransport.layerGrpc({ baseUrl: url })],
  ["grpc-web", (url) => NodeTransport.layerGrpcWeb({ baseUrl: url })]
]

const withClient = <A, E>(
  effect: Effect.Effect<A, E, RetryClient>,
  transport: Layer.Layer<import("@connect-effect/core/Transport").Transport, import("@connect-effect/core/Transport").TransportConfigError>,
  policy: Retry.Policy = { schedule: fast }
) =>
  Effect.runPromiseExit(
    Effect.provide(effect, RetryClient.layer.pipe(Layer.provide(Retry.layer(policy)), Layer.provide(transport)))
  )

const codeOf = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? (Exit.findErrorOption(exit)._tag === "Some" ? (Exit.findErrorOption(exit) as any).value.code : "defect") : "ok"

describe.each(setups)("Retry, %s", (_name, setup) => {
  it("retries idempotent methods until they succeed", async () => {
    for (const method of ["get", "put"] as const) {
      const k = key(2)
      const exit = await withClient(
        Effect.flatMap(Effect.service(RetryClient), (client) => client[method]({ key: k })),
        setup(baseUrl)
      )
      expect(exit).toEqual(Exit.succeed(expect.objectContaining({ key: k, attempt: 3 })))
      expect(attempts.get(k)).toBe(3)
    }
  })

  it("does not retry a method with side effects that reached the server", async () => {
    const k = key(1)
    const exit = await withClient(Effect.flatMap(Effect.service(RetryClient), (client) => client.create({ key: k })), setup(baseUrl))
    expect(codeOf(exit)).toBe("unavailable")
    expect(attempts.get(k)).toBe(1)
  })

  it("retries only the configured codes", async () => {
    const internal = key(1, "internal")
    expect(codeOf(await withClient(Effect.flatMap(Effect.service(RetryClient), (c) => c.get({ key: internal })), setup(baseUrl))))
      .toBe("internal")
    expect(attempts.get(internal)).toBe(1)
    const exhausted = key(1, "resource_exhausted")
    expect(codeOf(await withClient(Effect.flatMap(Effect.service(RetryClient), (c) => c.get({ key: exhausted })), setup(baseUrl))))
      .toBe("resource_exhausted")
    expect(attempts.get(exhausted)).toBe(1)
    const configured = key(2, "resource_exhausted")
    const exit = await withClient(
      Effect.flatMap(Effect.service(RetryClient), (c) => c.get({ key: configured })),
      setup(baseUrl),
      { schedule: fast, codes: ["unavailable", "resource_exhausted"] }
    )
    expect(codeOf(exit)).toBe("ok")
    expect(attempts.get(configured)).toBe(3)
  })

  it("stops at the schedule's end with the last error", async () => {
    const k = key(100)
    const exit = await withClient(Effect.flatMap(Effect.service(RetryClient), (c) => c.get({ key: k })), setup(baseUrl), {
      schedule: Schedule.spaced("1 millis").pipe(Schedule.upTo({ times: 2 }))
    })
    expect(codeOf(exit)).toBe("unavailable")
    expect(attempts.get(k)).toBe(3)
  })

  it("keeps every attempt within the call's deadline", async () => {
    const k = key(1_000_000)
    const start = Date.now()
    const exit = await withClient(
      Effect.flatMap(Effect.service(RetryClient), (c) => c.get({ key: k }, { timeoutMs: 400 })),
      setup(baseUrl),
      { schedule: Schedule.spaced("25 millis") }
    )
    const elapsed = Date.now() - start
    expect(["unavailable", "deadline_exceeded"]).toContain(codeOf(exit))
    // the retries stop at the deadline (generous bound for a loaded machine)
    expect(elapsed).toBeLessThan(400 + 1_500)
    const seen = attempts.get(k)!
    expect(seen).toBeGreaterThan(1)
    expect(seen).toBeLessThanOrEqual(400 / 25 + 1)
    // each attempt is sent with what is left of the deadline, not the whole of it again
    const left = budgets.get(k)!.map((b) => b!)
    for (let i = 1; i < left.length; i++) expect(left[i]!).toBeLessThan(left[i - 1]!)
    expect(left[left.length - 1]!).toBeLessThan(400 - 25)
  })

  it("honours a pushback that asks not to retry", async () => {
    const stop = key(1, "unavailable", "grpc-retry-pushback-ms=-1")
    expect(codeOf(await withClient(Effect.flatMap(Effect.service(RetryClient), (c) => c.get({ key: stop })), setup(baseUrl))))
      .toBe("unavailable")
    expect(attempts.get(stop)).toBe(1)
    const later = key(1, "unavailable", "retry-after=0")
    expect(codeOf(await withClient(Effect.flatMap(Effect.service(RetryClient), (c) => c.get({ key: later })), setup(baseUrl))))
      .toBe("ok")
    expect(attempts.get(later)).toBe(2)
  })

  it("retries a server stream that failed before its first message, not after", async () => {
    const k = key(2)
    const exit = await withClient(
      Effect.flatMap(Effect.service(RetryClient), (c) => Stream.runCollect(c.watch({ key: k }))),
      setup(baseUrl)
    )
    expect(codeOf(exit)).toBe("ok")
    if (Exit.isSuccess(exit)) expect(exit.value.map((r) => r.attempt)).toEqual([3, 3])
    expect(attempts.get(k)).toBe(3)
    const after = `k${++unique}/after-first`
    const received: Array<number> = []
    const failed = await withClient(
      Effect.flatMap(Effect.service(RetryClient), (c) =>
        Stream.runForEach(c.watch({ key: after }), (r) => Effect.sync(() => received.push(r.attempt)))),
      setup(baseUrl)
    )
    expect(codeOf(failed)).toBe("unavailable")
    expect(received).toEqual([1])
    expect(attempts.get(after)).toBe(1)
  })

  it("does not retry a client stream whose messages were sent", async () => {
    const k = key(1)
    const exit = await withClient(
      Effect.flatMap(Effect.service(RetryClient), (c) => c.upload(Stream.make({ key: k }, { key: k }))),
      setup(baseUrl)
    )
    expect(codeOf(exit)).toBe("unavailable")
    expect(attempts.get(k)).toBe(1)
  })
})

/** A free port: bound, then released (nothing listens on it until the test starts a server). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

describe.each(setups)("Retry when the server is not listening yet, %s", (_name, setup) => {
  it("retries a method with side effects: the connection was refused, nothing was sent", async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const k = key(0)
    const refused = Deferred.makeUnsafe<ConnectError.ConnectError>()
    const schedule: Schedule.Schedule<unknown, ConnectError.ConnectError> = Schedule.spaced("20 millis").pipe(
      Schedule.setInputType<ConnectError.ConnectError>(),
      Schedule.upTo({ times: 1_000 }),
      Schedule.tap((meta) => Deferred.succeed(refused, meta.input))
    )
    const serverScope = Effect.runSync(Scope.make())
    try {
      const exit = await Effect.runPromiseExit(Effect.gen(function*() {
        const call = yield* Effect.forkDetach(
          Effect.provide(
            Effect.flatMap(Effect.service(RetryClient), (c) => c.create({ key: k })),
            RetryClient.layer.pipe(Layer.provide(Retry.layer({ schedule })), Layer.provide(setup(url)))
          )
        )
        // the first attempt was refused (and marked as never sent); now the server comes up
        const error = yield* Deferred.await(refused)
        expect(error.code).toBe("unavailable")
        expect(ConnectError.isNotSent(error)).toBe(true)
        yield* Layer.buildWithScope(NodeServer.layerRouter(router, { port }), serverScope)
        return yield* Fiber.join(call)
      }))
      expect(exit).toEqual(Exit.succeed(expect.objectContaining({ key: k, attempt: 1 })))
      expect(attempts.get(k)).toBe(1)
    } finally {
      await Effect.runPromise(Scope.close(serverScope, Exit.void))
    }
  })

  it("does not retry without a Retry layer, and the error says it was not sent", async () => {
    const port = await freePort()
    const exit = await Effect.runPromiseExit(
      Effect.provide(
        Effect.flatMap(Effect.service(RetryClient), (c) => c.create({ key: key(0) })),
        RetryClient.layer.pipe(Layer.provide(setup(`http://127.0.0.1:${port}`)))
      )
    )
    expect(codeOf(exit)).toBe("unavailable")
    const error = Exit.findErrorOption(exit)
    expect(error._tag === "Some" && ConnectError.isNotSent(error.value as ConnectError.ConnectError)).toBe(true)
  })
})

describe("Retry after HTTP/2 REFUSED_STREAM", () => {
  it("retries a method with side effects: a refused stream was not processed", async () => {
    // a raw HTTP/2 server that refuses the first streams, then answers one Connect unary call
    let streams = 0
    const server = http2.createServer()
    server.on("stream", (stream) => {
      streams++
      // closing with an error code emits 'error' on the server's own stream
      stream.on("error", () => {})
      if (streams <= 2) {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
        return
      }
      stream.respond({ ":status": 200, "content-type": "application/proto" })
      stream.end(toBinary(RetryResponseSchema, create(RetryResponseSchema, { key: "refused", attempt: streams })))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      const exit = await withClient(
        Effect.flatMap(Effect.service(RetryClient), (c) => c.create({ key: "refused" })),
        NodeTransport.layerConnect({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "2" })
      )
      expect(exit).toEqual(Exit.succeed(expect.objectContaining({ key: "refused", attempt: 3 })))
      expect(streams).toBe(3)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it("is not retried without the mark: the same server answering unavailable", async () => {
    let streams = 0
    const server = http2.createServer()
    server.on("stream", (stream) => {
      streams++
      stream.respond({ ":status": 503 })
      stream.end()
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      const exit = await withClient(
        Effect.flatMap(Effect.service(RetryClient), (c) => c.create({ key: "x" })),
        NodeTransport.layerConnect({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "2" })
      )
      expect(codeOf(exit)).toBe("unavailable")
      expect(streams).toBe(1)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})
