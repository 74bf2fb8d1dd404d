/**
 * Graceful shutdown, on scope close (server in this process) and on SIGTERM (server in a child
 * process, fixtures/server.ts, which closes its scope on SIGTERM): with calls in flight over every
 * protocol and HTTP version, the server stops accepting new connections at once, every call that
 * finishes within the grace period gets its full answer (0 lost), and the calls still running
 * when the grace period ends fail with `unavailable` soon after it (never a hang), their handlers
 * interrupted (finalizers run).
 */
import { afterAll, describe, expect, it } from "vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import type { ElizaServiceClient } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import {
  combos,
  makeClient,
  makeRouter,
  messageOf,
  outcomeOf,
  Probe,
  sleep,
  startChildServer,
  waitFor
} from "./fixtures/reliability.ts"

const GRACE_MS = 2000
/** How long after the grace period the cut calls may take to fail (it is ~10 ms in practice). */
const CUT_BOUND_MS = 1000

const clientScope = Effect.runSync(Scope.make())
afterAll(() => Effect.runPromise(Scope.close(clientScope, Exit.void)))

interface Tracked {
  readonly name: string
  readonly expected: unknown
  readonly result: Promise<{ outcome: string; message: string; value: unknown; endedAt: number }>
}

/** Calls ended so far. */
let ended = 0

const track = (name: string, effect: Effect.Effect<unknown, unknown>, expected: unknown = undefined): Tracked => ({
  name,
  expected,
  result: Effect.runPromiseExit(effect).then((exit) => (ended++, {
    outcome: outcomeOf(exit),
    message: messageOf(exit),
    value: Exit.isSuccess(exit) ? exit.value : undefined,
    endedAt: performance.now()
  }))
})

const ticks = (n: number, ms: number, prefix: string) =>
  Stream.range(1, n).pipe(Stream.mapEffect((i) => Effect.as(Effect.sleep(ms), { sentence: `${prefix}${i}` })))

/** Calls that finish within ~1 s (inside the grace period), over one client. */
const shortCalls = (c: ElizaServiceClient, label: string): Array<Tracked> => [
  ...[0, 1, 2, 3].map((i) =>
    track(`${label} unary ${i}`, Effect.map(c.say({ sentence: `sleep:${800 + i * 50}` }), (r) => r.sentence), `slept ${800 + i * 50}`)
  ),
  ...[0, 1].map((i) =>
    track(
      `${label} server stream ${i}`,
      Effect.map(Stream.runCollect(c.introduce({ name: "n:5:180" })), (all) => all.map((r) => r.sentence).join(",")),
      "#1,#2,#3,#4,#5"
    )
  ),
  track(`${label} client stream`, Effect.map(c.reflect(ticks(4, 220, "m")), (r) => r.summary), "m1|m2|m3|m4"),
  track(
    `${label} bidi`,
    Effect.map(Stream.runCollect(c.converse(ticks(4, 220, "b"))), (all) => all.map((r) => r.sentence).join(",")),
    "echo b1,echo b2,echo b3,echo b4"
  )
]

/** Calls that never finish on their own. */
const longCalls = (c: ElizaServiceClient, label: string): Array<Tracked> => [
  track(`${label} unary never`, c.say({ sentence: "never" })),
  track(`${label} server stream forever`, Stream.runDrain(c.introduce({ name: "forever" })))
]

interface Server {
  readonly url: string
  readonly active: () => Promise<number>
  /** Starts the shutdown; resolves when the server is gone. */
  readonly shutdown: () => Promise<void>
}

/** Puts calls in flight on every protocol / HTTP version, shuts the server down, checks every call. */
const scenario = async (server: Server) => {
  const clients = await Promise.all(combos.map((c) => makeClient(clientScope, server.url, c.protocol, c.httpVersion)))
  ended = 0
  const short = clients.flatMap((c, i) => shortCalls(c, `${combos[i]!.protocol}/${combos[i]!.httpVersion}`))
  const long = clients.flatMap((c, i) => longCalls(c, `${combos[i]!.protocol}/${combos[i]!.httpVersion}`))
  const total = short.length + long.length
  // every handler is running, none has finished
  let active = 0
  for (const end = performance.now() + 3000; active !== total && performance.now() < end;) {
    active = await server.active()
    if (active !== total) await sleep(10)
  }
  expect(active).toBe(total)
  expect(ended).toBe(0)

  const t0 = performance.now()
  const closed = server.shutdown().then(() => performance.now())
  await sleep(100)
  // no new connections: a fresh client (new connection) and a connected HTTP/2 client (after GOAWAY)
  const fresh = await makeClient(clientScope, server.url, "connect", "2")
  const refused = await Promise.all([
    Effect.runPromiseExit(fresh.say({ sentence: "new" }, { timeoutMs: 2000 })),
    Effect.runPromiseExit(clients[1]!.say({ sentence: "new" }, { timeoutMs: 2000 }))
  ])
  expect(refused.map(outcomeOf)).toEqual(["unavailable", "unavailable"])

  // 0 lost: every call that finishes within the grace period gets its whole answer
  const shortResults = await Promise.all(short.map((c) => c.result))
  const lost = short.flatMap((c, i) => {
    const r = shortResults[i]!
    return r.outcome === "ok" && r.value === c.expected ? [] : [`${c.name}: ${r.outcome} ${r.message} ${String(r.value)}`]
  })
  expect(lost).toEqual([])
  for (const r of shortResults) expect(r.endedAt - t0).toBeLessThan(GRACE_MS)

  // the rest end with unavailable shortly after the grace period, none hangs
  const longResults = await Promise.all(long.map((c) => c.result))
  const cut = longResults.map((r, i) => `${long[i]!.name}: ${r.outcome}`)
  expect(cut).toEqual(long.map((c) => `${c.name}: unavailable`))
  for (const r of longResults) {
    expect(r.endedAt - t0).toBeGreaterThan(GRACE_MS - 50)
    expect(r.endedAt - t0).toBeLessThan(GRACE_MS + CUT_BOUND_MS)
  }
  const closedAt = await closed
  expect(closedAt - t0).toBeLessThan(GRACE_MS + CUT_BOUND_MS + 1000)
  return {
    short: short.length,
    long: long.length,
    closeMs: Math.round(closedAt - t0),
    cutAfterGraceMs: longResults.map((r) => Math.round(r.endedAt - t0 - GRACE_MS)),
    messages: Array.from(new Set(longResults.map((r) => r.message)))
  }
}

describe("graceful shutdown", () => {
  it("on scope close: stops accepting, 0 lost within the grace period, the rest cut with unavailable", async () => {
    const probe = new Probe()
    const scope = Effect.runSync(Scope.make())
    const ctx = await Effect.runPromise(Layer.buildWithScope(
      NodeServer.layerRouter(makeRouter(probe), { port: 0, gracePeriodMs: GRACE_MS }),
      scope
    ))
    const info = Context.get(ctx, NodeServer.NodeServer)
    const report = await scenario({
      url: info.url,
      active: async () => probe.active,
      shutdown: () => Effect.runPromise(Scope.close(scope, Exit.void))
    })
    // the cut calls' handlers were interrupted: their finalizers ran, nothing is left running
    expect(await waitFor(() => probe.active === 0, 1000)).toBe(true)
    expect(probe.exits.interrupt).toBe(report.long)
    expect(probe.exits.success).toBe(report.short)
    if (process.env.SHUTDOWN_REPORT !== undefined) console.log("scope close", JSON.stringify(report))
  }, 20_000)

  it("on SIGTERM (child process): the same, and the process exits 0", async () => {
    const server = await startChildServer({ gracePeriodMs: GRACE_MS })
    try {
      let exitedAt = 0
      const report = await scenario({
        url: server.url,
        active: async () => (await server.stats()).active,
        shutdown: async () => {
          server.child.kill("SIGTERM")
          const exit = await server.exited
          exitedAt = performance.now()
          expect(exit).toEqual({ code: 0, signal: null })
        }
      })
      const closed = /^CLOSED (.*)$/m.exec(server.output().stdout)
      expect(closed).not.toBeNull()
      const stats = JSON.parse(closed![1]!) as { active: number; exits: Record<string, number> }
      expect(stats.exits.interrupt).toBe(report.long)
      expect(stats.exits.success).toBe(report.short)
      if (process.env.SHUTDOWN_REPORT !== undefined) console.log("SIGTERM", JSON.stringify({ ...report, exitedAt }))
    } finally {
      server.child.kill("SIGKILL")
    }
  }, 20_000)
})
