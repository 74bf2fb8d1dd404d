/**
 * Ours on Node: PingService with connect-effect's NodeServer (HTTP/1.1 and h2c on one port;
 * Connect, gRPC and gRPC-Web).   node bench/servers/ours-node.ts --port 8080
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import { installAdminHook, portArg, ready } from "./common.ts"
import { PingLive } from "./ours-service.ts"
import { PingService } from "../gen/bench/v1/ping_connect.ts"

installAdminHook()
const port = portArg()
const ServerLive = NodeServer.layerRouter(Router.fromServices(PingService), {
  port,
  host: "127.0.0.1",
  readMaxBytes: 16 * 1024 * 1024,
  compressMinBytes: 1024,
  http2Settings: { maxConcurrentStreams: 100_000 },
  http2MaxSessionMemory: 1024
}).pipe(Layer.provide(PingLive))

const fiber = Effect.runFork(Effect.gen(function*() {
  const server = yield* NodeServer.NodeServer
  ready(server.port)
  return yield* Effect.never
}).pipe(Effect.provide(ServerLive)))
process.on("SIGINT", () => fiber.interruptUnsafe())
process.on("SIGTERM", () => fiber.interruptUnsafe())
