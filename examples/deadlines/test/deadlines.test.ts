/**
 * Deadline propagation over real sockets: a caller → gateway → backend chain on two NodeServers,
 * the gateway calling the backend through a generated client on NodeTransport. Bounds, not tight
 * timings: the suite shares a loaded machine.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import type { Seen } from "../src/backend.ts"
import type { BackendProtocol } from "../src/gateway.ts"
import { callGateway, makeRecorder, type Recorder, startChain } from "../src/main.ts"

const root = path.resolve(import.meta.dirname, "../../..")

/** Runs `f` against a fresh backend + gateway; the servers stop afterwards. */
const withChain = <A>(
  f: (gatewayUrl: string, recorder: Recorder) => Effect.Effect<A, unknown>,
  protocol: BackendProtocol = "connect"
) => {
  const recorder = makeRecorder()
  return Effect.runPromise(Effect.scoped(Effect.flatMap(startChain(recorder.layer, protocol), ({ gatewayUrl }) => f(gatewayUrl, recorder))))
}

/** Waits (bounded, generously) until the backend's work for `sentence` was interrupted. */
const interruptedWithin = (recorder: Recorder, sentence: string) =>
  recorder.whenInterrupted(sentence).pipe(
    Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die(new Error(`backend work for "${sentence}" was not interrupted`)) })
  )

/** The timeout the backend received, in milliseconds (`connect-timeout-ms: 123` or `grpc-timeout: 123m`). */
const headerMs = (seen: Seen | undefined): number => {
  const header = seen?.timeoutHeader ?? null
  expect(header).not.toBeNull()
  const m = /^(\d+)m?$/.exec(header!)
  expect(m).not.toBeNull()
  return Number(m![1])
}

describe("deadlines example", () => {
  it.each(["connect", "grpc"] as const)(
    "the backend gets what is left of the caller's deadline in a header nobody set (gateway → backend over %s)",
    async (protocol) => {
      const timeoutMs = 10_000
      const { outcome, seen } = await withChain((gatewayUrl, recorder) =>
        Effect.map(callGateway(gatewayUrl, "hello", timeoutMs), (outcome) => ({ outcome, seen: recorder.seenFor("hello") })), protocol)
      expect(outcome._tag).toBe("ok")
      expect(seen?.protocol).toBe(protocol)
      // the gateway called `backend.say({ sentence })` with no options: the header comes from the inherited deadline
      expect(seen?.timeoutHeader).toMatch(protocol === "connect" ? /^\d+$/ : /^\d+m$/)
      const sent = headerMs(seen)
      expect(sent).toBeGreaterThan(0)
      expect(sent).toBeLessThan(timeoutMs)
      expect(seen?.timeRemaining).toBeDefined()
      expect(seen!.timeRemaining!).toBeGreaterThan(0)
      expect(seen!.timeRemaining!).toBeLessThanOrEqual(sent)
      expect(seen!.timeRemaining!).toBeLessThan(timeoutMs)
    }
  )

  it("a caller without a deadline gives the backend none", async () => {
    const { outcome, seen } = await withChain((gatewayUrl, recorder) =>
      Effect.map(callGateway(gatewayUrl, "no deadline"), (outcome) => ({ outcome, seen: recorder.seenFor("no deadline") })))
    expect(outcome._tag).toBe("ok")
    expect(seen?.timeoutHeader).toBeNull()
    expect(seen?.timeRemaining).toBeUndefined()
  })

  it("a slow backend fails the whole chain with deadline_exceeded at the caller's deadline, and its handler is interrupted", async () => {
    const timeoutMs = 4_000
    const { outcome, seen, interrupted } = await withChain((gatewayUrl, recorder) =>
      Effect.gen(function*() {
        const outcome = yield* callGateway(gatewayUrl, "slow", timeoutMs)
        yield* interruptedWithin(recorder, "slow")
        return { outcome, seen: recorder.seenFor("slow"), interrupted: [...recorder.interrupted] }
      }))
    expect(outcome._tag).toBe("error")
    if (outcome._tag !== "error") return
    expect(outcome.code).toBe("deadline_exceeded")
    // not before the caller's deadline (small slack for timer granularity), and long before the backend's 60 s
    expect(outcome.elapsedMs).toBeGreaterThanOrEqual(timeoutMs - 100)
    expect(outcome.elapsedMs).toBeLessThan(30_000)
    expect(headerMs(seen)).toBeLessThan(timeoutMs)
    expect(interrupted).toEqual(["slow"])
  })

  it("a shorter timeoutMs on the nested call wins; a longer one does not extend the inherited deadline", async () => {
    const { short, shortSeen, interrupted, long, longSeen } = await withChain((gatewayUrl, recorder) =>
      Effect.gen(function*() {
        // caller: 20 s; gateway → backend: `{ timeoutMs: 300 }`, the backend is slow, the gateway falls back
        const short = yield* callGateway(gatewayUrl, "short: slow", 20_000)
        yield* interruptedWithin(recorder, "short: slow")
        // caller: 10 s; gateway → backend: `{ timeoutMs: 20_000 }`
        const long = yield* callGateway(gatewayUrl, "long: hello", 10_000)
        return {
          short,
          shortSeen: recorder.seenFor("short: slow"),
          interrupted: [...recorder.interrupted],
          long,
          longSeen: recorder.seenFor("long: hello")
        }
      }))
    expect(short).toMatchObject({ _tag: "ok", sentence: "gateway: fallback, the backend was too slow (deadline_exceeded)" })
    expect(headerMs(shortSeen)).toBeLessThanOrEqual(300)
    expect(shortSeen?.timeRemaining).toBeLessThanOrEqual(300)
    expect(interrupted).toEqual(["short: slow"])
    expect(long._tag).toBe("ok")
    expect(headerMs(longSeen)).toBeLessThan(10_000)
  })

  it("without CurrentCall the nested call gets a fresh deadline, but is still canceled with the gateway's call", async () => {
    const { fresh, freshSeen, slow, slowSeen, interrupted } = await withChain((gatewayUrl, recorder) =>
      Effect.gen(function*() {
        // caller: 5 s; the gateway calls the backend outside CurrentCall with `{ timeoutMs: 20_000 }`
        const fresh = yield* callGateway(gatewayUrl, "fresh: hello", 5_000)
        // the same with a slow backend: the gateway's handler is interrupted at the caller's deadline
        const slow = yield* callGateway(gatewayUrl, "fresh: slow", 3_000)
        yield* interruptedWithin(recorder, "fresh: slow")
        return {
          fresh,
          freshSeen: recorder.seenFor("fresh: hello"),
          slow,
          slowSeen: recorder.seenFor("fresh: slow"),
          interrupted: [...recorder.interrupted]
        }
      }))
    expect(fresh._tag).toBe("ok")
    expect(headerMs(freshSeen)).toBeGreaterThan(5_000)
    expect(headerMs(freshSeen)).toBeLessThanOrEqual(20_000)
    expect(freshSeen!.timeRemaining!).toBeGreaterThan(5_000)
    expect(slow).toMatchObject({ _tag: "error", code: "deadline_exceeded" })
    expect(headerMs(slowSeen)).toBeGreaterThan(3_000)
    expect(interrupted).toEqual(["fresh: slow"])
  })

  it("`npm run demo` exits 0", () => {
    const out = execFileSync(path.join(root, "node_modules/.bin/node"), ["src/main.ts"], {
      cwd: path.join(root, "examples/deadlines"),
      encoding: "utf8",
      timeout: 60_000
    })
    expect(out).toMatch(/backend \(connect\) saw connect-timeout-ms: \d+, timeRemaining\(\) = \d+/)
    expect(out).toMatch(/backend \(grpc\) saw grpc-timeout: \d+m/)
    expect(out).toContain("a caller without a timeout: backend (connect) saw no timeout header")
    expect(out).toContain("caller got deadline_exceeded")
    expect(out).toContain("gateway: fallback, the backend was too slow (deadline_exceeded)")
    expect(out).toContain("backend handlers interrupted so far: 3 (slow, short: slow, fresh: slow)")
  })
})
