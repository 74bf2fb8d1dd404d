/**
 * The router mounted in a Hono app (on @hono/node-server) through core's FetchHandler, over
 * real sockets: under `/api` beside Hono's own routes, Connect and gRPC-Web with every RPC kind
 * (HTTP/1.1: bidi half duplex) and an error. gRPC needs trailers, which a fetch `Response` cannot
 * carry: it is answered 415.
 */
import type * as net from "node:net"
import { serve, type ServerType } from "@hono/node-server"
import { Hono } from "hono"
import { afterAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as FetchHandler from "@connect-effect/core/FetchHandler"
import * as NodeCompression from "@connect-effect/platform-node/NodeCompression"
import { checkAllKinds, http1Combos, makeRouter, Probe } from "./fixtures/mounted.ts"

describe("Hono", async () => {
  const handler = await Effect.runPromise(
    FetchHandler.fromRouter(makeRouter(new Probe()), { compressions: NodeCompression.all })
  )
  const app = new Hono()
  app.get("/health", (c) => c.text("own route"))
  app.all("/api/*", (c) => {
    // the router's paths are /package.Service/Method: the mount path goes
    const url = new URL(c.req.url)
    url.pathname = url.pathname.slice("/api".length)
    return handler(new Request(url, c.req.raw))
  })
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s))
  })
  const origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  for (const { protocol, httpVersion } of http1Combos) {
    it(`${protocol} under /api: every RPC kind and an error`, () => checkAllKinds(`${origin}/api`, protocol, httpVersion, false))
  }

  it("Hono's own routes answer beside the RPC routes; gRPC is answered 415", async () => {
    expect(await (await fetch(`${origin}/health`)).text()).toBe("own route")
    const grpc = await fetch(`${origin}/api/connectrpc.eliza.v1.ElizaService/Say`, {
      method: "POST",
      headers: { "content-type": "application/grpc" },
      body: new Uint8Array(5)
    })
    expect(grpc.status).toBe(415)
    await grpc.arrayBuffer()
    const unknown = await fetch(`${origin}/api/connectrpc.eliza.v1.ElizaService/Nope`, { method: "POST" })
    expect(unknown.status).toBe(404)
    await unknown.arrayBuffer()
  })
})
