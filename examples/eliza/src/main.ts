/**
 * The demo: starts Eliza on a free port, runs the client against it over HTTP/2, prints the
 * conversation, and exits.
 *
 *   npm run eliza
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../gen/connectrpc/eliza/v1/eliza_connect.ts"
import { conversation } from "./client.ts"
import { ServerLive } from "./server.ts"

const program = Effect.gen(function*() {
  const server = yield* NodeServer.NodeServer
  yield* Effect.log(`Eliza is listening on ${server.url} (HTTP/1.1 and h2c)`)
  yield* conversation.pipe(
    Effect.provide(ElizaClient.layer.pipe(
      Layer.provide(NodeTransport.layerConnect({ baseUrl: server.url, httpVersion: "2" }))
    ))
  )
}).pipe(Effect.provide(ServerLive(0)))

Effect.runPromise(program).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
