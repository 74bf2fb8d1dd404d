import { describe, expect, it } from "@effect/vitest"
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf"
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt"
import { BinaryReader } from "@bufbuild/protobuf/wire"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ConnectError from "../src/ConnectError.ts"
import * as DomainError from "../src/DomainError.ts"
import * as Interceptor from "../src/Interceptor.ts"
import * as MemoryTransport from "../src/adapters/MemoryTransport.ts"
import * as Client from "../src/Client.ts"
import * as Router from "../src/Router.ts"
import { Transport } from "../src/Transport.ts"
import { ElizaService as ElizaTag } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import {
  ElizaService,
  SayRequestSchema,
  IntroduceRequestSchema
} from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

/** Domain errors declared by hand, for a proto that cannot carry the options (Eliza's). */
class Rejected extends DomainError.Class("Rejected", SayRequestSchema, { code: "failed_precondition" }) {}
class UnknownPerson extends DomainError.Class("UnknownPerson", IntroduceRequestSchema, {
  code: "not_found",
  reason: "NO_SUCH_PERSON",
  domain: "eliza.example.com"
}) {
  override get message() {
    return `nobody called ${this.name}`
  }
}

const errors = {
  say: [Rejected],
  introduce: [UnknownPerson],
  reflect: [UnknownPerson, Rejected],
  converse: [Rejected]
} as const

/** Decodes a google.rpc.ErrorInfo without its descriptor: reason (1), domain (2). */
const errorInfo = (bytes: Uint8Array) => {
  const r = new BinaryReader(bytes)
  const out = { reason: "", domain: "" }
  while (r.pos < r.len) {
    const [field] = r.tag()
    if (field === 1) out.reason = r.string()
    else if (field === 2) out.domain = r.string()
    else r.skip(2)
  }
  return out
}

describe("DomainError.Class", () => {
  it("makes tagged, yieldable errors carrying the message's fields", () =>
    Effect.gen(function*() {
      const e = new Rejected({ sentence: "no" })
      expect(e._tag).toBe("Rejected")
      expect(e.sentence).toBe("no")
      expect(DomainError.isDomainError(e)).toBe(true)
      expect(DomainError.isDomainError(ConnectError.make("internal", "x"))).toBe(false)
      expect(Rejected.reason).toBe("REJECTED")
      expect(Rejected.domain).toBe("connectrpc.eliza.v1")
      expect(e.toMessage()).toMatchObject({ $typeName: "connectrpc.eliza.v1.SayRequest", sentence: "no" })
      const failed = yield* Effect.flip(Effect.gen(function*() {
        return yield* new Rejected({ sentence: "yielded" })
      }))
      expect(failed).toBeInstanceOf(Rejected)
      expect(new Rejected()).toMatchObject({ sentence: "" })
      expect(e.name).toBe("Rejected")
      expect(String(e)).toBe("Rejected")
    }).pipe(Effect.runPromise))

  it("derives UPPER_SNAKE reasons, acronyms included", () => {
    const reason = (tag: string) => DomainError.Class(tag, SayRequestSchema, { code: "internal" }).reason
    expect(reason("UserNotFound")).toBe("USER_NOT_FOUND")
    expect(reason("HTTPError")).toBe("HTTP_ERROR")
    expect(reason("Quota2Exceeded")).toBe("QUOTA2_EXCEEDED")
  })

  it("refuses messages whose fields clash with Effect errors' own properties", () => {
    const message = (field: string, type: FieldDescriptorProto_Type) =>
      createFileRegistry(
        create(FileDescriptorProtoSchema, {
          name: `${field}.proto`,
          package: "t",
          syntax: "proto3",
          messageType: [{ name: "M", field: [{ name: field, jsonName: field, number: 1, type, label: FieldDescriptorProto_Label.OPTIONAL }] }]
        }),
        () => undefined
      ).getMessage("t.M")!
    expect(() => DomainError.Class("E", message("cause", FieldDescriptorProto_Type.STRING), { code: "internal" })).toThrow(/field "cause" clashes/)
    expect(() => DomainError.Class("E", message("name", FieldDescriptorProto_Type.INT32), { code: "internal" })).toThrow(/field "name" clashes/)
    // a string `message` field is the error's message
    const WithMessage = DomainError.Class("E", message("message", FieldDescriptorProto_Type.STRING), { code: "internal" })
    expect(new WithMessage({ message: "text" }).message).toBe("text")
  })

  it("is sent as a ConnectError with the message and a google.rpc.ErrorInfo as details", () => {
    const wire = DomainError.toConnectError(new UnknownPerson({ name: "Zed" }))
    expect(wire.code).toBe("not_found")
    expect(wire.message).toBe("nobody called Zed")
    expect(wire.details?.map((d) => d.type)).toEqual(["connectrpc.eliza.v1.IntroduceRequest", "google.rpc.ErrorInfo"])
    expect(fromBinary(IntroduceRequestSchema, wire.details![0]!.value).name).toBe("Zed")
    expect(errorInfo(wire.details![1]!.value)).toEqual({ reason: "NO_SUCH_PERSON", domain: "eliza.example.com" })
    expect(DomainError.toConnectError(new Rejected({ sentence: "x" })).message).toBe("Rejected")
  })

  it("is decoded back from a ConnectError, which becomes its cause", () => {
    const wire = DomainError.toConnectError(new Rejected({ sentence: "why" }))
    const back = DomainError.fromConnectError(wire, [UnknownPerson, Rejected])
    expect(back).toBeInstanceOf(Rejected)
    expect((back as Rejected).sentence).toBe("why")
    expect((back as Rejected).cause).toBe(wire)
    expect((back as Rejected).message).toBe("Rejected")
    // not declared, no detail, or an undecodable detail: the ConnectError stays
    expect(DomainError.fromConnectError(wire, [UnknownPerson])).toBe(wire)
    const plain = ConnectError.make("not_found", "x")
    expect(DomainError.fromConnectError(plain, [Rejected])).toBe(plain)
    const garbage = ConnectError.make("failed_precondition", "x", {
      details: [{ type: "connectrpc.eliza.v1.SayRequest", value: new Uint8Array([0xff, 0xff]) }]
    })
    expect(DomainError.fromConnectError(garbage, [Rejected])).toBe(garbage)
  })
})

const handlers = {
  say: (request: { sentence: string }) =>
    request.sentence === "bad" ? Effect.fail(new Rejected({ sentence: request.sentence })) : Effect.succeed({ sentence: "ok" }),
  introduce: (request: { name: string }) =>
    Stream.concat(
      Stream.make({ sentence: "hello" }),
      Stream.fail(new UnknownPerson({ name: request.name }))
    ),
  reflect: (requests: Stream.Stream<{ sentence: string }, ConnectError.ConnectError>) =>
    Effect.flatMap(Stream.runCollect(requests), (all) => Effect.fail(new UnknownPerson({ name: String(all.length) }))),
  converse: (requests: Stream.Stream<{ sentence: string }, ConnectError.ConnectError>) =>
    Stream.mapEffect(requests, (r) => Effect.fail(new Rejected({ sentence: r.sentence })))
}

/** What server interceptors saw fail: always ConnectErrors. */
const seen: Array<unknown> = []
const watch = Interceptor.server((next) => Effect.tapError(next, (e) => Effect.sync(() => seen.push(e))))

const router = Router.empty.pipe(Router.service({ descriptor: ElizaService, errors }, handlers), Router.intercept(watch))

describe.each(["connect", "grpc", "grpc-web"] as const)("declared domain errors over %s", (protocol) => {
  const transport = MemoryTransport.layerClient(router, { protocol })
  const typed = Effect.map(Effect.service(Transport), (t) => Client.makeWith(ElizaService, t, errors))
  const untyped = Effect.map(Effect.service(Transport), (t) => Client.makeWith(ElizaService, t))

  it.effect("reach the client as the same classes, on every RPC kind", () =>
    Effect.gen(function*() {
      seen.length = 0
      const eliza = yield* typed
      const said = yield* Effect.flip(eliza.say({ sentence: "bad" }))
      expect(said).toBeInstanceOf(Rejected)
      expect(said._tag === "Rejected" && said.sentence).toBe("bad")
      expect(ConnectError.isConnectError(said.cause) && said.cause.code).toBe("failed_precondition")

      const received: Array<string> = []
      const introduced = yield* Effect.flip(
        Stream.runForEach(eliza.introduce({ name: "Zed" }), (r) => Effect.sync(() => received.push(r.sentence)))
      )
      expect(received).toEqual(["hello"])
      expect(introduced).toBeInstanceOf(UnknownPerson)
      expect(introduced.message).toBe("nobody called Zed")

      const reflected = yield* Effect.flip(eliza.reflect(Stream.make({ sentence: "a" }, { sentence: "b" })))
      expect(reflected._tag === "UnknownPerson" && reflected.name).toBe("2")

      const conversed = yield* Effect.flip(Stream.runDrain(eliza.converse(Stream.make({ sentence: "c" }))))
      expect(conversed._tag === "Rejected" && conversed.sentence).toBe("c")

      const caught = yield* eliza.say({ sentence: "bad" }).pipe(
        Effect.catchTag("Rejected", (e) => Effect.succeed({ sentence: `caught ${e.sentence}` }))
      )
      expect(caught.sentence).toBe("caught bad")
      expect(seen.length).toBe(5)
      expect(seen.every(ConnectError.isConnectError)).toBe(true)
    }).pipe(Effect.provide(transport)))

  it.effect("reach a client that does not declare them as plain ConnectErrors (wire unchanged)", () =>
    Effect.gen(function*() {
      const eliza = yield* untyped
      const e = yield* Effect.flip(eliza.say({ sentence: "bad" }))
      expect(ConnectError.isConnectError(e)).toBe(true)
      expect(e.code).toBe("failed_precondition")
      expect(e.message).toBe("Rejected")
      expect(ConnectError.findDetails(e, SayRequestSchema)[0]?.sentence).toBe("bad")
      expect(e.details?.[1]?.type).toBe("google.rpc.ErrorInfo")
    }).pipe(Effect.provide(transport)))
})

describe("undeclared domain errors", () => {
  it.effect("are still sent with their code and details (the server knows them by their class)", () =>
    Effect.gen(function*() {
      const loose = Router.service(Router.empty, ElizaService, {
        say: () => Effect.fail(new Rejected({ sentence: "loose" }) as unknown as ConnectError.ConnectError)
      })
      const e = yield* Effect.flatMap(Effect.service(Transport), (t) => Effect.flip(Client.makeWith(ElizaService, t, errors).say({ sentence: "x" }))).pipe(
        Effect.provide(MemoryTransport.layerClient(loose, { protocol: "connect" }))
      )
      expect(e).toBeInstanceOf(Rejected)
    }))
})

class Db extends Context.Service<Db, { readonly name: string }>()("test/Db") {}
class CurrentUser extends Context.Service<CurrentUser, { readonly id: string }>()("test/CurrentUser") {}

describe("a generated tag's layer", () => {
  it.effect("captures the services its handlers require when it is built; per-call services stay per call", () =>
    Effect.gen(function*() {
      const ElizaLive = ElizaTag.layer(Effect.succeed({
        say: (request: { sentence: string }) =>
          Effect.map(Effect.service(Db), (db) => ({ sentence: `${request.sentence} from ${db.name}` })),
        introduce: () => Stream.empty,
        converse: (requests: Stream.Stream<unknown, ConnectError.ConnectError>) => Stream.drain(requests),
        reflect: () => Effect.succeed({ summary: "" })
      })).pipe(Layer.provide(Layer.succeed(Db, { name: "captured" })))
      // the server never sees Db: only the implementation was given it
      const eliza = yield* Effect.map(Effect.service(Transport), (t) => Client.makeWith(ElizaService, t)).pipe(
        Effect.provide(MemoryTransport.layerClient(Router.fromServices(ElizaTag), { protocol: "grpc" }).pipe(
          Layer.provide(ElizaLive)
        ))
      )
      expect(yield* eliza.say({ sentence: "hi" }).pipe(Effect.scoped)).toEqual(
        expect.objectContaining({ sentence: "hi from captured" })
      )
      // a per-call service from an interceptor reaches handlers passed with the tag to Router.service
      const perCall = Router.service(Router.empty, ElizaTag, {
        say: (request) => Effect.map(Effect.service(CurrentUser), (u) => ({ sentence: `${request.sentence} as ${u.id}` }))
      }).pipe(Router.intercept(Interceptor.provideService(CurrentUser, () => Effect.succeed({ id: "ada" }))))
      const said = yield* Effect.flatMap(Effect.service(Transport), (t) => Client.makeWith(ElizaService, t).say({ sentence: "hi" })).pipe(
        Effect.provide(MemoryTransport.layerClient(perCall, { protocol: "connect" }))
      )
      expect(said.sentence).toBe("hi as ada")
    }))
})
