/**
 * REST and RPC from one effect/http server. `npm run demo` starts it on a free port, calls the
 * REST routes with fetch and the RPCs with the generated client, prints, and exits;
 * `npm run server -- --port 8080` keeps serving:
 *
 *   curl localhost:8080/health
 *   curl -H 'content-type: application/json' -d '{"sentence":"Hi"}' localhost:8080/connectrpc.eliza.v1.ElizaService/Say
 *   curl localhost:8080/api/history
 */
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpServer from "effect/http/HttpServer"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ServerLive } from "./app.ts"

/** The base URL of the running server. */
export const serverUrl = Effect.map(Effect.context<HttpServer.HttpServer>(), (ctx) =>
  HttpServer.formatAddress(Context.get(ctx, HttpServer.HttpServer).address))

const getJson = (url: string) => Effect.promise(() => fetch(url).then((r) => r.json() as Promise<unknown>))

/** REST, then RPC, then REST again; returns the printed lines. */
export const demo = (baseUrl: string) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const print = (line: string) => Effect.andThen(Effect.sync(() => lines.push(line)), Console.log(line))
    yield* print(`GET /health          → ${JSON.stringify(yield* getJson(`${baseUrl}/health`))}`)
    const eliza = yield* ElizaClient
    const said = yield* eliza.say({ sentence: "I feel happy." })
    yield* print(`Say (Connect)        → ${said.sentence}`)
    const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
    yield* print(`Introduce (stream)   → ${intro.length} sentences, first: ${intro[0]?.sentence}`)
    yield* print(`GET /api/history     → ${JSON.stringify(yield* getJson(`${baseUrl}/api/history`))}`)
    return lines
  }).pipe(Effect.provide(ElizaClient.layer.pipe(Layer.provide(NodeTransport.layerConnect({ baseUrl })))))

if (import.meta.main) {
  const portIndex = process.argv.indexOf("--port")
  const port = portIndex === -1 ? 0 : Number(process.argv[portIndex + 1])
  const serveOnly = process.argv.includes("--serve")
  const program = Effect.gen(function*() {
    const url = yield* serverUrl
    yield* Console.log(`REST + RPC on ${url}`)
    if (serveOnly) return yield* Effect.never
    yield* demo(url)
  }).pipe(Effect.provide(ServerLive(serveOnly && portIndex === -1 ? 8080 : port)))
  const fiber = Effect.runFork(program)
  fiber.addObserver((exit) => process.exit(exit._tag === "Success" ? 0 : 1))
  process.on("SIGINT", () => fiber.interruptUnsafe())
}
