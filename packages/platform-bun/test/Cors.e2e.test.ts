/**
 * The CORS preset on `Bun.serve` (through the core's fetch handler), over a real socket: a
 * preflight answered 204, actual responses decorated for the allowed origin only.
 */
import { spawn } from "node:child_process"
import * as http from "node:http"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "../../..")
const APP = "http://app.test:3000"
const child = spawn(path.join(root, "node_modules/.bin/bun"), ["--conditions=@connect-effect/source", path.join(import.meta.dirname, "fixtures/corsServer.ts"), "--origin", APP], {
  cwd: root,
  stdio: ["pipe", "pipe", "pipe"]
})
let port = 0

beforeAll(async () => {
  let stdout = ""
  let stderr = ""
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  port = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d
      const m = /PORT (\d+)/.exec(stdout)
      if (m) resolve(Number(m[1]))
    })
    child.once("exit", (code) => reject(new Error(`bun exited ${code}: ${stderr}`)))
  })
}, 60_000)

afterAll(async () => {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once("exit", resolve))
  child.stdin.end()
  child.kill("SIGTERM")
  await exited
})

const send = (method: string, headers: Record<string, string>, body?: string) =>
  new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: "/connectrpc.eliza.v1.ElizaService/Say", headers, agent: false }, (res) => {
      let data = ""
      res.setEncoding("utf8")
      res.on("data", (c) => (data += c))
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: data }))
    })
    req.on("error", reject)
    req.end(body)
  })

describe("CORS on Bun.serve", () => {
  it("answers a preflight of the allowed origin with 204, and another origin without CORS headers", async () => {
    const allowed = await send("OPTIONS", { origin: APP, "access-control-request-method": "POST" })
    expect(allowed.status).toBe(204)
    expect(allowed.headers["access-control-allow-origin"]).toBe(APP)
    expect(allowed.headers["access-control-allow-methods"]).toBe("POST, GET")
    expect(allowed.headers["access-control-allow-headers"]).toContain("x-grpc-web")
    const denied = await send("OPTIONS", { origin: "http://evil.test", "access-control-request-method": "POST" })
    expect(denied.status).toBe(204)
    expect(denied.headers["access-control-allow-origin"]).toBeUndefined()
  })

  it("decorates the responses of the allowed origin", async () => {
    const call = (origin: string) => send("POST", { origin, "content-type": "application/json" }, JSON.stringify({ sentence: "hi" }))
    const allowed = await call(APP)
    expect(allowed.status).toBe(200)
    expect(allowed.headers["access-control-allow-origin"]).toBe(APP)
    expect(allowed.headers["access-control-expose-headers"]).toContain("grpc-status")
    const denied = await call("http://evil.test")
    expect(denied.status).toBe(200)
    expect(denied.headers["access-control-allow-origin"]).toBeUndefined()
  })
})
