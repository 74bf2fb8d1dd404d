/**
 * Starts UserService on a free port, calls every method with the generated client so that each
 * fails with a domain error, catches them by tag, and exits.
 *
 *   npm run -w examples/errors demo
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import { chat, clientLayer, describeUser, importUsers, listFriends } from "./client.ts"
import { ServerLive } from "./server.ts"

/** The demo's calls against `baseUrl`, one line each. */
export const calls = (baseUrl: string) =>
  Effect.gen(function*() {
    return [
      yield* describeUser("ada"),
      yield* describeUser("nobody"),
      yield* describeUser("mallory"),
      yield* listFriends("ada"),
      yield* importUsers([
        { id: "katherine", name: "Katherine Johnson", invitedBy: "grace" },
        { id: "eve", name: "Eve", invitedBy: "ghost" }
      ]),
      yield* chat([{ toUserId: "grace", text: "hi" }, { toUserId: "alan", text: "hello" }, { toUserId: "ghost", text: "boo" }])
    ]
  }).pipe(Effect.provide(clientLayer(baseUrl)))

if (import.meta.main) {
  const program = Effect.gen(function*() {
    const server = yield* NodeServer.NodeServer
    yield* Console.log(`UserService on ${server.url}`)
    for (const line of yield* calls(server.url)) yield* Console.log(line)
  }).pipe(Effect.provide(ServerLive(0)))
  Effect.runPromise(program).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
