import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Transport from "@connect-effect/core/Transport"
import * as FetchHttpClient from "@connect-effect/core/FetchHttpClient"
import * as NodeCompression from "@connect-effect/platform-node/NodeCompression"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { GET, POST } from "../src/app/[service]/[method]/route.ts"
import { createServer, listen } from "../src/server.ts"

const root = path.resolve(import.meta.dirname, "../../..")
const say = "http://localhost:3000/connectrpc.eliza.v1.ElizaService/Say"

/** A fetch that hands each request to the exported route functions, as Next.js does. */
const nextFetch = ((input: RequestInfo | URL, init?: RequestInit) => {
  const request = new Request(input, init)
  return request.method === "GET" ? GET(request) : POST(request)
}) as typeof fetch

describe("route handler called with Requests", () => {
  it("answers a Connect unary POST in JSON", async () => {
    const response = await POST(
      new Request(say, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sentence: "Hello" }) })
    )
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toBe("application/json")
    expect((await response.json() as { sentence: string }).sentence).toMatch(/problem/)
  })

  it("answers a Connect GET", async () => {
    const message = encodeURIComponent(JSON.stringify({ sentence: "Hello" }))
    const response = await GET(new Request(`${say}?connect=v1&encoding=json&message=${message}`))
    expect(response.status).toBe(200)
    expect((await response.json() as { sentence: string }).sentence).toMatch(/\S/)
  })

  it("answers errors: 415 for gRPC and unknown types, Connect errors as JSON", async () => {
    const grpc = await POST(new Request(say, { method: "POST", headers: { "content-type": "application/grpc" }, body: new Uint8Array(5) }))
    expect(grpc.status).toBe(415)
    const text = await POST(new Request(say, { method: "POST", headers: { "content-type": "text/plain" }, body: "hi" }))
    expect(text.status).toBe(415)
    // a message larger than readMaxBytes (64 KiB) → resource_exhausted (HTTP 429)
    const big = await POST(new Request(say, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sentence: "x".repeat(70 * 1024) })
    }))
    expect(big.status).toBe(429)
    expect((await big.json() as { code: string }).code).toBe("resource_exhausted")
  })

  it("serves every RPC kind to the generated client through the exported functions", async () => {
    for (const protocol of ["connect", "grpc-web"] as const) {
      const options = { baseUrl: "http://localhost:3000" }
      const transport = (protocol === "connect" ? Transport.layerConnect(options) : Transport.layerGrpcWeb(options)).pipe(
        Layer.provide(FetchHttpClient.layer({ fetch: nextFetch })),
        Layer.provide(NodeCompression.layer)
      )
      const result = await Effect.runPromise(
        Effect.gen(function*() {
          const eliza = yield* ElizaClient
          const said = yield* eliza.say({ sentence: "I feel happy." })
          const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
          const reflected = yield* eliza.reflect(Stream.make({ sentence: "I am sad" }, { sentence: "bye" }))
          const conversation = yield* Stream.runCollect(eliza.converse(Stream.make({ sentence: "Hello" }, { sentence: "Goodbye" })))
          return { said: said.sentence, intro: intro.length, summary: reflected.summary, replies: conversation.length }
        }).pipe(Effect.provide(ElizaClient.layer.pipe(Layer.provide(transport))))
      )
      expect(result.said).toMatch(/\S/)
      expect(result.intro).toBeGreaterThanOrEqual(3)
      expect(result.summary).toContain("You told me 2 things")
      expect(result.replies).toBe(2)
    }
  })
})

describe("route handler behind a real socket", () => {
  const server = createServer()
  let url = ""
  beforeAll(async () => {
    url = await listen(server, 0)
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it("serves the NodeTransport clients (Connect with gzip, gRPC-Web) over HTTP/1.1", async () => {
    for (const layer of [
      NodeTransport.layerConnect({ baseUrl: url, sendCompression: "gzip", compressMinBytes: 1 }),
      NodeTransport.layerGrpcWeb({ baseUrl: url })
    ]) {
      const result = await Effect.runPromise(
        Effect.gen(function*() {
          const eliza = yield* ElizaClient
          const said = yield* eliza.say({ sentence: "Hello" })
          const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
          return { said: said.sentence, first: intro[0]?.sentence }
        }).pipe(Effect.provide(ElizaClient.layer.pipe(Layer.provide(layer))))
      )
      // Eliza's shared brain cycles through its greetings
      expect(result.said).toMatch(/problem/)
      expect(result.first).toBe("Hi Ada, I'm Eliza.")
    }
  })

  it("`npm run demo` exits 0", () => {
    const out = execFileSync(path.join(root, "node_modules/.bin/node"), ["src/main.ts"], {
      cwd: path.join(root, "examples/fetch-route"),
      encoding: "utf8",
      timeout: 60_000
    })
    expect(out).toContain("POST(new Request(…Say)) → 200 {\"sentence\":")
    expect(out).toMatch(/Introduce over http:\/\/127\.0\.0\.1:\d+ → Hi Ada, I'm Eliza\./)
  })
})
