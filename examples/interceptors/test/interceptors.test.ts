import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type { ProtocolName } from "@connect-effect/core/Http"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { bearer, messages } from "../src/client.ts"
import { calls } from "../src/main.ts"
import { AccessLog, router } from "../src/server.ts"

const root = path.resolve(import.meta.dirname, "../../..")

describe("interceptors example", () => {
  it("authenticates with a bearer token, provides CurrentUser, and logs on both sides", async () => {
    const serverLog: Array<string> = []
    const clientLog: Array<string> = []
    const collect = Layer.succeed(AccessLog, { write: (line) => Effect.sync(() => serverLog.push(line)) })
    const result = await Effect.runPromise(
      Effect.gen(function*() {
        const server = yield* NodeServer.NodeServer
        return yield* calls(server.url, (line) => clientLog.push(line))
      }).pipe(Effect.provide(NodeServer.layerRouter(router, { port: 0 }).pipe(Layer.provide(collect))))
    )
    expect(result.asAda).toEqual(["Ada said: hello", "Hello Ada.", "Your id is u1."])
    expect(result.anonymous).toBe("unauthenticated: missing or unknown bearer token")
    expect(serverLog.map((l) => l.replace(/ \d+ms$/, ""))).toEqual([
      "connect Say ok",
      "connect Introduce ok",
      "connect Say unauthenticated"
    ])
    expect(clientLog.map((l) => l.replace(/ \d+ms$/, ""))).toEqual([
      "Say ok (interceptors-example)",
      "Introduce ok (interceptors-example)",
      "Say unauthenticated"
    ])
  })

  it.each<[ProtocolName, "1.1" | "2"]>([["connect", "1.1"], ["grpc", "2"], ["grpc-web", "1.1"]])(
    "a client interceptor logs every message of a server stream and its trailers (%s over HTTP/%s)",
    async (protocol, httpVersion) => {
      const log: Array<string> = []
      const collect = Layer.succeed(AccessLog, { write: () => Effect.void })
      const options = { interceptors: [messages((line) => log.push(line)), bearer("token-ada")] }
      const received = await Effect.runPromise(
        Effect.gen(function*() {
          const server = yield* NodeServer.NodeServer
          const transport = protocol === "grpc"
            ? NodeTransport.layerGrpc({ baseUrl: server.url, ...options })
            : protocol === "grpc-web"
            ? NodeTransport.layerGrpcWeb({ baseUrl: server.url, httpVersion, ...options })
            : NodeTransport.layerConnect({ baseUrl: server.url, httpVersion, ...options })
          return yield* Effect.gen(function*() {
            const eliza = yield* ElizaClient
            const intro = yield* Stream.runCollect(eliza.introduce({ name: "" }))
            const said = yield* eliza.say({ sentence: "hi" })
            return [...intro.map((r) => r.sentence), said.sentence]
          }).pipe(Effect.provide(ElizaClient.layer.pipe(Layer.provide(transport))))
        }).pipe(Effect.provide(NodeServer.layerRouter(router, { port: 0 }).pipe(Layer.provide(collect))))
      )
      // the interceptor passes the messages on untouched...
      expect(received).toEqual(["Hello Ada.", "Your id is u1.", "Ada said: hi"])
      // ...and saw each one as the caller read it, then the end of the stream with its trailers
      expect(log).toEqual([
        `Introduce <- {"sentence":"Hello Ada."}`,
        `Introduce <- {"sentence":"Your id is u1."}`,
        "Introduce end, trailers: x-user-id",
        `Say <- {"sentence":"Ada said: hi"}`
      ])
    }
  )

  it("`npm run demo` exits 0", () => {
    const out = execFileSync(path.join(root, "node_modules/.bin/node"), ["src/main.ts"], {
      cwd: path.join(root, "examples/interceptors"),
      encoding: "utf8",
      timeout: 60_000
    })
    expect(out).toContain("as Ada:    Ada said: hello / Hello Ada. / Your id is u1.")
    expect(out).toContain("anonymous: unauthenticated: missing or unknown bearer token")
  })
})
