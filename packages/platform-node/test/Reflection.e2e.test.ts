/**
 * gRPC server reflection end to end: Node servers (h2c and HTTP/1.1 on one port) with
 * `grpc.reflection.v1` and `v1alpha`, explored and called without any local .proto file by real
 * external clients — grpcurl (which tries v1, then falls back to v1alpha) and `buf curl --reflect`
 * (each version forced with `--reflect-protocol`) — and every request kind checked through the
 * generated reflection clients, including transitive imports, extensions and errors.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { create, createFileRegistry, type DescFile, type DescService, equals, fromBinary } from "@bufbuild/protobuf"
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema
} from "@bufbuild/protobuf/wkt"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as ConnectError from "@connect-effect/core/ConnectError"
import * as Health from "@connect-effect/core/Health"
import * as Reflection from "@connect-effect/core/Reflection"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaLive } from "../../../examples/eliza/src/ElizaLive.ts"
import { ChatService } from "../../codegen/test/gen/proto3/v1/chat_connect.ts"
import { file_proto3_v1_chat } from "../../codegen/test/gen/proto3/v1/chat_pb.ts"
import { file_proto3_v1_common } from "../../codegen/test/gen/proto3/v1/common_pb.ts"
import { file_google_protobuf_empty } from "@bufbuild/protobuf/wkt"
import {
  bufCurl,
  bufPath,
  grpcurl,
  grpcurlPath,
  parseJson,
  ProcessTracker,
  requireExecutable
} from "./externalClients.ts"

/**
 * A proto2 file built at runtime with extensions (top-level and nested), an enum and an
 * import, to exercise `file_containing_extension`, `all_extension_numbers_of_type` and symbols
 * of every kind.
 */
const extFile: DescFile = (() => {
  const optional = Label.OPTIONAL
  const proto = create(FileDescriptorProtoSchema, {
    name: "test/ext/v1/ext.proto",
    package: "test.ext.v1",
    syntax: "proto2",
    dependency: ["proto3/v1/common.proto"],
    messageType: [
      {
        name: "Base",
        field: [{ name: "id", jsonName: "id", number: 1, label: optional, type: Type.STRING }],
        extensionRange: [{ start: 100, end: 201 }]
      },
      {
        name: "Holder",
        field: [{ name: "echo", jsonName: "echo", number: 1, label: optional, type: Type.MESSAGE, typeName: ".test.proto3.v1.Echo" }],
        extension: [{
          name: "holder",
          jsonName: "holder",
          number: 150,
          label: optional,
          type: Type.MESSAGE,
          typeName: ".test.ext.v1.Holder",
          extendee: ".test.ext.v1.Base"
        }]
      }
    ],
    enumType: [{ name: "Color", value: [{ name: "COLOR_RED", number: 0 }, { name: "COLOR_BLUE", number: 1 }] }],
    extension: [
      { name: "label", jsonName: "label", number: 100, label: optional, type: Type.STRING, extendee: ".test.ext.v1.Base" },
      { name: "weight", jsonName: "weight", number: 101, label: optional, type: Type.INT32, extendee: ".test.ext.v1.Base" }
    ],
    service: [{ name: "ExtService", method: [{ name: "Get", inputType: ".test.ext.v1.Base", outputType: ".test.ext.v1.Holder" }] }]
  })
  const registry = createFileRegistry(proto, (name) => (name === "proto3/v1/common.proto" ? file_proto3_v1_common : undefined))
  return registry.getFile("test/ext/v1/ext.proto")!
})()
const ExtService: DescService = extFile.services[0]!

const chatRoutes = Router.empty.pipe(
  Router.service(ChatService.descriptor, {
    ping: () => Effect.succeed({}),
    echoText: (request) => Effect.succeed({ text: `echo: ${request.text}` })
  }),
  Router.service(ExtService, {}) // described by reflection; Get is left unimplemented
)

/** Server A: Eliza, Chat, Ext, Health (via `Health.add`) and both reflection versions (via `Reflection.add`). */
const ServerFull = NodeServer.layerRouter(
  Reflection.add(Health.add(Effect.map(Router.fromServices(ElizaService), (eliza) => Router.merge(eliza, chatRoutes)))),
  { port: 0 }
).pipe(Layer.provide(ElizaLive), Layer.provide(Health.HealthStatus.layer))

/** Server B: only the older `grpc.reflection.v1alpha` (v1 answers unimplemented). */
const ServerAlphaOnly = NodeServer.layerRouter(Reflection.add(Router.fromServices(ElizaService), { versions: ["v1alpha"] }), {
  port: 0
}).pipe(Layer.provide(ElizaLive))

/** Server C: reflection as generated service tags with an explicit service list (`Reflection.layer`). */
const ServerExplicit = NodeServer.layerRouter(
  Router.fromServices(ElizaService, Reflection.ServerReflectionV1, Reflection.ServerReflectionV1Alpha),
  { port: 0 }
).pipe(Layer.provide(ElizaLive), Layer.provide(Reflection.layer([ElizaService])))

let scope: Scope.Closeable
const servers = { full: { address: "", url: "" }, alpha: { address: "", url: "" }, explicit: { address: "", url: "" } }
const processes = new ProcessTracker()
let tmp = ""

beforeAll(async () => {
  requireExecutable(grpcurlPath)
  requireExecutable(bufPath)
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "reflection-e2e-"))
  scope = Effect.runSync(Scope.make())
  for (const [name, layer] of [["full", ServerFull], ["alpha", ServerAlphaOnly], ["explicit", ServerExplicit]] as const) {
    const ctx = await Effect.runPromise(Layer.buildWithScope(layer, scope))
    const server = Context.get(ctx, NodeServer.NodeServer)
    servers[name] = { address: `${server.host}:${server.port}`, url: server.url }
  }
})
afterEach(() => processes.killAll())
afterAll(async () => {
  await processes.killAll()
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  if (tmp !== "") fs.rmSync(tmp, { recursive: true, force: true })
})

const lines = (text: string) => text.split("\n").filter((line) => line.length > 0)

const fullServices = [
  "connectrpc.eliza.v1.ElizaService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "test.ext.v1.ExtService",
  "test.proto3.v1.ChatService"
]

describe("reflection with grpcurl", () => {
  it("list: every service of the router, and the methods of one", async () => {
    const services = await grpcurl("-plaintext", servers.full.address, "list")
    expect(services.code, services.stderr).toBe(0)
    expect(lines(services.stdout)).toEqual(fullServices)

    const methods = await grpcurl("-plaintext", servers.full.address, "list", "test.proto3.v1.ChatService")
    expect(methods.code, methods.stderr).toBe(0)
    expect(lines(methods.stdout)).toEqual([
      "test.proto3.v1.ChatService.Chat",
      "test.proto3.v1.ChatService.EchoText",
      "test.proto3.v1.ChatService.Listen",
      "test.proto3.v1.ChatService.OldSay",
      "test.proto3.v1.ChatService.Ping",
      "test.proto3.v1.ChatService.Say",
      "test.proto3.v1.ChatService.Upload",
      "test.proto3.v1.ChatService.get_user_ID"
    ])
  }, 120_000)

  it("describe: services, methods and messages from imported files", async () => {
    const ping = await grpcurl("-plaintext", servers.full.address, "describe", "test.proto3.v1.ChatService.Ping")
    expect(ping.code, ping.stderr).toBe(0)
    expect(ping.stdout).toContain("test.proto3.v1.ChatService.Ping is a method:")
    expect(ping.stdout).toContain("rpc Ping ( .google.protobuf.Empty ) returns ( .google.protobuf.Empty );")

    const echo = await grpcurl("-plaintext", servers.full.address, "describe", "test.proto3.v1.Echo")
    expect(echo.code, echo.stderr).toBe(0)
    expect(echo.stdout).toContain("test.proto3.v1.Echo is a message:")
    expect(echo.stdout).toContain("string text = 1;")

    const base = await grpcurl("-plaintext", servers.full.address, "describe", "test.ext.v1.Base")
    expect(base.code, base.stderr).toBe(0)
    expect(base.stdout).toContain("extensions 100 to 200;")

    const missing = await grpcurl("-plaintext", servers.full.address, "describe", "no.such.Symbol")
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toContain("Symbol not found: no.such.Symbol")
  }, 120_000)

  it("the files it downloads are the server's descriptors, with their imports (-protoset-out)", async () => {
    const out = path.join(tmp, "chat.protoset")
    const result = await grpcurl("-plaintext", "-protoset-out", out, servers.full.address, "describe", "test.proto3.v1.ChatService")
    expect(result.code, result.stderr).toBe(0)
    const set = fromBinary(FileDescriptorSetSchema, fs.readFileSync(out))
    const byName = new Map(set.file.map((f) => [f.name, f]))
    expect([...byName.keys()].sort()).toEqual(["google/protobuf/empty.proto", "proto3/v1/chat.proto", "proto3/v1/common.proto"])
    for (const file of [file_proto3_v1_chat, file_proto3_v1_common, file_google_protobuf_empty]) {
      expect(equals(FileDescriptorProtoSchema, byName.get(file.proto.name)!, file.proto), file.proto.name).toBe(true)
    }
  }, 120_000)

  it("calls methods without local protos (unary, streaming, health)", async () => {
    const say = await grpcurl("-plaintext", "-d", JSON.stringify({ sentence: "I feel happy." }), servers.full.address, "connectrpc.eliza.v1.ElizaService/Say")
    expect(say.code, say.stderr).toBe(0)
    expect(parseJson(say)).toEqual({ sentence: expect.stringMatching(/\S/) })

    const ping = await grpcurl("-plaintext", servers.full.address, "test.proto3.v1.ChatService/Ping")
    expect(ping.code, ping.stderr).toBe(0)
    expect(parseJson(ping)).toEqual({})

    const echo = await grpcurl("-plaintext", "-d", JSON.stringify({ text: "hi" }), servers.full.address, "test.proto3.v1.ChatService/EchoText")
    expect(echo.code, echo.stderr).toBe(0)
    expect(parseJson(echo)).toEqual({ text: "echo: hi" })

    const health = await grpcurl("-plaintext", servers.full.address, "grpc.health.v1.Health/Check")
    expect(health.code, health.stderr).toBe(0)
    expect(parseJson(health)).toEqual({ status: "SERVING" })

    const watch = processes.spawnJsonStream(grpcurlPath, ["-plaintext", servers.full.address, "grpc.health.v1.Health/Watch"])
    expect(await watch.next()).toEqual({ status: "SERVING" })
    await watch.kill()
  }, 120_000)

  it("falls back to v1alpha on a server that only has v1alpha", async () => {
    const services = await grpcurl("-plaintext", servers.alpha.address, "list")
    expect(services.code, services.stderr).toBe(0)
    expect(lines(services.stdout)).toEqual(["connectrpc.eliza.v1.ElizaService", "grpc.reflection.v1alpha.ServerReflection"])

    const say = await grpcurl("-plaintext", "-d", JSON.stringify({ sentence: "Hello" }), servers.alpha.address, "connectrpc.eliza.v1.ElizaService/Say")
    expect(say.code, say.stderr).toBe(0)
    expect(parseJson(say)).toEqual({ sentence: expect.stringMatching(/\S/) })
  }, 120_000)

  it("works with reflection provided as a Layer (Reflection.layer)", async () => {
    const services = await grpcurl("-plaintext", servers.explicit.address, "list")
    expect(services.code, services.stderr).toBe(0)
    expect(lines(services.stdout)).toEqual([
      "connectrpc.eliza.v1.ElizaService",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection"
    ])
    const describeSay = await grpcurl("-plaintext", servers.explicit.address, "describe", "connectrpc.eliza.v1.SayRequest")
    expect(describeSay.code, describeSay.stderr).toBe(0)
    expect(describeSay.stdout).toContain("string sentence = 1;")
  }, 120_000)
})

describe("reflection with buf curl", () => {
  const h2c = ["--protocol", "grpc", "--http2-prior-knowledge"]

  it("--list-services and --list-methods, with each reflection version", async () => {
    for (const version of ["grpc-v1", "grpc-v1alpha"]) {
      const services = await bufCurl(...h2c, "--reflect", "--reflect-protocol", version, "--list-services", servers.full.url)
      expect(services.code, `${version}: ${services.stderr}`).toBe(0)
      expect(lines(services.stdout)).toEqual(fullServices)
    }
    const methods = await bufCurl(...h2c, "--list-methods", servers.full.url)
    expect(methods.code, methods.stderr).toBe(0)
    const all = lines(methods.stdout)
    expect(all.filter((m) => m.startsWith("grpc."))).toEqual([
      "grpc.health.v1.Health/Check",
      "grpc.health.v1.Health/List",
      "grpc.health.v1.Health/Watch",
      "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
    ])
    expect(all).toContain("connectrpc.eliza.v1.ElizaService/Say")
    expect(all).toContain("test.ext.v1.ExtService/Get")
    expect(all).toHaveLength(4 + 8 + 1 + 3 + 2)
  }, 120_000)

  it("calls with the schema from reflection, over gRPC and Connect", async () => {
    const say = `${servers.full.url}/connectrpc.eliza.v1.ElizaService/Say`
    const body = JSON.stringify({ sentence: "I feel happy." })
    for (const protocol of [h2c, ["--protocol", "connect"], ["--protocol", "connect", "--http2-prior-knowledge"]]) {
      const result = await bufCurl(...protocol, "-d", body, say)
      expect(result.code, `${protocol.join(" ")}: ${result.stderr}`).toBe(0)
      expect(parseJson(result)).toEqual({ sentence: expect.stringMatching(/\S/) })
    }
    const echo = await bufCurl(...h2c, "-d", JSON.stringify({ text: "hi" }), `${servers.full.url}/test.proto3.v1.ChatService/EchoText`)
    expect(echo.code, echo.stderr).toBe(0)
    expect(parseJson(echo)).toEqual({ text: "echo: hi" })
  }, 120_000)

  it("v1alpha-only server: grpc-v1alpha works, grpc-v1 is unimplemented", async () => {
    const alpha = await bufCurl(...h2c, "--reflect-protocol", "grpc-v1alpha", "--list-services", servers.alpha.url)
    expect(alpha.code, alpha.stderr).toBe(0)
    expect(lines(alpha.stdout)).toEqual(["connectrpc.eliza.v1.ElizaService", "grpc.reflection.v1alpha.ServerReflection"])
    const v1 = await bufCurl(...h2c, "--reflect-protocol", "grpc-v1", "--list-services", servers.alpha.url)
    expect(v1.code).not.toBe(0)
    expect(v1.stderr.toLowerCase()).toContain("unimplemented")
  }, 120_000)
})

describe("reflection with the generated clients", () => {
  /** A request, as plain init data valid for either version. */
  interface Query {
    readonly host: string
    readonly messageRequest:
      | {
        readonly case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"
        readonly value: string
      }
      | { readonly case: "fileContainingExtension"; readonly value: { containingType: string; extensionNumber: number } }
      | { readonly case: undefined; readonly value?: undefined }
  }
  type Response =
    | Reflection.ReflectionV1Proto.ServerReflectionResponse
    | Reflection.ReflectionV1AlphaProto.ServerReflectionResponse

  /** Sends `queries` on one stream (gRPC over h2c) and collects the answers. */
  const ask = (version: Reflection.Version, queries: ReadonlyArray<Query>): Promise<Array<Response>> => {
    const collect = (client: {
      readonly serverReflectionInfo: (requests: Stream.Stream<Query>) => Stream.Stream<Response, ConnectError.ConnectError>
    }) => Effect.map(Stream.runCollect(client.serverReflectionInfo(Stream.fromIterable(queries))), (all) => Array.from(all))
    const program = version === "v1"
      ? Effect.flatMap(Effect.service(Reflection.ServerReflectionV1Client), collect).pipe(
        Effect.provide(Reflection.ServerReflectionV1Client.layer)
      )
      : Effect.flatMap(Effect.service(Reflection.ServerReflectionV1AlphaClient), collect).pipe(
        Effect.provide(Reflection.ServerReflectionV1AlphaClient.layer)
      )
    return Effect.runPromise(program.pipe(Effect.provide(NodeTransport.layerGrpc({ baseUrl: servers.full.url }))))
  }

  const fileNames = (response: { messageResponse: { case: string | undefined; value?: unknown } }) => {
    expect(response.messageResponse.case).toBe("fileDescriptorResponse")
    const value = response.messageResponse.value as { fileDescriptorProto: Array<Uint8Array> }
    return value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name)
  }
  const error = (response: { messageResponse: { case: string | undefined; value?: unknown } }) => {
    expect(response.messageResponse.case).toBe("errorResponse")
    return response.messageResponse.value as { errorCode: number; errorMessage: string }
  }

  for (const version of ["v1", "v1alpha"] as const) {
    it(`${version}: every request kind on one stream, files already sent are not repeated`, async () => {
      const q = (messageRequest: Query["messageRequest"]): Query => ({ host: "example.com", messageRequest })
      const queries: Array<Query> = [
        q({ case: "listServices", value: "*" }),
        q({ case: "fileByFilename", value: "proto3/v1/chat.proto" }),
        q({ case: "fileContainingSymbol", value: "test.proto3.v1.Echo" }),
        q({ case: "fileContainingSymbol", value: "test.proto3.v1.ChatService.Say" }),
        q({ case: "fileContainingSymbol", value: "test.ext.v1.Base.id" }),
        q({ case: "fileContainingSymbol", value: "test.ext.v1.COLOR_BLUE" }),
        q({ case: "fileContainingSymbol", value: "test.ext.v1.label" }),
        q({ case: "fileContainingSymbol", value: "grpc.health.v1.HealthListResponse.StatusesEntry" }),
        q({ case: "fileContainingSymbol", value: "no.such.Symbol" }),
        q({ case: "fileByFilename", value: "no/such.proto" }),
        q({ case: "fileContainingExtension", value: { containingType: "test.ext.v1.Base", extensionNumber: 150 } }),
        q({ case: "fileContainingExtension", value: { containingType: "test.ext.v1.Base", extensionNumber: 199 } }),
        q({ case: "allExtensionNumbersOfType", value: "test.ext.v1.Base" }),
        q({ case: "allExtensionNumbersOfType", value: "test.proto3.v1.Echo" }),
        q({ case: "allExtensionNumbersOfType", value: "no.such.Type" }),
        { host: "", messageRequest: { case: undefined } }
      ]
      const responses = await ask(version, queries)
      expect(responses).toHaveLength(queries.length)
      responses.forEach((response, i) => {
        expect(response.validHost).toBe(queries[i]!.host)
        expect(response.originalRequest?.messageRequest).toEqual(
          expect.objectContaining({ case: queries[i]!.messageRequest.case })
        )
      })
      const [
        list,
        chat,
        echo,
        say,
        field,
        enumValue,
        extension,
        mapEntry,
        noSymbol,
        noFile,
        extByNumber,
        noExt,
        baseNumbers,
        echoNumbers,
        noType,
        empty
      ] = responses

      expect(list!.messageResponse).toEqual({
        case: "listServicesResponse",
        value: expect.objectContaining({
          service: [
            "connectrpc.eliza.v1.ElizaService",
            "test.proto3.v1.ChatService",
            "test.ext.v1.ExtService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"
          ].map((name) => expect.objectContaining({ name }))
        })
      })
      // the file first, then its imports; later answers leave out what this stream has seen
      expect(fileNames(chat!)).toEqual(["proto3/v1/chat.proto", "google/protobuf/empty.proto", "proto3/v1/common.proto"])
      expect(fileNames(echo!)).toEqual(["proto3/v1/common.proto"])
      expect(fileNames(say!)).toEqual(["proto3/v1/chat.proto"])
      expect(fileNames(field!)).toEqual(["test/ext/v1/ext.proto"])
      expect(fileNames(enumValue!)).toEqual(["test/ext/v1/ext.proto"])
      expect(fileNames(extension!)).toEqual(["test/ext/v1/ext.proto"])
      expect(fileNames(mapEntry!)).toEqual(["grpc/health/v1/health.proto"])
      expect(error(noSymbol!)).toEqual(expect.objectContaining({ errorCode: 5, errorMessage: "symbol not found: no.such.Symbol" }))
      expect(error(noFile!)).toEqual(expect.objectContaining({ errorCode: 5 }))
      expect(fileNames(extByNumber!)).toEqual(["test/ext/v1/ext.proto"])
      expect(error(noExt!)).toEqual(expect.objectContaining({ errorCode: 5 }))
      expect(baseNumbers!.messageResponse).toEqual({
        case: "allExtensionNumbersResponse",
        value: expect.objectContaining({ baseTypeName: "test.ext.v1.Base", extensionNumber: [100, 101, 150] })
      })
      expect(echoNumbers!.messageResponse).toEqual({
        case: "allExtensionNumbersResponse",
        value: expect.objectContaining({ baseTypeName: "test.proto3.v1.Echo", extensionNumber: [] })
      })
      expect(error(noType!)).toEqual(expect.objectContaining({ errorCode: 5 }))
      expect(error(empty!)).toEqual(expect.objectContaining({ errorCode: 3 }))
    }, 120_000)
  }

  it("a new stream starts afresh: imports sent on another stream are sent again", async () => {
    const first = await ask("v1", [{ host: "", messageRequest: { case: "fileByFilename", value: "test/ext/v1/ext.proto" } }])
    expect(fileNames(first[0]!)).toEqual(["test/ext/v1/ext.proto", "proto3/v1/common.proto"])
    const second = await ask("v1", [
      { host: "", messageRequest: { case: "fileContainingSymbol", value: "test.proto3.v1.Echo" } },
      { host: "", messageRequest: { case: "fileByFilename", value: "proto3/v1/chat.proto" } }
    ])
    expect(fileNames(second[0]!)).toEqual(["proto3/v1/common.proto"])
    expect(fileNames(second[1]!)).toEqual(["proto3/v1/chat.proto", "google/protobuf/empty.proto"])
    // the bytes are the FileDescriptorProto protobuf-es holds for the file
    const ext = (first[0]!.messageResponse.value as { fileDescriptorProto: Array<Uint8Array> }).fileDescriptorProto[0]!
    const decoded: FileDescriptorProto = fromBinary(FileDescriptorProtoSchema, ext)
    expect(equals(FileDescriptorProtoSchema, decoded, extFile.proto)).toBe(true)
  }, 120_000)
})
