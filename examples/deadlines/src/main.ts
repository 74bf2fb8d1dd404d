/**
 * Starts a backend and a gateway on free ports and calls the gateway with deadlines, narrating
 * what the backend saw.
 *
 *   npm run -w examples/deadlines demo
 */
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import * as Backend from "./backend.ts"
import * as Gateway from "./gateway.ts"

/** A `BackendProbe` that keeps what it hears, with a way to wait for an interruption. */
export interface Recorder {
  readonly layer: Layer.Layer<Backend.BackendProbe>
  readonly seen: ReadonlyArray<Backend.Seen>
  readonly interrupted: ReadonlyArray<string>
  /** What the backend saw of the call with this sentence (`undefined`: it never saw it). */
  readonly seenFor: (sentence: string) => Backend.Seen | undefined
  /** Completes when the backend's work for this sentence has been interrupted. */
  readonly whenInterrupted: (sentence: string) => Effect.Effect<void>
}

export const makeRecorder = (onSeen: (seen: Backend.Seen) => void = () => {}): Recorder => {
  const seen: Array<Backend.Seen> = []
  const interrupted: Array<string> = []
  const signals = new Map<string, { readonly promise: Promise<void>; readonly resolve: () => void }>()
  const signal = (sentence: string) => {
    let s = signals.get(sentence)
    if (s === undefined) {
      let resolve = () => {}
      const promise = new Promise<void>((r) => (resolve = r))
      s = { promise, resolve }
      signals.set(sentence, s)
    }
    return s
  }
  return {
    layer: Layer.succeed(Backend.BackendProbe, {
      seen: (s) =>
        Effect.sync(() => {
          seen.push(s)
          onSeen(s)
        }),
      interrupted: (sentence) =>
        Effect.sync(() => {
          interrupted.push(sentence)
          signal(sentence).resolve()
        })
    }),
    seen,
    interrupted,
    seenFor: (sentence) => seen.find((s) => s.sentence === sentence),
    whenInterrupted: (sentence) => Effect.promise(() => signal(sentence).promise)
  }
}

/** Builds a server layer in the current scope and returns its address. */
const serve = <E, R>(layer: Layer.Layer<NodeServer.NodeServer, E, R>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, NodeServer.NodeServer))

/**
 * Starts the backend, then the gateway calling it (over Connect or gRPC), both on free ports;
 * they stop when the scope closes.
 */
export const startChain = (probe: Layer.Layer<Backend.BackendProbe>, protocol: Gateway.BackendProtocol = "connect") =>
  Effect.gen(function*() {
    const backend = yield* serve(Backend.ServerLive(0).pipe(Layer.provide(probe)))
    const gateway = yield* serve(Gateway.ServerLive(0, backend.url, protocol))
    return { backendUrl: backend.url, gatewayUrl: gateway.url }
  })

/** How a call to the gateway ended, and how long it took. */
export type Outcome =
  | { readonly _tag: "ok"; readonly sentence: string; readonly elapsedMs: number }
  | { readonly _tag: "error"; readonly code: string; readonly message: string; readonly elapsedMs: number }

/**
 * Calls the gateway's `Say` from outside any handler (a plain client, Connect over HTTP/1.1),
 * with the call option `timeoutMs` when given.
 */
export const callGateway = (gatewayUrl: string, sentence: string, timeoutMs?: number) =>
  Effect.gen(function*() {
    const eliza = yield* ElizaClient
    const start = Date.now()
    return yield* eliza.say({ sentence }, { timeoutMs }).pipe(
      Effect.match({
        onSuccess: (r): Outcome => ({ _tag: "ok", sentence: r.sentence, elapsedMs: Date.now() - start }),
        onFailure: (e): Outcome => ({ _tag: "error", code: e.code, message: e.message, elapsedMs: Date.now() - start })
      })
    )
  }).pipe(Effect.provide(ElizaClient.layer.pipe(Layer.provide(NodeTransport.layerConnect({ baseUrl: gatewayUrl })))))

const describeSeen = (seen: Backend.Seen | undefined) =>
  seen === undefined
    ? "the backend never saw the call"
    : `backend (${seen.protocol}) saw ${
      seen.timeoutHeader === null ? "no timeout header" : `${seen.protocol === "connect" ? "connect-timeout-ms" : "grpc-timeout"}: ${seen.timeoutHeader}`
    }, timeRemaining() = ${seen.timeRemaining ?? "undefined"}`

const describeOutcome = (o: Outcome) =>
  o._tag === "ok" ? `caller got "${o.sentence}" after ${o.elapsedMs} ms` : `caller got ${o.code} after ${o.elapsedMs} ms`

/** The narrated run. */
export const demo = Effect.scoped(Effect.gen(function*() {
  const recorder = makeRecorder()
  const { backendUrl, gatewayUrl } = yield* startChain(recorder.layer)
  const grpcRecorder = makeRecorder()
  const grpcChain = yield* startChain(grpcRecorder.layer, "grpc")
  yield* Console.log(`backend on ${backendUrl}, gateway on ${gatewayUrl}`)

  yield* Console.log(`\n1. Propagation: the caller sets timeoutMs 2000; the gateway calls the backend with no options`)
  yield* Console.log(`   ${describeOutcome(yield* callGateway(gatewayUrl, "hello", 2000))}`)
  yield* Console.log(`   ${describeSeen(recorder.seenFor("hello"))}`)
  yield* callGateway(grpcChain.gatewayUrl, "hello over gRPC", 2000)
  yield* Console.log(`   gateway → backend over gRPC: ${describeSeen(grpcRecorder.seenFor("hello over gRPC"))}`)
  yield* callGateway(gatewayUrl, "no deadline")
  yield* Console.log(`   a caller without a timeout: ${describeSeen(recorder.seenFor("no deadline"))}`)

  yield* Console.log(`\n2. A slow backend (it would take 60 s): the caller sets timeoutMs 1000`)
  yield* Console.log(`   ${describeOutcome(yield* callGateway(gatewayUrl, "slow", 1000))}`)
  yield* recorder.whenInterrupted("slow").pipe(Effect.timeout("10 seconds"), Effect.ignore)
  yield* Console.log(`   ${describeSeen(recorder.seenFor("slow"))}`)
  yield* Console.log(`   backend handlers interrupted so far: ${recorder.interrupted.length} (${recorder.interrupted.join(", ")})`)

  yield* Console.log(`\n3. A shorter call option wins: the caller sets timeoutMs 10000, the gateway's nested call timeoutMs 300`)
  yield* Console.log(`   ${describeOutcome(yield* callGateway(gatewayUrl, "short: slow", 10_000))}`)
  yield* recorder.whenInterrupted("short: slow").pipe(Effect.timeout("10 seconds"), Effect.ignore)
  yield* Console.log(`   ${describeSeen(recorder.seenFor("short: slow"))}`)
  yield* Console.log(`   backend handlers interrupted so far: ${recorder.interrupted.length} (${recorder.interrupted.join(", ")})`)
  yield* callGateway(gatewayUrl, "long: hello", 2000)
  yield* Console.log(`   a longer one does not extend the deadline (caller 2000, nested 20000): ${describeSeen(recorder.seenFor("long: hello"))}`)

  yield* Console.log(`\n4. A fresh deadline: the gateway makes the nested call without CurrentCall, timeoutMs 20000; the caller sets 2000`)
  yield* Console.log(`   ${describeOutcome(yield* callGateway(gatewayUrl, "fresh: hello", 2000))}`)
  yield* Console.log(`   ${describeSeen(recorder.seenFor("fresh: hello"))}`)
  yield* Console.log(`   but cancellation still flows: a slow backend, the caller sets timeoutMs 1000`)
  yield* Console.log(`   ${describeOutcome(yield* callGateway(gatewayUrl, "fresh: slow", 1000))}`)
  yield* recorder.whenInterrupted("fresh: slow").pipe(Effect.timeout("10 seconds"), Effect.ignore)
  yield* Console.log(`   ${describeSeen(recorder.seenFor("fresh: slow"))}`)
  yield* Console.log(`   backend handlers interrupted so far: ${recorder.interrupted.length} (${recorder.interrupted.join(", ")})`)
}))

if (import.meta.main) {
  Effect.runPromise(demo).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
