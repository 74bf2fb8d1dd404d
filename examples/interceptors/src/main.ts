/**
 * Starts the intercepted server on a free port, calls it with and without a token, and exits.
 *
 *   npm run -w examples/interceptors demo
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import type { ClientInterceptor } from "@connect-effect/core/Interceptor"
import { ElizaClient } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { bearer, logging } from "./client.ts"
import { ServerLive } from "./server.ts"

/** An Eliza client on `baseUrl` with the given interceptors. */
export const clientLayer = (baseUrl: string, interceptors: ReadonlyArray<ClientInterceptor>) =>
  ElizaClient.layer.pipe(Layer.provide(NodeTransport.layerConnect({ baseUrl, interceptors })))

/** Calls as Ada, then without a token; returns what each call answered. */
export const calls = (baseUrl: string, log: (line: string) => void) =>
  Effect.gen(function*() {
    const asAda = yield* Effect.gen(function*() {
      const eliza = yield* ElizaClient
      const said = yield* eliza.say({ sentence: "hello" })
      const intro = yield* Stream.runCollect(eliza.introduce({ name: "" }))
      return [said.sentence, ...intro.map((r) => r.sentence)]
    }).pipe(Effect.provide(clientLayer(baseUrl, [logging(log), bearer("token-ada")])))
    const anonymous = yield* Effect.flatMap(ElizaClient, (eliza) => eliza.say({ sentence: "hello" })).pipe(
      Effect.map((r) => r.sentence),
      Effect.catchTag("ConnectError", (error) => Effect.succeed(`${error.code}: ${error.message}`)),
      Effect.provide(clientLayer(baseUrl, [logging(log)]))
    )
    return { asAda, anonymous }
  })

if (import.meta.main) {
  const program = Effect.gen(function*() {
    const server = yield* NodeServer.NodeServer
    const result = yield* calls(server.url, (line) => console.log(`client: ${line}`))
    yield* Console.log(`as Ada:    ${result.asAda.join(" / ")}`)
    yield* Console.log(`anonymous: ${result.anonymous}`)
  }).pipe(Effect.provide(ServerLive(0)))
  Effect.runPromise(program).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
