/**
 * Client faults:
 * - the server (a child process, fixtures/server.ts) is killed with SIGKILL under client load and
 *   restarted on the same port: every call ends with success or `unavailable`, none outlives its
 *   deadline, and traffic recovers on the new server, for every protocol and HTTP version;
 * - deadlines always fire: against a server that never answers (a TCP socket that never speaks,
 *   an HTTP server that never responds, one that sends response headers and then nothing) every
 *   call fails with `deadline_exceeded` within a small bound of its deadline, over HTTP/1.1 and
 *   HTTP/2, for every call kind; and so does a server process that hangs (SIGSTOP) with the
 *   client's connections open, after which (SIGCONT) the same clients work again.
 */
import * as net from "node:net"
import { afterAll, describe, expect, it } from "vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import type { ElizaServiceClient } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { type ChildServer, combos, makeClient, messageOf, outcomeOf, sleep, startChildServer } from "./fixtures/reliability.ts"

const scope = Effect.runSync(Scope.make())
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

/** Runs a call; a call still running `bound` ms after its deadline counts as a hang. */
const bounded = (effect: Effect.Effect<unknown, unknown>, deadlineMs: number, bound: number) => {
  const startedAt = performance.now()
  return new Promise<{ outcome: string; message: string; startedAt: number; ms: number }>((resolve) => {
    const timer = setTimeout(
      () => resolve({ outcome: "hang", message: "", startedAt, ms: performance.now() - startedAt }),
      deadlineMs + bound
    )
    void Effect.runPromiseExit(effect).then((exit) => {
      clearTimeout(timer)
      resolve({ outcome: outcomeOf(exit), message: messageOf(exit), startedAt, ms: performance.now() - startedAt })
    })
  })
}

describe("client faults: server killed and restarted under load", () => {
  const DEADLINE_MS = 2000
  const WORKERS = 4

  it("every call ends with success or unavailable, none hangs, traffic recovers on the new server", async () => {
    let server: ChildServer = await startChildServer({})
    const port = server.port
    const clients = await Promise.all(combos.map((c) => makeClient(scope, server.url, c.protocol, c.httpVersion)))
    const results: Array<{ combo: number; outcome: string; message: string; startedAt: number; ms: number }> = []
    let running = true
    const worker = async (combo: number, w: number) => {
      const c: ElizaServiceClient = clients[combo]!
      for (let i = 0; running; i++) {
        const call = (i + w) % 2 === 0
          ? c.say({ sentence: "x" }, { timeoutMs: DEADLINE_MS })
          : Stream.runDrain(c.introduce({ name: "n:3:20" }, { timeoutMs: DEADLINE_MS }))
        const r = await bounded(call, DEADLINE_MS, 500)
        results.push({ combo, ...r })
        if (r.outcome !== "ok") await sleep(10)
      }
    }
    const workers = combos.flatMap((_, combo) => Array.from({ length: WORKERS }, (_, w) => worker(combo, w)))
    try {
      await sleep(700)
      const killedAt = performance.now()
      server.child.kill("SIGKILL")
      await server.exited
      await sleep(300)
      server = await startChildServer({ port })
      const restartedAt = performance.now()
      await sleep(1500)
      running = false
      await Promise.all(workers)

      const outcomes: Record<string, number> = {}
      for (const r of results) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1
      const unexpected = results.filter((r) => r.outcome !== "ok" && r.outcome !== "unavailable")
      expect(unexpected.map((r) => `${combos[r.combo]!.protocol}/${combos[r.combo]!.httpVersion}: ${r.outcome} ${r.message}`)).toEqual([])
      expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(DEADLINE_MS)
      // calls were in flight when the server died (they failed), and calls made while it was down failed
      const inFlightAtKill = results.filter((r) => r.startedAt < killedAt && r.startedAt + r.ms > killedAt)
      expect(inFlightAtKill.length).toBeGreaterThan(0)
      expect(inFlightAtKill.every((r) => r.outcome === "unavailable" || r.outcome === "ok")).toBe(true)
      expect(outcomes["unavailable"]).toBeGreaterThan(inFlightAtKill.length)
      const recovery = combos.map((c, combo) => {
        const mine = results.filter((r) => r.combo === combo)
        const firstOk = mine.find((r) => r.startedAt >= restartedAt && r.outcome === "ok")
        // the last calls of every client succeeded on the new server
        const last = mine.slice(-5)
        expect(last.map((r) => r.outcome), `${c.protocol}/${c.httpVersion}`).toEqual(last.map(() => "ok"))
        expect(firstOk, `${c.protocol}/${c.httpVersion} recovered`).toBeDefined()
        return {
          combo: `${c.protocol}/${c.httpVersion}`,
          calls: mine.length,
          unavailable: mine.filter((r) => r.outcome === "unavailable").length,
          recoveryMs: Math.round(firstOk!.startedAt + firstOk!.ms - restartedAt)
        }
      })
      for (const r of recovery) expect(r.recoveryMs).toBeLessThan(1000)
      if (process.env.FAULTS_REPORT !== undefined) {
        const longest = Math.round(Math.max(...results.map((r) => r.ms)))
        const downMs = Math.round(restartedAt - killedAt)
        const messages = Array.from(new Set(results.filter((r) => r.outcome !== "ok").map((r) => r.message)))
        const killed = inFlightAtKill.map((r) => r.outcome).join(",")
        console.log(JSON.stringify({ outcomes, inFlightAtKill: killed, longestCallMs: longest, downMs, recovery, messages }, null, 2))
      }
    } finally {
      running = false
      server.child.kill("SIGKILL")
    }
  }, 30_000)
})

describe("client faults: deadlines always fire", () => {
  const DEADLINE_MS = 300
  /** A deadline fires within this many ms. */
  const BOUND_MS = 300

  /** Accepts TCP connections and never reads or writes. */
  const silentTcp = async () => {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((s) => {
      sockets.add(s)
      s.on("error", () => {})
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const { port } = server.address() as net.AddressInfo
    return {
      url: `http://127.0.0.1:${port}`,
      close: () => {
        for (const s of sockets) s.destroy()
        server.close()
      }
    }
  }

  /** A NodeServer (HTTP/1.1 and h2c) whose handler never answers, or answers headers only. */
  const silentHttp = async (headersFirst: boolean) => {
    const serverScope = Effect.runSync(Scope.make())
    const handler: NodeServer.Handler<never> = (req, w) =>
      Effect.suspend(() => {
        if (headersFirst) w.head(200, new Headers({ "content-type": req.headers.get("content-type") ?? "application/proto" }))
        return Effect.never
      })
    const ctx = await Effect.runPromise(Layer.buildWithScope(NodeServer.layer(handler, { port: 0, gracePeriodMs: 0 }), serverScope))
    return {
      url: Context.get(ctx, NodeServer.NodeServer).url,
      close: () => void Effect.runPromise(Scope.close(serverScope, Exit.void))
    }
  }

  it("a server that never answers: deadline_exceeded within the bound, every protocol, HTTP version and call kind", async () => {
    const servers = {
      "silent TCP": await silentTcp(),
      "no response": await silentHttp(false),
      "headers, then nothing": await silentHttp(true)
    }
    try {
      const cases = await Promise.all(Object.entries(servers).flatMap(([name, s]) =>
        combos.map(async (c) => {
          const client = await makeClient(scope, s.url, c.protocol, c.httpVersion)
          const kinds = {
            unary: client.say({ sentence: "x" }, { timeoutMs: DEADLINE_MS }),
            "server stream": Stream.runDrain(client.introduce({ name: "x" }, { timeoutMs: DEADLINE_MS })),
            "client stream": client.reflect(Stream.make({ sentence: "x" }), { timeoutMs: DEADLINE_MS }),
            bidi: Stream.runDrain(client.converse(Stream.make({ sentence: "x" }), { timeoutMs: DEADLINE_MS }))
          }
          return Promise.all(Object.entries(kinds).map(async ([kind, call]) => {
            const r = await bounded(call, DEADLINE_MS, 2000)
            return { what: `${name}: ${c.protocol}/${c.httpVersion} ${kind}`, outcome: r.outcome, ms: r.ms }
          }))
        })
      )).then((all) => all.flat())
      expect(cases.length).toBe(3 * 5 * 4)
      expect(cases.map((r) => `${r.what}: ${r.outcome}`)).toEqual(cases.map((r) => `${r.what}: deadline_exceeded`))
      for (const r of cases) {
        expect(r.ms, r.what).toBeGreaterThanOrEqual(DEADLINE_MS - 5)
        expect(r.ms, r.what).toBeLessThan(DEADLINE_MS + BOUND_MS)
      }
      if (process.env.FAULTS_REPORT !== undefined) {
        const ms = cases.map((r) => r.ms)
        console.log(JSON.stringify({ cases: cases.length, minMs: Math.min(...ms), maxMs: Math.max(...ms) }))
      }
    } finally {
      for (const s of Object.values(servers)) s.close()
    }
  }, 20_000)

  it("a server process that hangs (SIGSTOP) on open connections: deadline_exceeded, then recovery after SIGCONT", async () => {
    const server = await startChildServer({})
    try {
      const clients = await Promise.all(combos.map((c) => makeClient(scope, server.url, c.protocol, c.httpVersion)))
      // connections are open and warm
      for (const c of clients) expect(outcomeOf(await Effect.runPromiseExit(c.say({ sentence: "warm" })))).toBe("ok")
      server.child.kill("SIGSTOP")
      const frozen = await Promise.all(clients.flatMap((c, i) => [
        bounded(c.say({ sentence: "x" }, { timeoutMs: DEADLINE_MS }), DEADLINE_MS, 2000).then((r) => ({ ...r, what: `${combos[i]!.protocol}/${combos[i]!.httpVersion} unary` })),
        bounded(Stream.runDrain(c.converse(Stream.make({ sentence: "x" }), { timeoutMs: DEADLINE_MS })), DEADLINE_MS, 2000).then((r) => ({ ...r, what: `${combos[i]!.protocol}/${combos[i]!.httpVersion} bidi` }))
      ]))
      server.child.kill("SIGCONT")
      expect(frozen.map((r) => `${r.what}: ${r.outcome}`)).toEqual(frozen.map((r) => `${r.what}: deadline_exceeded`))
      for (const r of frozen) expect(r.ms, r.what).toBeLessThan(DEADLINE_MS + BOUND_MS)
      // the same clients work again once the server runs
      const after = await Promise.all(clients.map((c) => Effect.runPromiseExit(c.say({ sentence: "again" }, { timeoutMs: 5000 }))))
      expect(after.map(outcomeOf)).toEqual(clients.map(() => "ok"))
    } finally {
      server.child.kill("SIGKILL")
    }
  }, 20_000)
})
