/**
 * Serves ElizaService on Node over HTTP/1.1 and h2c on one port.
 *
 *   npm run eliza:server -- --port 8080
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import { ElizaService } from "../gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaLive } from "./ElizaLive.ts"

/** The server as a Layer: Eliza's routes on a Node server. */
export const ServerLive = (port: number) =>
  NodeServer.layerRouter(Router.fromServices(ElizaService), { port, host: "127.0.0.1" }).pipe(
    Layer.provide(ElizaLive)
  )

const portArg = () => {
  const i = process.argv.indexOf("--port")
  return i === -1 ? 8080 : Number(process.argv[i + 1])
}

if (import.meta.main) {
  const program = Effect.gen(function*() {
    const server = yield* NodeServer.NodeServer
    yield* Effect.log(`Eliza is listening on ${server.url}`)
    return yield* Effect.never
  }).pipe(Effect.provide(ServerLive(portArg())))
  const fiber = Effect.runFork(program)
  process.on("SIGINT", () => fiber.interruptUnsafe())
  process.on("SIGTERM", () => fiber.interruptUnsafe())
}
