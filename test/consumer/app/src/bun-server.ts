/**
 * ShopService on Bun (`Bun.serve`): HTTP/1.1, Connect and gRPC-Web (gRPC needs HTTP/2 trailers,
 * which Bun.serve does not offer: it is answered 415), CORS open to any origin.
 *
 *   bun src/bun-server.ts --port 0
 *
 * Prints `listening <baseUrl>` once ready; stops gracefully when stdin ends or on SIGTERM.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as BunServer from "@connect-effect/platform-bun/BunServer"
import { options, runMain, waitForStop } from "./cli.ts"
import { cors, routes, ShopLive } from "./service.ts"

const ServerLive = BunServer.layerRouter(routes, { port: Number(options.port ?? "0"), host: "127.0.0.1", cors }).pipe(
  Layer.provide(ShopLive)
)

runMain(
  Effect.gen(function*() {
    const server = yield* BunServer.BunServer
    process.stdout.write(`listening ${server.url}\n`)
    const reason = yield* waitForStop
    process.stderr.write(`stopping (${reason})\n`)
  }).pipe(Effect.provide(ServerLive))
)
