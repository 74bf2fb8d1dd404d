/**
 * Retry decisions against a scripted transport: what is retried and what is not, request
 * streams that may or may not be replayed, the inherited deadline, and pushback parsing.
 */
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { CallOptions } from "../src/CallOptions.ts"
import * as ConnectError from "../src/ConnectError.ts"
import { CurrentCall, type HandlerContext } from "../src/HandlerContext.ts"
import * as Retry from "../src/extensions/Retry.ts"
import type { TransportShape } from "../src/Transport.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const say = ElizaService.method.say // NO_SIDE_EFFECTS
const converse = ElizaService.method.converse // bidi, no idempotency declared
const introduce = ElizaService.method.introduce // server streaming, no idempotency declared

/** A transport whose attempts fail with the scripted errors, then succeed. */
const scripted = (errors: ReadonlyArray<ConnectError.ConnectError>, options: { readonly pullFirst?: boolean } = {}) => {
  const calls: Array<CallOptions | undefined> = []
  const taken: Array<unknown> = []
  const transport: TransportShape = {
    info: { protocol: "connect", baseUrl: "http://test", timeoutMs: undefined },
    unary: (_method, request, callOptions) =>
      Effect.suspend(() => {
        calls.push(callOptions)
        const error = errors[calls.length - 1]
        return error !== undefined ? Effect.fail(error) : Effect.succeed(request)
      }),
    stream: (_method, requests, callOptions) =>
      Stream.unwrap(Effect.sync(() => {
        calls.push(callOptions)
        const error = errors[calls.length - 1]
        const pull = options.pullFirst === true
          ? Effect.map(Stream.runHead(requests), (first) => taken.push(first))
          : Effect.void
        return error !== undefined
          ? Stream.fromEffect(Effect.andThen(pull, Effect.fail(error)))
          : Stream.mapEffect(Stream.fromEffect(pull), () => Effect.succeed("response"))
      }))
  }
  return { transport, calls, taken }
}

const unavailable = () => ConnectError.make("unavailable", "down")
const policy: Retry.Policy = { schedule: Schedule.spaced("1 millis").pipe(Schedule.upTo({ times: 5 })) }

describe("Retry", () => {
  it("retries an idempotent unary method, and a non-idempotent one only when not sent", async () => {
    const a = scripted([unavailable(), unavailable()])
    expect(await Effect.runPromise(Retry.transport(a.transport, policy).unary(say, "req"))).toBe("req")
    expect(a.calls).toHaveLength(3)

    const b = scripted([unavailable()])
    const exit = await Effect.runPromiseExit(Retry.transport(b.transport, policy).stream(introduce, Stream.make("req")).pipe(Stream.runCollect))
    expect(Exit.isFailure(exit)).toBe(true)
    expect(b.calls).toHaveLength(1)

    const c = scripted([ConnectError.notSent(unavailable()), ConnectError.notSent(unavailable())])
    const collected = await Effect.runPromise(Stream.runCollect(Retry.transport(c.transport, policy).stream(introduce, Stream.make("req"))))
    expect(collected).toEqual(["response"])
    expect(c.calls).toHaveLength(3)
  })

  it("replays a bidi stream only while none of its messages was taken", async () => {
    const notTaken = scripted([ConnectError.notSent(unavailable())])
    const ok = await Effect.runPromise(Stream.runCollect(Retry.transport(notTaken.transport, policy).stream(converse, Stream.make("m1"))))
    expect(ok).toEqual(["response"])
    expect(notTaken.calls).toHaveLength(2)

    const taken = scripted([ConnectError.notSent(unavailable())], { pullFirst: true })
    const exit = await Effect.runPromiseExit(Stream.runCollect(Retry.transport(taken.transport, policy).stream(converse, Stream.make("m1"))))
    expect(Exit.isFailure(exit)).toBe(true)
    expect(taken.calls).toHaveLength(1)
    expect(taken.taken).toHaveLength(1)
  })

  it("gives later attempts what is left of an inherited deadline", async () => {
    const a = scripted([unavailable(), unavailable()])
    const deadline = Date.now() + 5_000
    const current: HandlerContext = {
      method: say,
      protocol: "connect",
      httpMethod: "POST",
      url: "/",
      requestHeaders: new Headers(),
      responseHeaders: new Headers(),
      responseTrailers: new Headers(),
      deadline,
      timeRemaining: () => Math.max(0, deadline - Date.now())
    }
    await Effect.runPromise(Effect.provideService(Retry.transport(a.transport, policy).unary(say, "req", { timeoutMs: 60_000 }), CurrentCall, current))
    expect(a.calls[0]).toEqual({ timeoutMs: 60_000 })
    for (const later of a.calls.slice(1)) {
      expect(later!.timeoutMs).toBeGreaterThan(0)
      expect(later!.timeoutMs).toBeLessThanOrEqual(5_000)
    }
  })

  it("fails at once with the last error when the next attempt cannot start before the deadline", async () => {
    const a = scripted([unavailable(), unavailable(), unavailable()])
    const start = Date.now()
    const exit = await Effect.runPromiseExit(
      Retry.transport(a.transport, { schedule: Schedule.spaced("10 seconds") }).unary(say, "req", { timeoutMs: 1_000 })
    )
    expect(Date.now() - start).toBeLessThan(1_000)
    expect(a.calls).toHaveLength(1)
    expect(exit).toEqual(Exit.fail(expect.objectContaining({ code: "unavailable" })))
  })

  it("reads the server's pushback", () => {
    const withMeta = (metadata: Record<string, string>) => ConnectError.make("unavailable", "x", { metadata })
    expect(Retry.pushbackOf(unavailable())).toBeUndefined()
    expect(Retry.pushbackOf(withMeta({ "grpc-retry-pushback-ms": "250" }))).toBe(250)
    expect(Retry.pushbackOf(withMeta({ "grpc-retry-pushback-ms": "-1" }))).toBe("stop")
    expect(Retry.pushbackOf(withMeta({ "grpc-retry-pushback-ms": "soon" }))).toBe("stop")
    expect(Retry.pushbackOf(withMeta({ "retry-after": "3" }))).toBe(3_000)
    const date = Retry.pushbackOf(withMeta({ "retry-after": new Date(Date.now() + 10_000).toUTCString() }))
    expect(date).toBeGreaterThan(8_000)
    expect(Retry.pushbackOf(withMeta({ "retry-after": "whenever" }))).toBeUndefined()
  })

  it("keeps the not-sent mark when trailers are merged into an error", () => {
    const marked = ConnectError.notSent(unavailable())
    expect(ConnectError.isNotSent(ConnectError.withMetadata(marked, new Headers({ a: "b" })))).toBe(true)
    expect(ConnectError.isNotSent(unavailable())).toBe(false)
    expect(Retry.isIdempotent(say)).toBe(true)
    expect(Retry.isIdempotent(converse)).toBe(false)
  })
})
