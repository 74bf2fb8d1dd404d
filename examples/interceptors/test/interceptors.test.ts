import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
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
