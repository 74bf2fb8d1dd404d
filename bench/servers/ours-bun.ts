/**
 * Ours on Bun: PingService with connect-effect's BunServer (Bun.serve, HTTP/1.1; Connect and
 * gRPC-Web).   bun bench/servers/ours-bun.ts --port 8080
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Router from "@connect-effect/core/Router"
import * as BunServer from "@connect-effect/platform-bun/BunServer"
import { installAdminHook, portArg, ready } from "./common.ts"
import { PingLive } from "./ours-service.ts"
import { PingService } from "../gen/bench/v1/ping_connect.ts"

installAdminHook()
const ServerLive = BunServer.layerRouter(Router.fromServices(PingService), {
  port: portArg(),
  readMaxBytes: 16 * 1024 * 1024,
  compressMinBytes: 1024
}).pipe(Layer.provide(PingLive))

const fiber = Effect.runFork(Effect.gen(function*() {
  const server = yield* BunServer.BunServer
  ready(server.port)
  return yield* Effect.never
}).pipe(Effect.provide(ServerLive)))
process.on("SIGINT", () => fiber.interruptUnsafe())
process.on("SIGTERM", () => fiber.interruptUnsafe())
