/**
 * The CORS preset on the Node server over real sockets, HTTP/1.1 and h2c: preflights answered
 * 204 before routing, actual responses decorated for allowed origins only.
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import type { ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const APP = "http://app.test:3000"
const handlers: ElizaServiceHandlers = {
  say: (request) => Effect.succeed({ sentence: request.sentence }),
  introduce: (request) => Stream.make({ sentence: request.name }),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence })),
  reflect: () => Effect.succeed({ summary: "" })
}

let scope: Scope.Closeable
let port = 0

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const ctx = await Effect.runPromise(Layer.buildWithScope(
    NodeServer.layerRouter(Router.service(Router.empty, ElizaService, handlers), {
      cors: { allowedOrigins: (origin) => origin === APP, allowCredentials: true, maxAgeSeconds: 60 }
    }),
    scope
  ))
  port = Context.get(ctx, NodeServer.NodeServer).port
})

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

interface Answer {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly body: string
}

const h1 = (method: string, path: string, headers: Record<string, string>, body?: string) =>
  new Promise<Answer>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      let data = ""
      res.setEncoding("utf8")
      res.on("data", (c) => (data += c))
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: data }))
    })
    req.on("error", reject)
    req.end(body)
  })

const h2 = (method: string, path: string, headers: Record<string, string>, body?: string) =>
  new Promise<Answer>((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    session.on("error", reject)
    const stream = session.request({ ":method": method, ":path": path, ...headers })
    let status = 0
    let responseHeaders: Answer["headers"] = {}
    let data = ""
    stream.on("response", (h) => {
      status = Number(h[":status"])
      responseHeaders = h as Answer["headers"]
    })
    stream.setEncoding("utf8")
    stream.on("data", (c) => (data += c))
    stream.on("end", () => {
      session.close()
      resolve({ status, headers: responseHeaders, body: data })
    })
    stream.on("error", reject)
    stream.end(body)
  })

const SAY = "/connectrpc.eliza.v1.ElizaService/Say"

describe.each([["HTTP/1.1", h1], ["h2c", h2]] as const)("CORS on NodeServer over %s", (_name, send) => {
  it("answers a preflight of an allowed origin with 204 and the preset", async () => {
    const answer = await send("OPTIONS", SAY, {
      origin: APP,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type, connect-protocol-version"
    })
    expect(answer.status).toBe(204)
    expect(answer.body).toBe("")
    expect(answer.headers["content-length"]).toBeUndefined()
    expect(answer.headers["access-control-allow-origin"]).toBe(APP)
    expect(answer.headers["access-control-allow-credentials"]).toBe("true")
    expect(answer.headers["access-control-allow-methods"]).toBe("POST, GET")
    expect(answer.headers["access-control-allow-headers"]).toContain("connect-protocol-version")
    expect(answer.headers["access-control-max-age"]).toBe("60")
  })

  it("gives a preflight of another origin no CORS headers", async () => {
    const answer = await send("OPTIONS", SAY, { origin: "http://evil.test", "access-control-request-method": "POST" })
    expect(answer.status).toBe(204)
    expect(Object.keys(answer.headers).filter((k) => k.startsWith("access-control-"))).toEqual([])
  })

  it("decorates actual responses of allowed origins only", async () => {
    const call = (origin: string) =>
      send("POST", SAY, { origin, "content-type": "application/json" }, JSON.stringify({ sentence: "hi" }))
    const allowed = await call(APP)
    expect(allowed.status).toBe(200)
    expect(JSON.parse(allowed.body)).toEqual({ sentence: "hi" })
    expect(allowed.headers["access-control-allow-origin"]).toBe(APP)
    expect(allowed.headers["access-control-expose-headers"]).toContain("grpc-status")
    expect(allowed.headers["vary"]).toContain("Origin")
    const denied = await call("http://evil.test")
    expect(denied.status).toBe(200)
    expect(denied.headers["access-control-allow-origin"]).toBeUndefined()
  })
})
