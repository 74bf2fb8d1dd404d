/**
 * ShopService on Node: HTTP/1.1 and h2c on one port of 127.0.0.1, Connect, gRPC and gRPC-Web,
 * CORS open to any origin (the browser page calls it from another origin).
 *
 *   node src/server.ts --port 0
 *
 * Prints `listening <baseUrl>` once ready; stops gracefully when stdin ends or on SIGTERM.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import { options, runMain, waitForStop } from "./cli.ts"
import { cors, routes, ShopLive } from "./service.ts"

const ServerLive = NodeServer.layerRouter(routes, { port: Number(options.port ?? "0"), host: "127.0.0.1", cors }).pipe(
  Layer.provide(ShopLive)
)

runMain(
  Effect.gen(function*() {
    const server = yield* NodeServer.NodeServer
    process.stdout.write(`listening ${server.url}\n`)
    const reason = yield* waitForStop
    process.stderr.write(`stopping (${reason})\n`)
  }).pipe(Effect.provide(ServerLive))
)
