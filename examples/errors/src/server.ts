/**
 * UserService with typed domain errors: the handlers fail with `UserNotFound` and
 * `AccountSuspended` (classes generated from the messages marked with `(connecteffect.v1.error)`
 * in proto/acme/user/v1/user.proto); the server sends each as an ordinary Connect/gRPC error with
 * its code, the message as a detail and a `google.rpc.ErrorInfo`.
 *
 *   npm run -w examples/errors server -- --port 8080
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import { AccountSuspended, UserNotFound, UserService } from "../gen/acme/user/v1/user_connect.ts"

/** The users the service starts with. */
export const initialUsers: ReadonlyArray<{ readonly id: string; readonly name: string }> = [
  { id: "ada", name: "Ada Lovelace" },
  { id: "grace", name: "Grace Hopper" },
  { id: "alan", name: "Alan Turing" },
  { id: "mallory", name: "Mallory" }
]

/** Who is friends with whom: Ada's list names "ghost", a user that does not exist. */
export const friendships: Readonly<Record<string, ReadonlyArray<string>>> = {
  ada: ["grace", "alan", "ghost"],
  grace: ["ada"]
}

/** Suspended accounts and until when. */
export const suspensions: Readonly<Record<string, string>> = { mallory: "2030-01-01" }

/** The implementation: an in-memory directory, built once when the layer is. */
export const UserServiceLive = UserService.layer(Effect.gen(function*() {
  const users = yield* Ref.make<ReadonlyMap<string, { readonly id: string; readonly name: string }>>(
    new Map(initialUsers.map((u) => [u.id, u]))
  )

  /** The user with `userId`, or `UserNotFound`. */
  const find = (userId: string) =>
    Effect.flatMap(Ref.get(users), (all) => {
      const user = all.get(userId)
      return user === undefined ? Effect.fail(new UserNotFound({ userId })) : Effect.succeed(user)
    })

  return {
    getUser: (request) =>
      Effect.gen(function*() {
        const user = yield* find(request.userId)
        const until = suspensions[user.id]
        if (until !== undefined) return yield* new AccountSuspended({ userId: user.id, until })
        return { user }
      }),

    // sends the friends it finds, then fails on the first one it cannot: the client receives the
    // messages before the error
    listFriends: (request) =>
      Stream.unwrap(Effect.map(find(request.userId), (user) =>
        Stream.fromIterable(friendships[user.id] ?? []).pipe(
          Stream.mapEffect((friendId) => Effect.map(find(friendId), (friend) => ({ friend })))
        ))),

    // imports until the first user whose inviter does not exist
    importUsers: (requests) =>
      requests.pipe(
        Stream.mapEffect((request) =>
          Effect.gen(function*() {
            yield* find(request.invitedBy)
            const user = { id: request.user?.id ?? "", name: request.user?.name ?? "" }
            yield* Ref.update(users, (all) => new Map([...all, [user.id, user]]))
          })
        ),
        Stream.runCount,
        Effect.map((imported) => ({ imported }))
      ),

    // answers each message, and fails on the first one to a user that does not exist
    chat: (requests) =>
      Stream.mapEffect(requests, (request) =>
        Effect.map(find(request.toUserId), (user) => ({
          fromUserId: user.id,
          text: `${user.name} got: ${request.text}`
        })))
  }
}))

/** The server as a Layer: UserService's routes on a Node server (HTTP/1.1 and h2c on one port). */
export const ServerLive = (port: number) =>
  NodeServer.layerRouter(Router.fromServices(UserService), { port }).pipe(Layer.provide(UserServiceLive))

const portArg = () => {
  const i = process.argv.indexOf("--port")
  return i === -1 ? 8080 : Number(process.argv[i + 1])
}

if (import.meta.main) {
  const program = Effect.gen(function*() {
    const server = yield* NodeServer.NodeServer
    yield* Effect.log(`UserService is listening on ${server.url}`)
    return yield* Effect.never
  }).pipe(Effect.provide(ServerLive(portArg())))
  const fiber = Effect.runFork(program)
  process.on("SIGINT", () => fiber.interruptUnsafe())
  process.on("SIGTERM", () => fiber.interruptUnsafe())
}
