/**
 * Calls the route handler the two ways it gets called: directly with a `Request` (as Next.js
 * does, and as unit tests can), and over a socket with the generated client. Prints and exits.
 *
 *   npm run -w examples/fetch-route demo
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { POST } from "./app/[service]/[method]/route.ts"
import { createServer, listen } from "./server.ts"

const direct = Effect.promise(async () => {
  const response = await POST(
    new Request("http://localhost:3000/connectrpc.eliza.v1.ElizaService/Say", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sentence: "I feel happy." })
    })
  )
  return `${response.status} ${await response.text()}`
})

const overSocket = (baseUrl: string) =>
  Effect.gen(function*() {
    const eliza = yield* ElizaClient
    const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
    return intro.map((r) => r.sentence)
  }).pipe(Effect.provide(ElizaClient.layer.pipe(Layer.provide(NodeTransport.layerConnect({ baseUrl })))))

if (import.meta.main) {
  const program = Effect.gen(function*() {
    yield* Console.log(`POST(new Request(…Say)) → ${yield* direct}`)
    const server = createServer()
    const url = yield* Effect.promise(() => listen(server, 0))
    const intro = yield* overSocket(url).pipe(Effect.ensuring(Effect.sync(() => server.close())))
    yield* Console.log(`Introduce over ${url} → ${intro.join(" ")}`)
  })
  Effect.runPromise(program).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
