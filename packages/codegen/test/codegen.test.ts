/**
 * Tests of protoc-gen-connect-effect:
 * - golden: `buf generate` with test/buf.gen.yaml into a temp dir must reproduce test/gen byte for byte
 *   (regenerate the goldens with `cd packages/codegen && npx buf generate --template test/buf.gen.yaml`),
 * - compile: test/gen plus test/usage type-check with the strict root settings,
 * - plugin options, run in process on a buf image of test/protos.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { create, fromBinary } from "@bufbuild/protobuf"
import type { DescService } from "@bufbuild/protobuf"
import { CodeGeneratorRequestSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt"
import type { CodeGeneratorResponse, FileDescriptorSet } from "@bufbuild/protobuf/wkt"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeRelative, rewriteImportPath, serviceNames } from "../src/index.ts"
import { protocGenConnectEffect } from "../src/plugin.ts"

const testDir = path.dirname(fileURLToPath(import.meta.url))
const packageDir = path.resolve(testDir, "..")
const rootDir = path.resolve(packageDir, "../..")
const buf = path.join(rootDir, "node_modules/.bin/buf")
const tsc = path.join(rootDir, "node_modules/typescript/bin/tsc")
const goldenDir = path.join(testDir, "gen")

const run = (command: string, args: ReadonlyArray<string>, cwd: string) => {
  const result = spawnSync(command, args, { cwd, encoding: "utf8" })
  return { status: result.status, output: `${result.stdout ?? ""}${result.stderr ?? ""}${result.error?.message ?? ""}` }
}

/** All files under `dir`, as sorted relative paths. */
const listFiles = (dir: string): Array<string> =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort()

let tmp: string
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "connect-effect-codegen-"))
})
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true })
})

describe("golden files", () => {
  it("buf generate reproduces test/gen byte for byte", () => {
    const out = path.join(tmp, "golden")
    const result = run(buf, ["generate", "--template", "test/buf.gen.yaml", "-o", out], packageDir)
    expect(result.output).toBe("")
    expect(result.status).toBe(0)
    const generatedDir = path.join(out, "test/gen")
    const files = listFiles(generatedDir)
    expect(files).toEqual(listFiles(goldenDir))
    expect(files.filter((f) => f.endsWith("_connect.ts"))).toEqual([
      "collisions/v1/collisions_connect.ts",
      "editions/v1/editions_connect.ts",
      "errors/v1/errors_connect.ts",
      "errors/v1/users_connect.ts",
      "proto2/v1/legacy_connect.ts",
      "proto3/v1/chat_connect.ts"
    ])
    for (const file of files) {
      const actual = fs.readFileSync(path.join(generatedDir, file))
      const expected = fs.readFileSync(path.join(goldenDir, file))
      expect({ file, content: actual.toString("utf8") }).toEqual({ file, content: expected.toString("utf8") })
      expect(actual.equals(expected)).toBe(true)
    }
  }, 60_000)
})

describe("compile", () => {
  it("the generated code and a usage of it type-check", () => {
    const result = run(process.execPath, [tsc, "-p", path.join(testDir, "tsconfig.gen.json")], rootDir)
    expect(result.output).toBe("")
    expect(result.status).toBe(0)
  }, 120_000)
})

describe("plugin", () => {
  let image: FileDescriptorSet
  beforeAll(() => {
    const file = path.join(tmp, "image.binpb")
    const result = run(buf, ["build", "test/protos", "-o", file], packageDir)
    expect(result.output).toBe("")
    image = fromBinary(FileDescriptorSetSchema, fs.readFileSync(file))
  }, 60_000)

  const generate = (parameter: string, fileToGenerate = ["proto3/v1/chat.proto"]): CodeGeneratorResponse =>
    protocGenConnectEffect.run(create(CodeGeneratorRequestSchema, { parameter, fileToGenerate, protoFile: image.file }))
  const contentOf = (response: CodeGeneratorResponse, name: string): string => {
    const file = response.file.find((f) => f.name === name)
    if (file === undefined) throw new Error(`${name} not generated; got ${response.file.map((f) => f.name).join(", ")}`)
    return file.content
  }

  it("generates nothing for files without services", () => {
    expect(generate("target=ts", ["proto3/v1/common.proto"]).file).toEqual([])
  })

  it("honours import_extension", () => {
    const none = contentOf(generate("target=ts"), "proto3/v1/chat_connect.ts")
    expect(none).toContain(`from "./chat_pb";`)
    expect(none).toContain(`from "./common_pb";`)
    expect(none).toContain(`from "@bufbuild/protobuf/wkt";`)
    const js = contentOf(generate("target=ts,import_extension=js"), "proto3/v1/chat_connect.ts")
    expect(js).toContain(`from "./chat_pb.js";`)
    expect(js).toContain(`from "effect/Layer";`)
  })

  it("honours rewrite_imports", () => {
    const content = contentOf(
      generate("target=ts,rewrite_imports=./proto3/**/*_pb.js:@scope/gen"),
      "proto3/v1/chat_connect.ts"
    )
    expect(content).toContain(`import type { EchoSchema } from "@scope/gen/proto3/v1/common_pb.js";`)
  })

  it("transpiles to js and dts", () => {
    const response = generate("target=js+dts,import_extension=js")
    expect(response.file.map((f) => f.name).sort()).toEqual(["proto3/v1/chat_connect.d.ts", "proto3/v1/chat_connect.js"])
    const js = contentOf(response, "proto3/v1/chat_connect.js")
    expect(js).toContain(`import * as Layer from "effect/Layer";`)
    expect(js).toContain(`ChatClient.layer = Layer.effect(ChatClient, Client.make(ChatServiceDescriptor));`)
    expect(js).not.toContain("SayRequestSchema")
    expect(contentOf(response, "proto3/v1/chat_connect.d.ts")).toContain("readonly say: Rpc.UnaryHandler<typeof SayRequestSchema")
  }, 60_000)

  it("rejects unknown options", () => {
    expect(() => generate("target=ts,frobnicate=1")).toThrow()
  })

  describe("domain errors", () => {
    const users = () => contentOf(generate("target=ts", ["errors/v1/users.proto"]), "errors/v1/users_connect.ts")

    it("generates a class per marked message, and types each method with the errors it declares", () => {
      const content = users()
      expect(content).toContain(`export class Banned extends DomainError.Class("Banned", BannedSchema, { code: "permission_denied" }) {}`)
      expect(content).toContain(`export class Banned_Appeal extends DomainError.Class("Banned_Appeal", Banned_AppealSchema, { code: "failed_precondition" }) {}`)
      expect(content).toContain(`import { UserNotFound, QuotaExceeded } from "./errors_connect";`)
      expect(content).toContain("readonly getUser: Rpc.UnaryHandler<typeof GetUserRequestSchema, typeof UserSchema, R, UserNotFound | Banned>;")
      expect(content).toContain("readonly listUsers: Rpc.ServerStreamCall<typeof GetUserRequestSchema, typeof UserSchema, QuotaExceeded>;")
      expect(content).toContain("readonly ping: Rpc.UnaryHandler<typeof GetUserRequestSchema, typeof GetUserRequestSchema, R>;")
      expect(content).toContain("    uploadUsers: [UserNotFound, Banned_Appeal],\n")
      expect(content).toContain("Client.make<UserServiceClient>(UserService)")
    })

    it("generates the classes of a file without services, with reason and domain when given", () => {
      const content = contentOf(generate("target=ts", ["errors/v1/errors.proto"]), "errors/v1/errors_connect.ts")
      expect(content).toContain(
        `export class QuotaExceeded extends DomainError.Class("QuotaExceeded", QuotaExceededSchema, { code: "resource_exhausted", reason: "QUOTA", domain: "users.example.com" }) {}`
      )
      expect(content).not.toContain("Plain")
    })

    it("takes errors from plugin options for protos that cannot carry the options", () => {
      const content = contentOf(
        generate(
          "target=ts,error=test.proto3.v1.SayResponse:already_exists:TAKEN:example.com,method_error=test.proto3.v1.ChatService.Say:SayResponse,method_error=test.proto3.v1.ChatService.Chat:.test.proto3.v1.SayResponse"
        ),
        "proto3/v1/chat_connect.ts"
      )
      expect(content).toContain(
        `export class SayResponse extends DomainError.Class("SayResponse", SayResponseSchema, { code: "already_exists", reason: "TAKEN", domain: "example.com" }) {}`
      )
      expect(content).toContain("readonly say: Rpc.UnaryCall<typeof SayRequestSchema, typeof SayResponseSchema, SayResponse>;")
      expect(content).toContain("readonly chat: Rpc.BidiStreamHandler<typeof ChatMessageSchema, typeof ChatMessageSchema, R, SayResponse>;")
    })

    it("rejects bad declarations with a message that names the culprit", () => {
      expect(() => generate("target=ts,error=test.proto3.v1.SayResponse:nope")).toThrow(/Connect code/)
      expect(() => generate("target=ts,method_error=test.proto3.v1.ChatService.Say:SayRequest")).toThrow(
        /ChatService.Say: declared error test.proto3.v1.SayRequest is not marked as an error/
      )
      expect(() => generate("target=ts,method_error=test.proto3.v1.ChatService.Say:Missing")).toThrow(
        /ChatService.Say: declared error "Missing" is not a message known/
      )
      expect(() => generate("target=ts,method_error=nocolon")).toThrow(/method_error=<service>.<Method>:<message>/)
    })
  })

  it("prints the version and the parameter in the preamble", () => {
    const content = contentOf(generate("target=ts"), "proto3/v1/chat_connect.ts")
    expect(content).toContain(`// @generated by protoc-gen-connect-effect v0.1.0 with parameter "target=ts"\n`)
    const elided = contentOf(generate("target=ts,elide_plugin_version=true"), "proto3/v1/chat_connect.ts")
    expect(elided).toContain(`// @generated by protoc-gen-connect-effect with parameter`)
  })
})

describe("serviceNames", () => {
  const service = (name: string) => ({ name, typeName: `pkg.${name}`, file: { name: "pkg/x" } }) as unknown as DescService

  it("replaces a trailing Service with Client for the tag", () => {
    expect(serviceNames(service("ElizaService"))).toEqual({
      service: "ElizaService",
      handlers: "ElizaServiceHandlers",
      clientTag: "ElizaClient",
      clientInterface: "ElizaServiceClient"
    })
  })

  it("appends Client otherwise, and renames the interface to avoid the clash", () => {
    expect(serviceNames(service("Pinger"))).toMatchObject({ clientTag: "PingerClient", clientInterface: "PingerClientShape" })
    expect(serviceNames(service("Service"))).toMatchObject({ clientTag: "ServiceClient", clientInterface: "ServiceClientShape" })
  })

  it("falls back to <Service>Client when the tag is taken by another service", () => {
    expect(serviceNames(service("FooService"), new Set(["FooClient"]))).toMatchObject({
      clientTag: "FooServiceClient",
      clientInterface: "FooServiceClientShape"
    })
  })

  it("fails on unresolvable clashes", () => {
    expect(() => serviceNames(service("Foo"), new Set(["FooHandlers"]))).toThrow(/clash/)
  })
})

describe("import paths", () => {
  it("makes project paths relative to the importer", () => {
    expect(makeRelative("./a/b/x_connect.ts", "./a/b/x_pb.js")).toBe("./x_pb.js")
    expect(makeRelative("./a/b/x_connect.ts", "./a/c/y_pb.js")).toBe("../c/y_pb.js")
    expect(makeRelative("./x_connect.ts", "./a/y_pb.js")).toBe("./a/y_pb.js")
    expect(makeRelative("./a/x_connect.ts", "effect/Layer")).toBe("effect/Layer")
  })

  it("rewrites extensions of relative paths only", () => {
    const options = (importExtension: "none" | "js" | "ts") => ({ rewriteImports: [], importExtension })
    expect(rewriteImportPath("./a/x_pb.js", options("ts"))).toBe("./a/x_pb.ts")
    expect(rewriteImportPath("./a/x_pb.js", options("none"))).toBe("./a/x_pb")
    expect(rewriteImportPath("@bufbuild/protobuf/wkt", options("ts"))).toBe("@bufbuild/protobuf/wkt")
  })
})
