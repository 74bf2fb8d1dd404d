/**
 * The backend: an Eliza `Say` that reports what it knows about its deadline — the timeout header
 * it received and `call.timeRemaining()` — to a `BackendProbe`, then answers. A sentence containing
 * "slow" makes it take a minute, and the probe hears when that work is interrupted.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import { ElizaService } from "../../eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

/** What the backend saw of one call. */
export interface Seen {
  readonly sentence: string
  /** `connect`, `grpc` or `grpc-web`. */
  readonly protocol: string
  /** The deadline header as received: `connect-timeout-ms` (Connect) or `grpc-timeout` (gRPC), or `null`. */
  readonly timeoutHeader: string | null
  /** `call.timeRemaining()` when the handler started. */
  readonly timeRemaining: number | undefined
}

/** Where the backend reports (a service, so the demo can print it and the test can collect it). */
export class BackendProbe extends Context.Service<BackendProbe, {
  readonly seen: (seen: Seen) => Effect.Effect<void>
  readonly interrupted: (sentence: string) => Effect.Effect<void>
}>()("example/BackendProbe") {}

/** The deadline header of a request, whichever protocol it came over. */
const timeoutHeader = (headers: Headers) => headers.get("connect-timeout-ms") ?? headers.get("grpc-timeout")

/** Only `Say` is implemented; the other Eliza methods answer `unimplemented`. */
export const router = Router.service(Router.empty, ElizaService, {
  say: (request, call) =>
    Effect.gen(function*() {
      const probe = yield* BackendProbe
      const timeRemaining = call.timeRemaining()
      yield* probe.seen({
        sentence: request.sentence,
        protocol: call.protocol,
        timeoutHeader: timeoutHeader(call.requestHeaders),
        timeRemaining
      })
      if (request.sentence.includes("slow")) {
        // far longer than any deadline in this example: the server interrupts it when the
        // deadline passes (or when the caller goes away), and the finalizer reports it
        yield* Effect.sleep("60 seconds").pipe(Effect.onInterrupt(() => probe.interrupted(request.sentence)))
      }
      return { sentence: `backend had ${timeRemaining ?? "no deadline, ∞"} ms left` }
    })
})

/** The backend server on `port` (0: any free port); it needs a `BackendProbe`. */
export const ServerLive = (port: number): Layer.Layer<NodeServer.NodeServer, NodeServer.ServeError, BackendProbe> =>
  NodeServer.layerRouter(router, { port })
