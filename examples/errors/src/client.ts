/**
 * Calls UserService with the generated client: every method's error type names the domain errors
 * it declares (`ConnectError | UserNotFound | AccountSuspended` for GetUser), so they are caught
 * by tag, with their fields, like any Effect error.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { UserClient } from "../gen/acme/user/v1/user_connect.ts"

/** A UserService client on `baseUrl` (Connect over HTTP/1.1). */
export const clientLayer = (baseUrl: string) => UserClient.layer.pipe(Layer.provide(NodeTransport.layerConnect({ baseUrl })))

/** GetUser, with both declared errors handled at once: the result is a line for any user id. */
export const describeUser = (userId: string) =>
  Effect.flatMap(UserClient, (users) => users.getUser({ userId })).pipe(
    Effect.map(({ user }) => `${userId}: ${user?.name}`),
    Effect.catchTags({
      UserNotFound: (e) => Effect.succeed(`${userId}: no such user (${e.userId})`),
      AccountSuspended: (e) => Effect.succeed(`${userId}: suspended until ${e.until}`)
    })
  )

/**
 * ListFriends: collects the friends received before the stream failed; `UserNotFound` from the
 * middle of the stream is caught by its tag.
 */
export const listFriends = (userId: string) =>
  Effect.gen(function*() {
    const users = yield* UserClient
    const names: Array<string> = []
    const outcome = yield* users.listFriends({ userId }).pipe(
      Stream.runForEach(({ friend }) => Effect.sync(() => names.push(friend?.name ?? ""))),
      Effect.as("complete"),
      Effect.catchTag("UserNotFound", (e) => Effect.succeed(`stopped: friend ${e.userId} not found`))
    )
    return `${userId}'s friends: ${names.join(", ")} (${outcome})`
  })

/** ImportUsers: each new user names an inviter; an unknown inviter fails the whole upload. */
export const importUsers = (invites: ReadonlyArray<{ readonly id: string; readonly name: string; readonly invitedBy: string }>) =>
  Effect.flatMap(UserClient, (users) =>
    users.importUsers(Stream.fromIterable(invites.map(({ id, name, invitedBy }) => ({ user: { id, name }, invitedBy }))))).pipe(
      Effect.map(({ imported }) => `imported ${imported} users`),
      Effect.catchTag("UserNotFound", (e) => Effect.succeed(`import refused: inviter ${e.userId} not found`))
    )

/** Chat: replies arrive until a message goes to someone who does not exist. */
export const chat = (messages: ReadonlyArray<{ readonly toUserId: string; readonly text: string }>) =>
  Effect.gen(function*() {
    const users = yield* UserClient
    const replies: Array<string> = []
    const outcome = yield* users.chat(Stream.fromIterable(messages)).pipe(
      Stream.runForEach((reply) => Effect.sync(() => replies.push(reply.text))),
      Effect.as("complete"),
      Effect.catchTag("UserNotFound", (e) => Effect.succeed(`stopped: ${e.userId} not found`))
    )
    return `chat: ${replies.join(" / ")} (${outcome})`
  })
