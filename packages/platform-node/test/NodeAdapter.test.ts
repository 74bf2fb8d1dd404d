/**
 * NodeAdapter: a router mounted in servers the test creates itself, over real sockets —
 * node:http (HTTP/1.1: Connect and gRPC-Web, under a prefix, beside the app's own routes),
 * node:http2 h2c and TLS with HTTP/1.1 fallback (every protocol, full-duplex bidi), the router's
 * options, and graceful shutdown (by `close()` and by closing the scope).
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import type * as net from "node:net"
import { afterAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeAdapter from "@connect-effect/platform-node/NodeAdapter"
import { generate } from "./certs.ts"
import { checkAllKinds, client, http1Combos, http2Combos, makeRouter, Probe, sayOutcome } from "./fixtures/mounted.ts"
import { outcomeOf, waitFor } from "./fixtures/reliability.ts"

const servers: Array<net.Server> = []
const listen = (server: net.Server): Promise<number> =>
  new Promise((resolve) => {
    servers.push(server)
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port))
  })
afterAll(() => {
  for (const server of servers) {
    ;(server as http.Server).closeAllConnections?.()
    server.close()
  }
})

const adapterOf = (probe: Probe, options?: NodeAdapter.Options) =>
  Effect.runPromise(NodeAdapter.fromRouter(makeRouter(probe), options))

const text = async (url: string, init?: RequestInit) => {
  const response = await fetch(url, init)
  return `${response.status} ${await response.text()}`
}

describe("node:http", async () => {
  const adapter = await adapterOf(new Probe(), { prefix: "/api" })
  const port = await listen(http.createServer((req, res) =>
    adapter.handle(req, res, () => {
      res.writeHead(req.url === "/health" ? 200 : 404, { "content-type": "text/plain" })
      res.end(req.url === "/health" ? "own route" : "not mine")
    })
  ))
  const baseUrl = `http://127.0.0.1:${port}/api`

  for (const { protocol, httpVersion } of http1Combos) {
    it(`${protocol} over HTTP/1.1 under /api: every RPC kind and an error`, () =>
      checkAllKinds(baseUrl, protocol, httpVersion, false))
  }

  it("the app's own routes answer beside the RPC routes; paths outside the prefix go to next()", async () => {
    expect(await text(`http://127.0.0.1:${port}/health`)).toBe("200 own route")
    // the RPC path without the prefix is not the adapter's
    expect(await text(`http://127.0.0.1:${port}/connectrpc.eliza.v1.ElizaService/Say`, { method: "POST" })).toBe("404 not mine")
    expect(await text(`${baseUrl}/connectrpc.eliza.v1.ElizaService/Nope`, { method: "POST" })).toBe("404 not mine")
    expect(adapter.owns("/api/connectrpc.eliza.v1.ElizaService/Say?x=1")).toBe(true)
    expect(adapter.owns("/apiconnectrpc.eliza.v1.ElizaService/Say")).toBe(false)
  })

  it("without next(), a path the router does not own is answered 404", async () => {
    const port = await listen(http.createServer(adapter.handle))
    expect(await text(`http://127.0.0.1:${port}/other`)).toBe("404 ")
    expect(await sayOutcome(`http://127.0.0.1:${port}/api`, "connect", "1.1", "hi")).toBe("ok")
  })

  it("the router's options apply (readMaxBytes)", async () => {
    const small = await adapterOf(new Probe(), { readMaxBytes: 16 })
    const port = await listen(http.createServer(small.handle))
    expect(await sayOutcome(`http://127.0.0.1:${port}`, "connect", "1.1", "x".repeat(100))).toBe("resource_exhausted")
    expect(await sayOutcome(`http://127.0.0.1:${port}`, "connect", "1.1", "short")).toBe("ok")
  })
})

describe("node:http2", async () => {
  const adapter = await adapterOf(new Probe())
  const port = await listen(http2.createServer(adapter.handle))
  const baseUrl = `http://127.0.0.1:${port}`

  for (const { protocol, httpVersion } of http2Combos) {
    it(`${protocol} over h2c: every RPC kind (full-duplex bidi) and an error`, () =>
      checkAllKinds(baseUrl, protocol, httpVersion, true))
  }

  it("TLS with HTTP/1.1 fallback (createSecureServer, allowHTTP1): gRPC over h2, Connect over HTTP/1.1", async () => {
    const certs = generate()
    const port = await listen(
      http2.createSecureServer({ cert: certs.serverCert, key: certs.serverKey, allowHTTP1: true }, adapter.handle)
    )
    const tlsUrl = `https://127.0.0.1:${port}`
    await checkAllKinds(tlsUrl, "grpc", "2", true, { tls: { ca: certs.ca } })
    await checkAllKinds(tlsUrl, "connect", "1.1", false, { tls: { ca: certs.ca } })
  })
})

/** Starts a unary call and waits until its handler runs (the call's result in a box: not awaited here). */
const inFlight = async (scope: Scope.Scope, baseUrl: string, probe: Probe, sentence: string) => {
  const c = await client(scope, baseUrl, "grpc", "2")
  const before = probe.active
  const result = Effect.runPromiseExit(c.say({ sentence }))
  expect(await waitFor(() => probe.active > before, 3000)).toBe(true)
  return { result }
}

describe("graceful shutdown", () => {
  for (const httpVersion of ["1.1", "2"] as const) {
    it(`HTTP/${httpVersion}: close() lets the call in flight finish and refuses new ones; the server keeps serving its own routes`, async () => {
      const probe = new Probe()
      const adapter = await adapterOf(probe)
      const listener = (req: NodeAdapter.NodeRequest, res: NodeAdapter.NodeResponse) =>
        adapter.handle(req, res, () => res.end("own route"))
      const port = await listen(httpVersion === "2" ? http2.createServer(listener) : http.createServer(listener))
      const baseUrl = `http://127.0.0.1:${port}`
      const protocol = httpVersion === "2" ? "grpc" : "connect"
      const scope = Effect.runSync(Scope.make())
      const c = await client(scope, baseUrl, protocol, httpVersion)
      // a server stream that waits for the probe's release after its first message
      const held = Effect.runPromiseExit(Stream.runCollect(c.introduce({ name: "hold" })))
      expect(await waitFor(() => probe.held === 1, 3000)).toBe(true)
      let closed = false
      const closing = adapter.close().then(() => (closed = true))
      expect(await sayOutcome(baseUrl, protocol, httpVersion, "new")).toBe("unavailable")
      expect(closed).toBe(false)
      expect(adapter.inflight()).toBe(1)
      probe.release()
      const exit = await held
      expect(Exit.isSuccess(exit) && exit.value.map((r) => r.sentence)).toEqual(["held", "released"])
      await closing
      expect(adapter.inflight()).toBe(0)
      if (httpVersion === "1.1") expect(await text(`${baseUrl}/other`)).toBe("200 own route")
      await Effect.runPromise(Scope.close(scope, Exit.void))
    })
  }

  it("closing the scope of make() shuts down; calls still running after the grace period are interrupted", async () => {
    const probe = new Probe()
    const adapterScope = Effect.runSync(Scope.make())
    const adapter = await Effect.runPromise(
      Scope.provide(NodeAdapter.make(makeRouter(probe), { gracePeriodMs: 200 }), adapterScope)
    )
    const port = await listen(http2.createServer(adapter.handle))
    const baseUrl = `http://127.0.0.1:${port}`
    const scope = Effect.runSync(Scope.make())
    const c = await client(scope, baseUrl, "grpc", "2")
    const stream = Effect.runPromiseExit(Stream.runCollect(c.introduce({ name: "forever" })))
    const never = (await inFlight(scope, baseUrl, probe, "never")).result
    expect(await waitFor(() => probe.active === 2, 3000)).toBe(true)
    await Effect.runPromise(Scope.close(adapterScope, Exit.void))
    expect(probe.exits.interrupt).toBe(2)
    expect(outcomeOf(await never)).not.toBe("ok")
    expect(outcomeOf(await stream)).not.toBe("ok")
    expect(adapter.inflight()).toBe(0)
    expect(await sayOutcome(baseUrl, "grpc", "2", "late")).toBe("unavailable")
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })
})
