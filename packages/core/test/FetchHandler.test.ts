import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ConnectError from "../src/ConnectError.ts"
import * as FetchHandler from "../src/adapters/FetchHandler.ts"
import * as FetchHttpClient from "../src/adapters/FetchHttpClient.ts"
import * as Router from "../src/Router.ts"
import {
  ElizaClient,
  ElizaService as ElizaServiceTag,
  type ElizaServiceHandlers
} from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const handlers: ElizaServiceHandlers = {
  say: (request, ctx) =>
    request.sentence === "fail"
      ? Effect.fail(ConnectError.make("permission_denied", "no"))
      : Effect.succeed({ sentence: `${ctx.httpMethod} ${request.sentence}` }),
  introduce: (request) => Stream.range(1, 3).pipe(Stream.map((i) => ({ sentence: `${request.name} ${i}` }))),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence.toUpperCase() })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: String(all.length) }))
}

const router = Router.service(Router.empty, ElizaService, handlers)
const handler = Effect.runSync(FetchHandler.fromRouter(router))
// a fetch that hands the Request to the handler: the full web-standard path, no socket
const fetch = (input: RequestInfo | URL, init?: RequestInit) => handler(new Request(input, init))

describe.each(["connect", "grpc-web"] as const)("fetch handler and fetch client over %s", (protocol) => {
  const options = { baseUrl: "http://fetch.test", fetch: fetch as typeof globalThis.fetch, useHttpGet: true }
  const client = ElizaClient.layer.pipe(Layer.provide(
    protocol === "connect" ? FetchHttpClient.layerConnect(options) : FetchHttpClient.layerGrpcWeb(options)
  ))

  it.effect("serves every RPC kind", () =>
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      expect((yield* eliza.say({ sentence: "hi" })).sentence).toBe(protocol === "connect" ? "GET hi" : "POST hi")
      const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
      expect(intro.map((r) => r.sentence)).toEqual(["Ada 1", "Ada 2", "Ada 3"])
      const conv = yield* Stream.runCollect(eliza.converse(Stream.make({ sentence: "a" }, { sentence: "b" })))
      expect(conv.map((r) => r.sentence)).toEqual(["A", "B"])
      expect((yield* eliza.reflect(Stream.make({ sentence: "a" }, { sentence: "b" }))).summary).toBe("2")
      const error = yield* Effect.flip(eliza.say({ sentence: "fail" }))
      expect(error.code).toBe("permission_denied")
    }).pipe(Effect.provide(client)))
})

describe("fetch handler", () => {
  const eliza = "http://x/connectrpc.eliza.v1.ElizaService"
  /** Status and `Accept-Post` of a POST with this content type. */
  const post = async (method: string, contentType: string) => {
    const res = await handler(new Request(`${eliza}/${method}`, { method: "POST", headers: { "content-type": contentType }, body: new Uint8Array(5) }))
    return { status: res.status, accept: res.headers.get("accept-post") }
  }
  const grpcWeb = "application/grpc-web, application/grpc-web+proto, application/grpc-web+json"

  it.effect("answers gRPC (which needs trailers) with 415 and unknown paths with 404", () =>
    Effect.promise(async () => {
      // derived from the protocol list: what this adapter serves for a unary method (no gRPC)
      expect(await post("Say", "application/grpc")).toEqual({ status: 415, accept: `application/proto, application/json, ${grpcWeb}` })
      const missing = await handler(new Request("http://x/nope/Nope", { method: "POST" }))
      expect(missing.status).toBe(404)
    }))

  it.effect("derives Allow and Accept-Post from the protocols a route takes", () =>
    Effect.promise(async () => {
      expect(await post("Introduce", "application/proto")).toEqual({
        status: 415,
        accept: `application/connect+proto, application/connect+json, ${grpcWeb}`
      })
      const put = await handler(new Request(`${eliza}/Say`, { method: "PUT" }))
      expect({ status: put.status, allow: put.headers.get("allow") }).toEqual({ status: 405, allow: "GET, POST" })
      const get = await handler(new Request(`${eliza}/Introduce`, { method: "GET" }))
      expect({ status: get.status, allow: get.headers.get("allow") }).toEqual({ status: 405, allow: "POST" })
    }))

  it.effect("a writer with trailers (the default) is offered gRPC too", () =>
    Effect.gen(function*() {
      const http = yield* Router.toHttpHandler(router)
      let answer: { status: number; accept: string | null } | undefined
      yield* http({
        method: "POST",
        url: "/connectrpc.eliza.v1.ElizaService/Say",
        headers: new Headers({ "content-type": "text/plain" }),
        httpVersion: "2",
        body: Stream.empty,
        readAll: () => Effect.succeed(new Uint8Array(0))
      }, {
        head: (status, headers) => (answer = { status, accept: headers.get("accept-post") }),
        write: () => Effect.void,
        end: () => {}
      })
      expect(answer).toEqual({
        status: 415,
        accept: "application/proto, application/json, application/grpc, application/grpc+proto, application/grpc+json, " +
          "application/grpc-web, application/grpc-web+proto, application/grpc-web+json"
      })
    }))
})

describe("fetch handler from a router effect", () => {
  it.effect("serves Router.fromServices with the tag's layer provided", () =>
    Effect.gen(function*() {
      let built = 0
      const router = Router.fromServices(ElizaServiceTag).pipe(Effect.tap(() => Effect.sync(() => built++)))
      const make: Effect.Effect<FetchHandler.FetchHandler, never, ElizaServiceTag> = FetchHandler.fromRouter(router)
      const served = yield* make.pipe(Effect.provide(ElizaServiceTag.layer(Effect.succeed(handlers))))
      const fetch = (input: RequestInfo | URL, init?: RequestInit) => served(new Request(input, init))
      const client = ElizaClient.layer.pipe(
        Layer.provide(FetchHttpClient.layerConnect({ baseUrl: "http://fetch.test", fetch: fetch as typeof globalThis.fetch }))
      )
      yield* Effect.gen(function*() {
        const eliza = yield* ElizaClient
        expect((yield* eliza.say({ sentence: "hi" })).sentence).toBe("POST hi")
        const conv = yield* Stream.runCollect(eliza.converse(Stream.make({ sentence: "a" }, { sentence: "b" })))
        expect(conv.map((r) => r.sentence)).toEqual(["A", "B"])
        expect((yield* Effect.flip(eliza.say({ sentence: "fail" }))).code).toBe("permission_denied")
      }).pipe(Effect.provide(client))
      expect(built).toBe(1)
    }))

  it.effect("fails with the router effect's error", () =>
    Effect.gen(function*() {
      const router: Effect.Effect<Router.Router, "no router"> = Effect.fail("no router")
      expect(yield* Effect.flip(FetchHandler.fromRouter(router))).toBe("no router")
    }))
})
