/**
 * The protos core serves itself (gRPC health checking and server reflection): the checked-in
 * TypeScript in src/gen is what `buf generate` makes of packages/core/proto today, and the
 * descriptors carry the official names and numbers that existing clients rely on.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type DescMessage, type DescService, ScalarType } from "@bufbuild/protobuf"
import { describe, expect, it } from "vitest"
import * as Health from "../src/extensions/Health.ts"
import * as Reflection from "../src/extensions/Reflection.ts"

const core = path.resolve(import.meta.dirname, "..")

const listFiles = (dir: string): Array<string> =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort()

/** A message as `name = number` per field (with `repeated`, map and message types spelled out). */
const fieldsOf = (message: DescMessage): Array<string> =>
  message.fields.map((f) => {
    const type = f.fieldKind === "message"
      ? f.message.typeName
      : f.fieldKind === "enum"
      ? f.enum.typeName
      : f.fieldKind === "map"
      ? `map<${ScalarType[f.mapKey]}, ${f.mapKind === "message" ? f.message.typeName : f.mapKind}>`
      : f.fieldKind === "list"
      ? `repeated ${f.listKind === "scalar" ? ScalarType[f.scalar] : f.listKind === "message" ? f.message.typeName : f.listKind}`
      : ScalarType[f.scalar]
    const oneof = f.oneof !== undefined ? ` (oneof ${f.oneof.name})` : ""
    return `${f.name} = ${f.number}: ${String(type)}${oneof}`
  })

const methodsOf = (service: DescService): Array<string> =>
  service.methods.map((m) => `${m.name}(${m.input.typeName}) ${m.methodKind} ${m.output.typeName}`)

describe("generated protos", () => {
  it("src/gen is up to date with proto/ (buf generate)", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "core-gen-"))
    try {
      execFileSync(path.join(core, "../../node_modules/.bin/buf"), ["generate", "--output", out], {
        cwd: core,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 110_000
      })
      const fresh = path.join(out, "src/gen")
      const checkedIn = path.join(core, "src/gen")
      expect(listFiles(fresh)).toEqual(listFiles(checkedIn))
      for (const file of listFiles(fresh)) {
        expect(fs.readFileSync(path.join(checkedIn, file), "utf8"), file).toBe(fs.readFileSync(path.join(fresh, file), "utf8"))
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true })
    }
  }, 120_000)

  it("generated service code imports the runtime relatively, never @connect-effect/core", () => {
    for (const file of listFiles(path.join(core, "src/gen"))) {
      expect(fs.readFileSync(path.join(core, "src/gen", file), "utf8"), file).not.toContain("@connect-effect/core")
    }
  })

  it("grpc.health.v1 has the official names and numbers", () => {
    const file = Health.HealthDescriptor.file
    expect(file.proto.name).toBe("grpc/health/v1/health.proto")
    expect(Health.HealthDescriptor.typeName).toBe("grpc.health.v1.Health")
    expect(methodsOf(Health.HealthDescriptor)).toEqual([
      "Check(grpc.health.v1.HealthCheckRequest) unary grpc.health.v1.HealthCheckResponse",
      "List(grpc.health.v1.HealthListRequest) unary grpc.health.v1.HealthListResponse",
      "Watch(grpc.health.v1.HealthCheckRequest) server_streaming grpc.health.v1.HealthCheckResponse"
    ])
    const P = Health.HealthProto
    expect(fieldsOf(P.HealthCheckRequestSchema)).toEqual(["service = 1: STRING"])
    expect(fieldsOf(P.HealthCheckResponseSchema)).toEqual([
      "status = 1: grpc.health.v1.HealthCheckResponse.ServingStatus"
    ])
    expect(P.HealthCheckResponse_ServingStatusSchema.values.map((v) => `${v.name} = ${v.number}`)).toEqual([
      "UNKNOWN = 0",
      "SERVING = 1",
      "NOT_SERVING = 2",
      "SERVICE_UNKNOWN = 3"
    ])
    expect(fieldsOf(P.HealthListRequestSchema)).toEqual([])
    expect(fieldsOf(P.HealthListResponseSchema)).toEqual(["statuses = 1: map<STRING, grpc.health.v1.HealthCheckResponse>"])
  })

  for (const [version, service, P] of [
    ["v1", Reflection.ServerReflectionV1Descriptor, Reflection.ReflectionV1Proto],
    ["v1alpha", Reflection.ServerReflectionV1AlphaDescriptor, Reflection.ReflectionV1AlphaProto]
  ] as const) {
    it(`grpc.reflection.${version} has the official names and numbers`, () => {
      const pkg = `grpc.reflection.${version}`
      expect(service.file.proto.name).toBe(`grpc/reflection/${version}/reflection.proto`)
      expect(service.typeName).toBe(`${pkg}.ServerReflection`)
      expect(methodsOf(service)).toEqual([
        `ServerReflectionInfo(${pkg}.ServerReflectionRequest) bidi_streaming ${pkg}.ServerReflectionResponse`
      ])
      expect(fieldsOf(P.ServerReflectionRequestSchema)).toEqual([
        "host = 1: STRING",
        "file_by_filename = 3: STRING (oneof message_request)",
        "file_containing_symbol = 4: STRING (oneof message_request)",
        `file_containing_extension = 5: ${pkg}.ExtensionRequest (oneof message_request)`,
        "all_extension_numbers_of_type = 6: STRING (oneof message_request)",
        "list_services = 7: STRING (oneof message_request)"
      ])
      expect(fieldsOf(P.ExtensionRequestSchema)).toEqual(["containing_type = 1: STRING", "extension_number = 2: INT32"])
      expect(fieldsOf(P.ServerReflectionResponseSchema)).toEqual([
        "valid_host = 1: STRING",
        `original_request = 2: ${pkg}.ServerReflectionRequest`,
        `file_descriptor_response = 4: ${pkg}.FileDescriptorResponse (oneof message_response)`,
        `all_extension_numbers_response = 5: ${pkg}.ExtensionNumberResponse (oneof message_response)`,
        `list_services_response = 6: ${pkg}.ListServiceResponse (oneof message_response)`,
        `error_response = 7: ${pkg}.ErrorResponse (oneof message_response)`
      ])
      expect(fieldsOf(P.FileDescriptorResponseSchema)).toEqual(["file_descriptor_proto = 1: repeated BYTES"])
      expect(fieldsOf(P.ExtensionNumberResponseSchema)).toEqual(["base_type_name = 1: STRING", "extension_number = 2: repeated INT32"])
      expect(fieldsOf(P.ListServiceResponseSchema)).toEqual([`service = 1: repeated ${pkg}.ServiceResponse`])
      expect(fieldsOf(P.ServiceResponseSchema)).toEqual(["name = 1: STRING"])
      expect(fieldsOf(P.ErrorResponseSchema)).toEqual(["error_code = 1: INT32", "error_message = 2: STRING"])
    })
  }
})
