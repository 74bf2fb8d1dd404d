import { describe, expect, it } from "@effect/vitest"
import * as ConnectError from "../src/ConnectError.ts"
import * as ProtocolConnect from "../src/ProtocolConnect.ts"
import * as Code from "../src/Code.ts"

describe("Code", () => {
  it("maps all sixteen codes to gRPC numbers and back", () => {
    expect(Code.all).toHaveLength(16)
    for (const code of Code.all) expect(Code.fromGrpcNumber(Code.toGrpcNumber(code))).toBe(code)
    expect(Code.fromGrpcNumber(0)).toBeUndefined()
    expect(Code.fromGrpcNumber(99)).toBe("unknown")
  })
  it("maps codes to HTTP statuses and statuses to codes", () => {
    expect(Code.toHttpStatus("not_found")).toBe(404)
    expect(Code.toHttpStatus("resource_exhausted")).toBe(429)
    expect(Code.fromHttpStatus(404)).toBe("unimplemented")
    expect(Code.fromHttpStatus(503)).toBe("unavailable")
    expect(Code.fromHttpStatus(800)).toBe("unknown")
  })
})

describe("error JSON", () => {
  it("writes only code, message and details with unpadded base64", () => {
    const error = ConnectError.make("not_found", "nope", { details: [{ type: "x.Y", value: new Uint8Array([1]) }] })
    expect(ProtocolConnect.errorToJson(error)).toEqual({
      code: "not_found",
      message: "nope",
      details: [{ type: "x.Y", value: "AQ" }]
    })
  })
  it("reads padded and unpadded detail values and ignores unknown keys", () => {
    const parsed = ProtocolConnect.errorFromJson(
      { code: "aborted", message: "m", extra: 1, details: [{ type: "a.B", value: "AQ==", more: true }, { type: "a.C", value: "AQ" }] },
      undefined
    )
    expect(parsed?.code).toBe("aborted")
    expect(parsed?.details?.map((d) => [...d.value])).toEqual([[1], [1]])
  })
  it("rejects an error without a valid code", () => {
    expect(ProtocolConnect.errorFromJson({ message: "m" }, undefined)).toBeUndefined()
    expect(ProtocolConnect.errorFromJson({ code: "teapot" }, undefined)).toBeUndefined()
    expect(ProtocolConnect.errorFromJson(null, undefined)).toBeUndefined()
  })
})

describe("end-stream JSON", () => {
  it("round-trips trailers and an error", () => {
    const trailers = new Headers([["x-a", "1"], ["x-a", "2"]])
    const bytes = ProtocolConnect.endStreamToJson(ConnectError.make("internal", "boom"), trailers)
    const parsed = ProtocolConnect.endStreamFromJson(bytes)
    expect(parsed.error?.code).toBe("internal")
    expect(parsed.error?.message).toBe("boom")
    expect(parsed.trailers.get("x-a")).toBe("1, 2")
  })
  it("treats a missing or null error as success", () => {
    expect(ProtocolConnect.endStreamFromJson(new TextEncoder().encode("{}")).error).toBeUndefined()
    expect(ProtocolConnect.endStreamFromJson(new TextEncoder().encode("{\"error\":null}")).error).toBeUndefined()
  })
  it("gives unknown for an error with an unrecognised code, keeping its message", () => {
    const parsed = ProtocolConnect.endStreamFromJson(new TextEncoder().encode("{\"error\":{\"code\":\"teapot\",\"message\":\"m\"}}"))
    expect(parsed.error?.code).toBe("unknown")
    expect(parsed.error?.message).toBe("m")
  })
  it("fails on invalid JSON", () => {
    expect(() => ProtocolConnect.endStreamFromJson(new TextEncoder().encode("{"))).toThrow()
  })
})

describe("headers", () => {
  it("parses content types", () => {
    expect(ProtocolConnect.parseContentType("application/proto")).toEqual({ stream: false, codec: "proto" })
    expect(ProtocolConnect.parseContentType("application/json; charset=utf-8")).toEqual({ stream: false, codec: "json" })
    expect(ProtocolConnect.parseContentType("application/connect+json")).toEqual({ stream: true, codec: "json" })
    expect(ProtocolConnect.parseContentType("application/grpc")).toBeUndefined()
    expect(ProtocolConnect.parseContentType("application/json; charset=latin1")).toBeUndefined()
  })
  it("parses connect-timeout-ms strictly", () => {
    expect(ProtocolConnect.parseTimeout(null)).toBeUndefined()
    expect(ProtocolConnect.parseTimeout("1500")).toBe(1500)
    expect(() => ProtocolConnect.parseTimeout("12345678901")).toThrow()
    expect(() => ProtocolConnect.parseTimeout("-1")).toThrow()
    expect(() => ProtocolConnect.parseTimeout("1s")).toThrow()
  })
})
