/**
 * Typed domain errors over real sockets: the example's server on a free port, called by our
 * client on every protocol and stream kind (it fails with the generated error classes), by our
 * client without the declared errors, by connect-es and by connect-go (they see ordinary errors
 * with a detail and a google.rpc.ErrorInfo).
 */
import { execFile, execFileSync } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire"
import { Code, ConnectError as ConnectEsError, createClient } from "@connectrpc/connect"
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import * as Client from "@connect-effect/core/Client"
import * as ConnectError from "@connect-effect/core/ConnectError"
import { Transport } from "@connect-effect/core/Transport"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { AccountSuspended, UserClient, UserNotFound } from "../gen/acme/user/v1/user_connect.ts"
import { AccountSuspendedSchema, UserNotFoundSchema, UserService as UserServiceDescriptor } from "../gen/acme/user/v1/user_pb.ts"
import { calls } from "../src/main.ts"
import { ServerLive } from "../src/server.ts"

const root = path.resolve(import.meta.dirname, "../../..")
const example = path.join(root, "examples/errors")

/** google.rpc.ErrorInfo's reason (1) and domain (2), read from its bytes. */
const decodeErrorInfo = (bytes: Uint8Array) => {
  const reader = new BinaryReader(bytes)
  let reason = ""
  let domain = ""
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag()
    if (field === 1 && wireType === WireType.LengthDelimited) reason = reader.string()
    else if (field === 2 && wireType === WireType.LengthDelimited) domain = reader.string()
    else reader.skip(wireType, field)
  }
  return { reason, domain }
}

/** The ErrorInfo among raw details (`{ type, value }`, connect-effect's and connect-es' shape). */
const errorInfoOf = (details: ReadonlyArray<unknown> | undefined) => {
  const info = (details ?? []).find((d): d is { type: string; value: Uint8Array } =>
    typeof d === "object" && d !== null && (d as { type?: unknown }).type === "google.rpc.ErrorInfo"
  )
  return info === undefined ? undefined : decodeErrorInfo(info.value)
}

/** What a received `UserNotFound` carries underneath: the ConnectError it was decoded from. */
const expectNotFoundCause = (cause: unknown, userId: string) => {
  expect(ConnectError.isConnectError(cause)).toBe(true)
  const error = cause as ConnectError.ConnectError
  expect(error.code).toBe("not_found")
  expect(error.details?.map((d) => d.type)).toEqual(["acme.user.v1.UserNotFound", "google.rpc.ErrorInfo"])
  expect(ConnectError.findDetails(error, UserNotFoundSchema).map((d) => d.userId)).toEqual([userId])
  expect(errorInfoOf(error.details)).toEqual({ reason: "USER_NOT_FOUND", domain: "acme.user.v1" })
}

let server: ManagedRuntime.ManagedRuntime<NodeServer.NodeServer, unknown>
let baseUrl: string

beforeAll(async () => {
  server = ManagedRuntime.make(ServerLive(0))
  baseUrl = (await server.runPromise(NodeServer.NodeServer)).url
})

afterAll(() => server.dispose())

type Protocol = "connect" | "grpc" | "grpc-web"

const protocols: ReadonlyArray<readonly [Protocol, "1.1" | "2"]> = [
  ["connect", "1.1"],
  ["connect", "2"],
  ["grpc", "2"],
  ["grpc-web", "1.1"]
]

const transportLayer = (protocol: Protocol, httpVersion: "1.1" | "2") =>
  protocol === "grpc"
    ? NodeTransport.layerGrpc({ baseUrl })
    : protocol === "grpc-web"
    ? NodeTransport.layerGrpcWeb({ baseUrl, httpVersion })
    : NodeTransport.layerConnect({ baseUrl, httpVersion })

/** Runs `effect` with the generated client over `protocol`. */
const withClient = <A, E>(protocol: Protocol, httpVersion: "1.1" | "2", effect: Effect.Effect<A, E, UserClient>) =>
  Effect.runPromise(effect.pipe(Effect.provide(UserClient.layer.pipe(Layer.provide(transportLayer(protocol, httpVersion))))))

describe.each(protocols)("our client, %s over HTTP/%s", (protocol, httpVersion) => {
  it("unary: fails with the declared UserNotFound, decoded from the ConnectError", async () => {
    const error = await withClient(protocol, httpVersion, Effect.flip(Effect.flatMap(UserClient, (c) => c.getUser({ userId: "nobody" }))))
    expect(error).toBeInstanceOf(UserNotFound)
    expect(error._tag).toBe("UserNotFound")
    if (!(error instanceof UserNotFound)) throw error
    expect(error.userId).toBe("nobody")
    expect(error.message).toBe("UserNotFound")
    expectNotFoundCause(error.cause, "nobody")
  })

  it("unary: the second declared error, with its own reason and domain", async () => {
    const error = await withClient(protocol, httpVersion, Effect.flip(Effect.flatMap(UserClient, (c) => c.getUser({ userId: "mallory" }))))
    expect(error).toBeInstanceOf(AccountSuspended)
    if (!(error instanceof AccountSuspended)) throw error
    expect({ tag: error._tag, userId: error.userId, until: error.until }).toEqual({
      tag: "AccountSuspended",
      userId: "mallory",
      until: "2030-01-01"
    })
    const cause = error.cause as ConnectError.ConnectError
    expect(cause.code).toBe("failed_precondition")
    expect(cause.details?.map((d) => d.type)).toEqual(["acme.user.v1.AccountSuspended", "google.rpc.ErrorInfo"])
    expect(errorInfoOf(cause.details)).toEqual({ reason: "ACCOUNT_SUSPENDED_UNTIL", domain: "users.acme.example" })
  })

  it("unary: Effect.catchTag and Effect.catchTags", async () => {
    const lines = await withClient(protocol, httpVersion, Effect.gen(function*() {
      const users = yield* UserClient
      const one = yield* users.getUser({ userId: "nobody" }).pipe(
        Effect.map(() => "found"),
        Effect.catchTag("UserNotFound", (e) => Effect.succeed(`caught ${e._tag} ${e.userId}`))
      )
      const both = yield* Effect.forEach(["ada", "nobody", "mallory"], (userId) =>
        users.getUser({ userId }).pipe(
          Effect.map(({ user }) => `found ${user?.name}`),
          Effect.catchTags({
            UserNotFound: (e) => Effect.succeed(`not found ${e.userId}`),
            AccountSuspended: (e) => Effect.succeed(`suspended until ${e.until}`)
          })
        ))
      return [one, ...both]
    }))
    expect(lines).toEqual(["caught UserNotFound nobody", "found Ada Lovelace", "not found nobody", "suspended until 2030-01-01"])
  })

  it("server stream: the messages sent before the error arrive, then the typed error", async () => {
    const [received, error] = await withClient(protocol, httpVersion, Effect.gen(function*() {
      const users = yield* UserClient
      const received: Array<string> = []
      const error = yield* Effect.flip(Stream.runForEach(users.listFriends({ userId: "ada" }), ({ friend }) =>
        Effect.sync(() => received.push(friend?.name ?? ""))))
      return [received, error] as const
    }))
    expect(received).toEqual(["Grace Hopper", "Alan Turing"])
    expect(error).toBeInstanceOf(UserNotFound)
    if (!(error instanceof UserNotFound)) throw error
    expect(error.userId).toBe("ghost")
    expectNotFoundCause(error.cause, "ghost")
    // and Stream.catchTag recovers mid-stream
    const recovered = await withClient(protocol, httpVersion, Effect.flatMap(UserClient, (users) =>
      users.listFriends({ userId: "ada" }).pipe(
        Stream.map(({ friend }) => friend?.name ?? ""),
        Stream.catchTag("UserNotFound", (e) => Stream.make(`<${e.userId} not found>`)),
        Stream.runCollect
      )))
    expect(recovered).toEqual(["Grace Hopper", "Alan Turing", "<ghost not found>"])
  })

  it("client stream: fails with the typed error", async () => {
    const error = await withClient(protocol, httpVersion, Effect.flip(Effect.flatMap(UserClient, (users) =>
      users.importUsers(Stream.make(
        { user: { id: `katherine-${protocol}`, name: "Katherine Johnson" }, invitedBy: "grace" },
        { user: { id: `eve-${protocol}`, name: "Eve" }, invitedBy: "ghost" }
      )))))
    expect(error).toBeInstanceOf(UserNotFound)
    if (!(error instanceof UserNotFound)) throw error
    expect(error.userId).toBe("ghost")
    expectNotFoundCause(error.cause, "ghost")
    const caught = await withClient(protocol, httpVersion, Effect.flatMap(UserClient, (users) =>
      users.importUsers(Stream.make({ user: { id: "x", name: "X" }, invitedBy: "nobody" })).pipe(
        Effect.map(({ imported }) => `imported ${imported}`),
        Effect.catchTag("UserNotFound", (e) => Effect.succeed(`inviter ${e.userId} not found`))
      )))
    expect(caught).toBe("inviter nobody not found")
  })

  it("bidi stream: replies until the typed error", async () => {
    const [replies, error] = await withClient(protocol, httpVersion, Effect.gen(function*() {
      const users = yield* UserClient
      const replies: Array<string> = []
      const error = yield* Effect.flip(Stream.runForEach(
        users.chat(Stream.make({ toUserId: "grace", text: "hi" }, { toUserId: "ghost", text: "boo" })),
        (reply) => Effect.sync(() => replies.push(`${reply.fromUserId}: ${reply.text}`))
      ))
      return [replies, error] as const
    }))
    expect(replies).toEqual(["grace: Grace Hopper got: hi"])
    expect(error).toBeInstanceOf(UserNotFound)
    if (!(error instanceof UserNotFound)) throw error
    expect(error.userId).toBe("ghost")
    expectNotFoundCause(error.cause, "ghost")
  })

  it("a client without the declared errors sees the unchanged wire format: a ConnectError with both details", async () => {
    const [unary, stream] = await Effect.runPromise(Effect.gen(function*() {
      const transport = yield* Transport
      const plain = Client.makeWith(UserServiceDescriptor, transport)
      const unary = yield* Effect.flip(plain.getUser({ userId: "nobody" }))
      const stream = yield* Effect.flip(Stream.runDrain(plain.listFriends({ userId: "ada" })))
      return [unary, stream] as const
    }).pipe(Effect.provide(transportLayer(protocol, httpVersion))))
    for (const [error, userId] of [[unary, "nobody"], [stream, "ghost"]] as const) {
      expect(error).not.toBeInstanceOf(UserNotFound)
      expect(error._tag).toBe("ConnectError")
      expect(error.message).toBe("UserNotFound")
      expectNotFoundCause(error, userId)
    }
  })
})

describe("connect-es client", () => {
  const transports = [
    ["Connect over HTTP/1.1", () => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
    ["gRPC", () => createGrpcTransport({ baseUrl })],
    ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })]
  ] as const

  /** What connect-es sees: code, message, the UserNotFound detail (findDetails) and the ErrorInfo. */
  const seen = (error: unknown) => {
    expect(error).toBeInstanceOf(ConnectEsError)
    const e = error as ConnectEsError
    return {
      code: e.code,
      message: e.rawMessage,
      types: e.details.map((d) => "type" in d ? d.type : d.desc.typeName),
      userIds: e.findDetails(UserNotFoundSchema).map((d) => d.userId),
      suspended: e.findDetails(AccountSuspendedSchema).map((d) => `${d.userId} until ${d.until}`),
      errorInfo: errorInfoOf(e.details)
    }
  }

  it.each(transports)("%s: GetUser fails with not_found, the UserNotFound detail and the ErrorInfo", async (_, make) => {
    const users = createClient(UserServiceDescriptor, make())
    const error = await users.getUser({ userId: "nobody" }).then(() => undefined, (e: unknown) => e)
    expect(seen(error)).toEqual({
      code: Code.NotFound,
      message: "UserNotFound",
      types: ["acme.user.v1.UserNotFound", "google.rpc.ErrorInfo"],
      userIds: ["nobody"],
      suspended: [],
      errorInfo: { reason: "USER_NOT_FOUND", domain: "acme.user.v1" }
    })
    const suspended = await users.getUser({ userId: "mallory" }).then(() => undefined, (e: unknown) => e)
    expect(seen(suspended)).toEqual({
      code: Code.FailedPrecondition,
      message: "AccountSuspended",
      types: ["acme.user.v1.AccountSuspended", "google.rpc.ErrorInfo"],
      userIds: [],
      suspended: ["mallory until 2030-01-01"],
      errorInfo: { reason: "ACCOUNT_SUSPENDED_UNTIL", domain: "users.acme.example" }
    })
  })

  it.each(transports)("%s: ListFriends yields the friends, then throws the error", async (_, make) => {
    const users = createClient(UserServiceDescriptor, make())
    const received: Array<string> = []
    let error: unknown
    try {
      for await (const { friend } of users.listFriends({ userId: "ada" })) received.push(friend?.name ?? "")
    } catch (e) {
      error = e
    }
    expect(received).toEqual(["Grace Hopper", "Alan Turing"])
    expect(seen(error)).toMatchObject({
      code: Code.NotFound,
      types: ["acme.user.v1.UserNotFound", "google.rpc.ErrorInfo"],
      userIds: ["ghost"],
      errorInfo: { reason: "USER_NOT_FOUND", domain: "acme.user.v1" }
    })
  })
})

const hasGo = (() => {
  try {
    execFileSync("go", ["version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

describe.skipIf(!hasGo)("connect-go client (examples/errors/go)", () => {
  const goDir = path.join(example, "go")
  const binary = path.join(goDir, ".bin/errors-client")

  beforeAll(async () => {
    // go's build cache makes this quick after the first time; the first may download the modules
    // go.sum pins from the Go module proxy
    await promisify(execFile)("go", ["build", "-o", binary, "."], { cwd: goDir, timeout: 240_000 })
  }, 240_000)

  it("sees ordinary errors: the code, the ErrorInfo reason and domain, the domain error detail", async () => {
    const { stdout } = await promisify(execFile)(binary, [baseUrl], { timeout: 60_000 })
    const lines = stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(lines).toHaveLength(9)
    for (const protocol of ["connect", "grpc", "grpcweb"]) {
      expect(lines.filter((l) => l["protocol"] === protocol)).toEqual([
        {
          protocol,
          method: "GetUser",
          request: "nobody",
          code: "not_found",
          message: "UserNotFound",
          details: ["acme.user.v1.UserNotFound", "google.rpc.ErrorInfo"],
          reason: "USER_NOT_FOUND",
          domain: "acme.user.v1",
          userId: "nobody"
        },
        {
          protocol,
          method: "GetUser",
          request: "mallory",
          code: "failed_precondition",
          message: "AccountSuspended",
          details: ["acme.user.v1.AccountSuspended", "google.rpc.ErrorInfo"],
          reason: "ACCOUNT_SUSPENDED_UNTIL",
          domain: "users.acme.example",
          userId: "mallory",
          until: "2030-01-01"
        },
        {
          protocol,
          method: "ListFriends",
          request: "ada",
          received: ["Grace Hopper", "Alan Turing"],
          code: "not_found",
          message: "UserNotFound",
          details: ["acme.user.v1.UserNotFound", "google.rpc.ErrorInfo"],
          reason: "USER_NOT_FOUND",
          domain: "acme.user.v1",
          userId: "ghost"
        }
      ])
    }
  }, 60_000)
})

describe("demo", () => {
  it("calls every method and catches each domain error by its tag", async () => {
    expect(await Effect.runPromise(calls(baseUrl))).toEqual([
      "ada: Ada Lovelace",
      "nobody: no such user (nobody)",
      "mallory: suspended until 2030-01-01",
      "ada's friends: Grace Hopper, Alan Turing (stopped: friend ghost not found)",
      "import refused: inviter ghost not found",
      "chat: Grace Hopper got: hi / Alan Turing got: hello (stopped: ghost not found)"
    ])
  })

  it("`npm run demo` exits 0", () => {
    const out = execFileSync(path.join(root, "node_modules/.bin/node"), ["src/main.ts"], {
      cwd: example,
      encoding: "utf8",
      timeout: 60_000
    })
    expect(out).toContain("nobody: no such user (nobody)")
    expect(out).toContain("mallory: suspended until 2030-01-01")
  })
})
