/**
 * Starts the NumbersService on a free port (HTTP/1.1 + h2c), runs every client pattern against
 * it over HTTP/2, prints what each returned, and exits.
 *
 *   npm run -w examples/streaming demo
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { NumbersClient, NumbersService } from "../gen/streaming/v1/numbers_connect.ts"
import { NumbersLive } from "./NumbersLive.ts"
import * as Patterns from "./patterns.ts"

export const ServerLive = NodeServer.layerRouter(Router.fromServices(NumbersService), { port: 0 }).pipe(
  Layer.provide(NumbersLive)
)

/** Runs every pattern and returns the printed lines. */
export const demo = Effect.gen(function*() {
  const lines: Array<string> = []
  const print = (line: string) => Effect.andThen(Effect.sync(() => lines.push(line)), Console.log(line))
  yield* print(`collect a server stream:        ${(yield* Patterns.collectServerStream).join(", ")}`)
  yield* print(`take 3 from an endless stream:  ${(yield* Patterns.takeFromEndlessStream).join(", ")}`)
  yield* print(`server stream with a deadline:  ${yield* Patterns.streamWithDeadline}`)
  const total = yield* Patterns.feedClientStream
  yield* print(`feed a client stream (1..100):  sum ${total.sum} of ${total.count} numbers`)
  yield* print(`bidi from a list:               ${(yield* Patterns.bidiFromList).join(", ")}`)
  yield* print(`bidi ping-pong with a Queue:    ${(yield* Patterns.bidiPingPong(3)).join(", ")}`)
  return lines
})

if (import.meta.main) {
  const program = Effect.gen(function*() {
    const server = yield* NodeServer.NodeServer
    yield* Console.log(`NumbersService is listening on ${server.url}`)
    yield* demo.pipe(
      Effect.provide(NumbersClient.layer.pipe(Layer.provide(NodeTransport.layerConnect({ baseUrl: server.url, httpVersion: "2" }))))
    )
  }).pipe(Effect.provide(ServerLive))
  Effect.runPromise(program).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
