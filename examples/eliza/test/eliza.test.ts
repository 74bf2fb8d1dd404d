import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../gen/connectrpc/eliza/v1/eliza_connect.ts"
import { conversation } from "../src/client.ts"
import { ServerLive } from "../src/server.ts"

const root = path.resolve(import.meta.dirname, "../../..")

describe("Eliza", () => {
  for (const httpVersion of ["1.1", "2"] as const) {
    for (const codec of ["proto", "json"] as const) {
      it(`holds the whole conversation over HTTP/${httpVersion} with ${codec}`, async () => {
        const lines = await Effect.runPromise(
          Effect.gen(function*() {
            const server = yield* NodeServer.NodeServer
            return yield* conversation.pipe(
              Effect.provide(ElizaClient.layer.pipe(
                Layer.provide(NodeTransport.layerConnect({ baseUrl: server.url, httpVersion, codec, useHttpGet: true }))
              ))
            )
          }).pipe(Effect.provide(ServerLive(0)))
        )
        expect(lines).toContain("--- Converse (bidi stream)")
        expect(lines).toContain("Eliza: Goodbye. It was nice talking to you.")
        expect(lines.filter((l) => l.startsWith("Eliza: ")).length).toBeGreaterThanOrEqual(10)
      })
    }
  }

  it("`npm run eliza` prints a conversation and exits 0", () => {
    const out = execFileSync(path.join(root, "node_modules/.bin/node"), ["src/main.ts"], {
      cwd: path.join(root, "examples/eliza"),
      encoding: "utf8",
      timeout: 60_000
    })
    expect(out).toContain("You:   I am worried about my computer.")
    expect(out).toContain("Eliza: Do computers worry you?")
  }, 90_000)

  it("`npm run eliza:bun` serves and talks to Eliza on Bun, prints the conversation and exits 0", () => {
    const out = execFileSync(path.join(root, "node_modules/.bin/bun"), ["--conditions=@connect-effect/source", "src/bun.ts"], {
      cwd: path.join(root, "examples/eliza"),
      encoding: "utf8",
      timeout: 30_000,
      killSignal: "SIGKILL"
    })
    const lines = out.split("\n")
    for (const heading of ["Introduce (server stream)", "Say (unary)", "Converse (bidi stream)", "Reflect (client stream)"]) {
      expect(lines).toContain(`--- ${heading}`)
    }
    expect(lines).toContain("You:   I am worried about my computer.")
    expect(lines).toContain("Eliza: Do computers worry you?")
    expect(lines).toContain("Eliza: Goodbye. It was nice talking to you.")
    expect(lines.filter((l) => l.startsWith("Eliza: ")).length).toBeGreaterThanOrEqual(10)
  }, 60_000)
})
