/**
 * The demo on Bun: serves Eliza with `Bun.serve` on a free port, runs the client against it
 * through Bun's fetch (Connect over HTTP/1.1), prints the conversation, and exits.
 *
 *   npm run eliza:bun
 *
 * Bun's fetch is HTTP/1.1 only, so the bidi `converse` call is half-duplex: the client sends
 * its (finite) stream of sentences, then reads Eliza's answers.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Router from "@connect-effect/core/Router"
import * as BunServer from "@connect-effect/platform-bun/BunServer"
import * as BunTransport from "@connect-effect/platform-bun/BunTransport"
import { ElizaClient, ElizaService } from "../gen/connectrpc/eliza/v1/eliza_connect.ts"
import { conversation } from "./client.ts"
import { ElizaLive } from "./ElizaLive.ts"

/** Eliza's routes on `Bun.serve`. */
export const BunServerLive = (port: number) =>
  BunServer.layerRouter(Router.fromServices(ElizaService), { port }).pipe(Layer.provide(ElizaLive))

const program = Effect.gen(function*() {
  const server = yield* BunServer.BunServer
  yield* Effect.log(`Eliza is listening on ${server.url} (Bun.serve, HTTP/1.1)`)
  yield* conversation.pipe(
    Effect.provide(ElizaClient.layer.pipe(Layer.provide(BunTransport.layerConnect({ baseUrl: server.url }))))
  )
}).pipe(Effect.provide(BunServerLive(0)))

if (import.meta.main) {
  Effect.runPromise(program).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
