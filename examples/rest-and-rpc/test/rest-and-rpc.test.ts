import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ServerLive } from "../src/app.ts"
import { demo, serverUrl } from "../src/main.ts"

const root = path.resolve(import.meta.dirname, "../../..")

describe("REST and RPC in one effect/http app", () => {
  it("serves REST with fetch and RPC with the Connect and gRPC-Web clients, sharing state", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function*() {
        const url = yield* serverUrl
        const lines = yield* demo(url)
        // gRPC-Web on the same routes, then the history over REST
        const grpcWeb = yield* Effect.flatMap(ElizaClient, (eliza) =>
          Stream.runCollect(eliza.converse(Stream.make({ sentence: "Hello." }, { sentence: "Goodbye." })))).pipe(
            Effect.provide(ElizaClient.layer.pipe(Layer.provide(NodeTransport.layerGrpcWeb({ baseUrl: url }))))
          )
        const history = yield* Effect.promise(() => fetch(`${url}/api/history`).then((r) => r.json()))
        const missing = yield* Effect.promise(() => fetch(`${url}/api/nope`).then((r) => r.status))
        return { lines, grpcWeb: grpcWeb.map((r) => r.sentence), history, missing }
      }).pipe(Effect.provide(ServerLive(0)))
    )
    expect(result.lines[0]).toBe(`GET /health          → {"status":"ok"}`)
    expect(result.lines[1]).toMatch(/^Say \(Connect\)        → \S/)
    expect(result.lines[2]).toMatch(/^Introduce \(stream\)   → \d+ sentences, first: Hi Ada, I'm Eliza\.$/)
    expect(result.lines[3]).toBe(`GET /api/history     → {"sentences":["I feel happy."]}`)
    expect(result.grpcWeb).toHaveLength(2)
    expect(result.grpcWeb[1]).toMatch(/goodbye/i)
    expect(result.history).toEqual({ sentences: ["I feel happy.", "Hello.", "Goodbye."] })
    expect(result.missing).toBe(404)
  })

  it("`npm run demo` exits 0", () => {
    const out = execFileSync(path.join(root, "node_modules/.bin/node"), ["src/main.ts"], {
      cwd: path.join(root, "examples/rest-and-rpc"),
      encoding: "utf8",
      timeout: 60_000
    })
    expect(out).toContain(`GET /api/history     → {"sentences":["I feel happy."]}`)
  })
})
