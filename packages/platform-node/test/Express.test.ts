/**
 * The router mounted in an Express 5 app as middleware (NodeAdapter's listener), over real
 * sockets: under `/api` (Express strips the mount path), beside the app's own routes and a body
 * parser, Connect and gRPC-Web with every RPC kind (HTTP/1.1: bidi half duplex), an error, and
 * paths the router does not own falling through to Express.
 */
import type * as http from "node:http"
import type * as net from "node:net"
import express from "express"
import { afterAll, describe, expect, it } from "vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as NodeAdapter from "@connect-effect/platform-node/NodeAdapter"
import { checkAllKinds, checkEchoAndOutside, http1Combos, makeRouter, Probe } from "./fixtures/mounted.ts"

describe("Express 5", async () => {
  const adapter = await Effect.runPromise(NodeAdapter.fromRouter(makeRouter(new Probe())))
  const app = express()
  app.get("/health", (_req, res) => {
    res.send("own route")
  })
  app.use("/api", adapter.handle)
  // parsers after the adapter: they never see the RPC bodies
  app.use(express.json())
  app.post("/api/echo", (req, res) => {
    res.json({ echoed: req.body })
  })
  const server: http.Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s))
  })
  const origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
  afterAll(() => {
    server.closeAllConnections()
    server.close()
  })

  for (const { protocol, httpVersion } of http1Combos) {
    it(`${protocol} under /api: every RPC kind and an error`, () => checkAllKinds(`${origin}/api`, protocol, httpVersion, false))
  }

  it("the app's own routes answer beside the RPC routes; other /api paths fall through to Express", async () => {
    const health = await fetch(`${origin}/health`)
    expect(`${health.status} ${await health.text()}`).toBe("200 own route")
    // the RPC path outside the mount path is Express's 404
    await checkEchoAndOutside(origin, "/api/echo")
  })

  it("graceful shutdown leaves the app's routes running", async () => {
    const other = await Effect.runPromise(NodeAdapter.fromRouter(makeRouter(new Probe())))
    await other.close()
    const app2 = express()
    app2.use("/api", other.handle)
    app2.get("/health", (_req, res) => {
      res.send("ok")
    })
    const s2: http.Server = await new Promise((resolve) => {
      const s = app2.listen(0, "127.0.0.1", () => resolve(s))
    })
    const o2 = `http://127.0.0.1:${(s2.address() as net.AddressInfo).port}`
    try {
      const refused = await fetch(`${o2}/api/connectrpc.eliza.v1.ElizaService/Say`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}"
      })
      expect(refused.status).toBe(503)
      await refused.text()
      expect(await (await fetch(`${o2}/health`)).text()).toBe("ok")
    } finally {
      s2.closeAllConnections()
      s2.close()
    }
  })

  it("a body parser mounted before the adapter is reported (500 and onDefect), not a hang", async () => {
    const defects: Array<string> = []
    const late = await Effect.runPromise(NodeAdapter.fromRouter(makeRouter(new Probe()), {
      onDefect: (cause) => defects.push(Cause.pretty(cause))
    }))
    const app3 = express()
    app3.use(express.json())
    app3.use(late.handle)
    const s3: http.Server = await new Promise((resolve) => {
      const s = app3.listen(0, "127.0.0.1", () => resolve(s))
    })
    try {
      const response = await fetch(`http://127.0.0.1:${(s3.address() as net.AddressInfo).port}/connectrpc.eliza.v1.ElizaService/Say`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ sentence: "hi" })
      })
      expect(response.status).toBe(500)
      await response.text()
      expect(defects.join()).toContain("mount it before body parsers")
    } finally {
      s3.closeAllConnections()
      s3.close()
    }
  })
})
