/**
 * Cancellation over real sockets, for every call kind (unary, server stream, client stream, bidi)
 * × protocol (Connect, gRPC, gRPC-Web) × HTTP version (HTTP/1.1 where the protocol allows it, h2c):
 * - interrupting the client's fiber reaches the server: the handler is interrupted (or, when it is
 *   reading a request stream, that stream fails with `canceled` first) and its finalizer runs
 *   within 500 ms;
 * - a handler that completes normally is never reported as cancelled: its finalizer sees a
 *   success exit, and the client gets its answer (20 times each, to catch races between the end
 *   of the response and the release of the call).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import type { ElizaServiceClient } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { combos, makeClient, makeRouter, outcomeOf, Probe, waitFor } from "./fixtures/reliability.ts"

const BOUND_MS = 500
const REPEAT = 20

const probe = new Probe()
const scope = Effect.runSync(Scope.make())
let url = ""
beforeAll(async () => {
  const ctx = await Effect.runPromise(Layer.buildWithScope(NodeServer.layerRouter(makeRouter(probe), { port: 0 }), scope))
  url = Context.get(ctx, NodeServer.NodeServer).url
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

let nextId = 0
const newId = () => `call-${nextId++}`
const opts = (id: string) => ({ headers: { "x-call-id": id } })
/** A request stream that sends one message and stays open. */
const openRequests = (sentence: string) => Stream.concat(Stream.make({ sentence }), Stream.never)

type Kind = "unary" | "server stream" | "client stream" | "bidi"
const kinds: ReadonlyArray<Kind> = ["unary", "server stream", "client stream", "bidi"]

/**
 * A call that stays open until canceled; `ready` tells when it is established (the handler runs
 * and, for kinds with a response stream, the client has the first message).
 */
const openCall = (c: ElizaServiceClient, kind: Kind, id: string): { effect: Effect.Effect<unknown, unknown>; ready: () => boolean } => {
  let received = false
  const started = () => probe.starts.has(id)
  switch (kind) {
    case "unary":
      return { effect: c.say({ sentence: "never" }, opts(id)), ready: started }
    case "server stream":
      return {
        effect: Stream.runForEach(c.introduce({ name: "forever" }, opts(id)), () => Effect.sync(() => (received = true))),
        ready: () => started() && received
      }
    case "client stream":
      return { effect: c.reflect(openRequests("a"), opts(id)), ready: started }
    case "bidi":
      return {
        effect: Stream.runForEach(c.converse(openRequests("a"), opts(id)), () => Effect.sync(() => (received = true))),
        ready: () => started() && received
      }
  }
}

/** A call that completes normally, and whether its answer is right. */
const normalCall = (c: ElizaServiceClient, kind: Kind, id: string): Effect.Effect<boolean, unknown> => {
  switch (kind) {
    case "unary":
      return Effect.map(c.say({ sentence: "hi" }, opts(id)), (r) => r.sentence === "echo: hi")
    case "server stream":
      return Effect.map(Stream.runCollect(c.introduce({ name: "n:3" }, opts(id))), (all) => all.map((r) => r.sentence).join() === "#1,#2,#3")
    case "client stream":
      return Effect.map(c.reflect(Stream.make({ sentence: "a" }, { sentence: "b" }), opts(id)), (r) => r.summary === "a|b")
    case "bidi":
      return Effect.map(
        Stream.runCollect(c.converse(Stream.make({ sentence: "a" }, { sentence: "b" }), opts(id))),
        (all) => all.map((r) => r.sentence).join() === "echo a,echo b"
      )
  }
}

const clientScope = Effect.runSync(Scope.make())
afterAll(() => Effect.runPromise(Scope.close(clientScope, Exit.void)))

const latencies: Array<number> = []
const exitsSeen: Record<string, number> = {}
afterAll(() => {
  if (process.env.CANCEL_REPORT !== undefined && latencies.length > 0) {
    const sorted = [...latencies].sort((a, b) => a - b)
    console.log(JSON.stringify({
      cancellations: sorted.length,
      medianMs: sorted[Math.floor(sorted.length / 2)]!.toFixed(2),
      maxMs: sorted[sorted.length - 1]!.toFixed(2),
      exits: exitsSeen
    }))
  }
})

describe.each(combos)("$protocol over HTTP/$httpVersion", ({ protocol, httpVersion }) => {
  let client: ElizaServiceClient
  beforeAll(async () => {
    client = await makeClient(clientScope, url, protocol, httpVersion)
  })

  it.each(kinds)("%s: client interruption runs the handler's finalizer within 500 ms", async (kind) => {
    const id = newId()
    const call = openCall(client, kind, id)
    const fiber = Effect.runFork(call.effect)
    expect(await waitFor(call.ready, 3000)).toBe(true)
    expect(probe.ends.has(id)).toBe(false)
    const t0 = performance.now()
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(await waitFor(() => probe.ends.has(id), 3000)).toBe(true)
    const end = probe.ends.get(id)!
    latencies.push(end.at - t0)
    // interrupted, or (streaming requests) its request stream failed with canceled first
    expect(end.exit === "interrupt" || (end.exit === "failure" && end.code === "canceled"), JSON.stringify(end)).toBe(true)
    const seen = end.code === undefined ? end.exit : `${end.exit} ${end.code}`
    exitsSeen[seen] = (exitsSeen[seen] ?? 0) + 1
    expect(end.at - t0).toBeLessThan(BOUND_MS)
  })

  it.each(kinds)(`%s: a handler that completes is never reported as cancelled (${REPEAT} calls)`, async (kind) => {
    const ids = Array.from({ length: REPEAT }, newId)
    const exits = await Promise.all(ids.map((id) => Effect.runPromiseExit(normalCall(client, kind, id))))
    expect(exits.map((e) => (Exit.isSuccess(e) ? (e.value ? "ok" : "wrong answer") : outcomeOf(e)))).toEqual(ids.map(() => "ok"))
    expect(await waitFor(() => ids.every((id) => probe.ends.has(id)), 2000)).toBe(true)
    expect(ids.map((id) => probe.ends.get(id)!.exit)).toEqual(ids.map(() => "success"))
  })
})
