import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { NumbersClient } from "../gen/streaming/v1/numbers_connect.ts"
import { demo, ServerLive } from "../src/main.ts"
import * as Patterns from "../src/patterns.ts"

const root = path.resolve(import.meta.dirname, "../../..")

const withClient = <A, E>(effect: Effect.Effect<A, E, NumbersClient>, options: Partial<NodeTransport.Options> = {}) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const server = yield* NodeServer.NodeServer
      return yield* effect.pipe(Effect.provide(NumbersClient.layer.pipe(
        Layer.provide(NodeTransport.layerConnect({ baseUrl: server.url, httpVersion: "2", ...options }))
      )))
    }).pipe(Effect.provide(ServerLive))
  )

describe("streaming patterns", () => {
  it("runs every pattern over HTTP/2 and returns the expected values", async () => {
    const lines = await withClient(demo)
    expect(lines).toEqual([
      "collect a server stream:        1, 2, 3, 4, 5",
      "take 3 from an endless stream:  1, 2, 3",
      "server stream with a deadline:  deadline_exceeded",
      "feed a client stream (1..100):  sum 5050 of 100 numbers",
      "bidi from a list:               echo: a, echo: b, echo: c",
      "bidi ping-pong with a Queue:    echo: ping 1, echo: ping 2, echo: ping 3"
    ])
  })

  it("the half-duplex patterns also work over HTTP/1.1 with gRPC-Web", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function*() {
        const server = yield* NodeServer.NodeServer
        return yield* Effect.all([Patterns.collectServerStream, Patterns.takeFromEndlessStream, Patterns.feedClientStream, Patterns.bidiFromList]).pipe(
          Effect.provide(NumbersClient.layer.pipe(Layer.provide(NodeTransport.layerGrpcWeb({ baseUrl: server.url, httpVersion: "1.1" }))))
        )
      }).pipe(Effect.provide(ServerLive))
    )
    expect(result).toEqual([[1, 2, 3, 4, 5], [1, 2, 3], expect.objectContaining({ sum: 5050, count: 100 }), ["echo: a", "echo: b", "echo: c"]])
  })

  it("`npm run demo` prints every pattern and exits 0", () => {
    const out = execFileSync(path.join(root, "node_modules/.bin/node"), ["src/main.ts"], {
      cwd: path.join(root, "examples/streaming"),
      encoding: "utf8",
      timeout: 60_000
    })
    expect(out).toContain("sum 5050 of 100 numbers")
    expect(out).toContain("echo: ping 1, echo: ping 2, echo: ping 3")
    expect(out).toMatch(/server: Count stopped after \d+ numbers/)
  })
})
