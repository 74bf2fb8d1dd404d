/**
 * `BunServer.layerRouterConfig` on Bun, across processes: fixtures/configServer.ts reads its
 * options from the environment through Effect's `Config`; a Node client built with
 * `NodeTransport.layerConnectConfig` calls it, and a missing `PORT` fails the layer with a
 * `ConfigError` before anything listens.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"

const root = path.resolve(import.meta.dirname, "../../..")
const bunBin = path.join(root, "node_modules/.bin/bun")
const children = new Set<ChildProcessWithoutNullStreams>()

afterAll(() => {
  for (const child of children) child.kill("SIGKILL")
})

/** Runs fixtures/configServer.ts with `env`; resolves with its port, or with its exit code and output. */
const startServer = (env: Record<string, string>) =>
  new Promise<{ readonly port?: number; readonly code?: number | null; readonly stdout: string; readonly stderr: string }>(
    (resolve, reject) => {
      const { PORT: _, ...inherited } = process.env
      const child = spawn(bunBin, ["--conditions=@connect-effect/source", path.join(import.meta.dirname, "fixtures", "configServer.ts")], {
        cwd: root,
        stdio: ["pipe", "pipe", "pipe"],
        env: { ...inherited, ...env }
      })
      children.add(child)
      let stdout = ""
      let stderr = ""
      const timer = setTimeout(() => reject(new Error(`no answer from the Bun server: ${stdout} ${stderr}`)), 20_000)
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        stdout += d
        const m = /^PORT (\d+)$/m.exec(stdout)
        if (m !== null) {
          clearTimeout(timer)
          resolve({ port: Number(m[1]), stdout, stderr })
        }
      })
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
      child.on("exit", (code) => {
        children.delete(child)
        clearTimeout(timer)
        resolve({ code, stdout, stderr })
      })
    }
  )

const say = (sentence: string, env: Record<string, string>) =>
  Effect.flatMap(Effect.service(ElizaClient), (eliza) => eliza.say({ sentence })).pipe(
    Effect.map((r) => r.sentence),
    Effect.provide(ElizaClient.layer.pipe(
      Layer.provide(NodeTransport.layerConnectConfig({ baseUrl: Config.String("ELIZA_URL") })),
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
    ))
  )

describe("BunServer.layerRouterConfig", () => {
  it("serves with the options of its environment, called by a client configured the same way", async () => {
    const server = await startServer({ PORT: "0", READ_MAX_BYTES: "64" })
    expect(server.port, server.stderr).toBeGreaterThan(0)
    const env = { ELIZA_URL: `http://127.0.0.1:${server.port}` }
    expect(await Effect.runPromise(say("hello", env))).toContain("hello")
    // READ_MAX_BYTES=64 is the server's limit
    const error = await Effect.runPromise(Effect.flip(say("x".repeat(200), env)))
    expect(ConnectError.isConnectError(error) && error.code).toBe("resource_exhausted")
  }, 30_000)

  it("fails the layer with a ConfigError when PORT is missing", async () => {
    const server = await startServer({})
    expect(server.port).toBeUndefined()
    expect(server.code).toBe(3)
    expect(server.stdout).toMatch(/CONFIG_ERROR .*PORT/)
  }, 30_000)
})
