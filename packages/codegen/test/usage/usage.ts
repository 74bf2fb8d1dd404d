/**
 * Compile-only usage of the golden generated code (see codegen.test.ts): proves that
 * handler parameter types are inferred from the generated interfaces and that client
 * calls are typed. It is type-checked, never run.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type { ConnectError } from "@connect-effect/core/ConnectError"
import * as Router from "@connect-effect/core/Router"
import type { Transport } from "@connect-effect/core/Transport"
import { ChatClient, ChatService, LegacyChatService, Pinger, PingerClient } from "../gen/proto3/v1/chat_connect.ts"
import type { ChatServiceClient, ChatServiceHandlers, PingerClientShape } from "../gen/proto3/v1/chat_connect.ts"
import { StoreClient, StoreService } from "../gen/proto2/v1/legacy_connect.ts"
import { CounterClient, CounterService } from "../gen/editions/v1/editions_connect.ts"
import { Client, Layer as LayerService, PingSchema } from "../gen/collisions/v1/collisions_connect.ts"
import { ChatService as ChatServiceDescriptor } from "../gen/proto3/v1/chat_pb.ts"
import { type QuotaExceeded, UserNotFound } from "../gen/errors/v1/errors_connect.ts"
import { Banned, UserClient, UserService } from "../gen/errors/v1/users_connect.ts"

/** All four method kinds, with parameter types inferred from ChatServiceHandlers. */
export const chatLayer = ChatService.layer(Effect.succeed({
  say: (request) => Effect.succeed({ sentence: request.sentence.toUpperCase() }),
  listen: (request) => Stream.make({ event: request.topic, sequence: 1n }, { event: "done" }),
  upload: (requests) =>
    Stream.runFold(requests, () => 0n, (size, r) => size + BigInt(r.chunk.byteLength)).pipe(
      Effect.map((size) => ({ size }))
    ),
  chat: (requests) => Stream.map(requests, (message) => ({ text: message.text })),
  ping: () => Effect.succeed({}),
  oldSay: (request, context) => Effect.succeed({ sentence: `${request.sentence} ${String(context)}` }),
  echoText: (request) => Effect.succeed(request),
  get_user_ID: () => Effect.succeed({ sentence: "id" })
}))
const _chatLayer: Layer.Layer<ChatService, never, never> = chatLayer

/** Construction requirements and errors become the layer's; Scope is discharged by Layer.effect. */
class Greeting extends Context.Service<Greeting, { readonly text: string }>()("Greeting") {}
export const withRequirements = ChatService.layer(Effect.gen(function*() {
  const greeting = yield* Greeting
  yield* Effect.addFinalizer(() => Effect.void)
  if (greeting.text.length === 0) return yield* Effect.fail("no greeting" as const)
  const handlers: ChatServiceHandlers = {
    say: () => Effect.succeed({ sentence: greeting.text }),
    listen: () => Stream.empty,
    upload: () => Effect.succeed({}),
    chat: () => Stream.empty,
    ping: () => Effect.succeed({}),
    oldSay: () => Effect.succeed({}),
    echoText: (request) => Effect.succeed({ text: request.text }),
    get_user_ID: () => Effect.succeed({})
  }
  return handlers
}))
const _withRequirements: Layer.Layer<ChatService, "no greeting", Greeting> = withRequirements

// @ts-expect-error sentence must be a string
export const badHandlers = ChatService.layer(Effect.succeed({
  say: () => Effect.succeed({ sentence: 42 }),
  listen: () => Stream.empty,
  upload: () => Effect.succeed({}),
  chat: () => Stream.empty,
  ping: () => Effect.succeed({}),
  oldSay: () => Effect.succeed({}),
  echoText: () => Effect.succeed({}),
  get_user_ID: () => Effect.succeed({})
}))

// @ts-expect-error a handler is missing
export const missingHandler = ChatService.layer(Effect.succeed({ say: () => Effect.succeed({}) }))

/** The service's static descriptor is the protobuf-es one. */
export const descriptor: typeof ChatServiceDescriptor = ChatService.descriptor
export const sameDescriptor: typeof ChatServiceDescriptor = ChatClient.descriptor

/** Client calls for all four method kinds. */
export const program: Effect.Effect<void, ConnectError | "upstream", ChatClient> = Effect.gen(function*() {
  const client: ChatServiceClient = yield* ChatClient
  const said = yield* client.say({ sentence: "hi" })
  const sentence: string = said.sentence
  const events = yield* Stream.runCollect(client.listen({ topic: sentence }))
  const sequence: bigint | undefined = events[0]?.sequence
  const uploaded = yield* client.upload(Stream.make({ chunk: new Uint8Array(3) }), { timeoutMs: 1000 })
  const size: bigint = uploaded.size
  const failing = Stream.fail("upstream" as const)
  yield* Stream.runDrain(client.chat(Stream.concat(Stream.make({ text: "a" }), failing)))
  yield* client.ping({})
  yield* client.echoText({ text: String(sequence) + String(size) })
  // @ts-expect-error unknown field
  yield* client.say({ sentance: "typo" })
})
const _provided: Effect.Effect<void, ConnectError | "upstream", Transport> = Effect.provide(program, ChatClient.layer)

/** Generated service tags are what the router serves. */
export const router: Effect.Effect<Router.Router<never>, never, ChatService | Pinger> = Router.fromServices(ChatService, Pinger)

/** Services of the other test files. */
export const pinger = Pinger.layer(Effect.succeed({ ping: () => Effect.succeed({ text: "pong" }) }))
export const pingerCall = (client: PingerClientShape) => client.ping({})
export const pingerClient: Layer.Layer<PingerClient, never, Transport> = PingerClient.layer
export const legacy = LegacyChatService.layer(Effect.succeed({ say: (r) => Effect.succeed({ sentence: r.sentence }) }))
export const store = StoreService.layer(Effect.succeed({
  get: (request) => Effect.succeed({ key: request.key, value: new Uint8Array() }),
  put: (items) => Stream.runCollect(items).pipe(Effect.map((all) => ({ count: all.length })))
}))
export const storeClient = StoreClient.layer
export const counter = CounterService.layer(Effect.succeed({
  increment: (request) => Effect.succeed({ value: request.delta }),
  watch: () => Stream.make({ value: 1n }),
  sync: (requests) => Stream.map(requests, (r) => ({ value: r.delta }))
}))
export const counterClient = CounterClient.layer
export const collisions = [
  LayerService.layer(Effect.succeed({ get: () => Effect.succeed({}) })),
  Client.layer(Effect.succeed({ get: (effect) => Effect.succeed(effect) })),
  PingSchema.layer(Effect.succeed({ send: () => Effect.succeed({}) }))
] as const

export type Unused = [typeof _chatLayer, typeof _withRequirements, typeof _provided]

// Domain errors: a handler may fail with the errors its method declares, and only with those;
// the client call's error type carries them.

export const usersRouter = Router.service(UserService, {
  getUser: (request) => request.id === "" ? Effect.fail(new Banned({ note: "empty" })) : Effect.fail(new UserNotFound({ userId: request.id })),
  listUsers: () => Stream.empty,
  chat: (requests) => Stream.mapEffect(requests, (r) => Effect.fail(new UserNotFound({ userId: r.id })))
})
export const wrongError = Router.service(UserService, {
  // @ts-expect-error: Ping declares no errors
  ping: (request) => Effect.fail(new UserNotFound({ userId: request.id }))
})
export const userCall = Effect.gen(function*() {
  const users = yield* UserClient
  return yield* users.getUser({ id: "1" }).pipe(
    Effect.catchTag("UserNotFound", (e) => Effect.succeed({ id: e.userId, name: "" })),
    Effect.catchTag("Banned", (e) => Effect.succeed({ id: "", name: e.note }))
  )
})
const _userCall: Effect.Effect<{ id: string; name: string }, ConnectError, UserClient> = userCall
const _streamError = (users: UserClient["Service"]): Stream.Stream<unknown, ConnectError | QuotaExceeded> => users.listUsers({ id: "" })
export type UnusedErrors = [typeof _userCall, typeof _streamError]
