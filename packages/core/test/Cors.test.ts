import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ConnectError from "../src/ConnectError.ts"
import * as Cors from "../src/extensions/Cors.ts"
import * as FetchHandler from "../src/adapters/FetchHandler.ts"
import * as Router from "../src/Router.ts"
import type { ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const APP = "https://app.example.com"
const EVIL = "https://evil.example.com"

const preflightHeaders = (origin: string | null, method = "POST", requested?: string) => {
  const h = new Headers({ "access-control-request-method": method })
  if (origin !== null) h.set("origin", origin)
  if (requested !== undefined) h.set("access-control-request-headers", requested)
  return h
}

const list = (value: string | null) => (value ?? "").split(",").map((s) => s.trim()).filter((s) => s.length > 0)

describe("Cors.preflight", () => {
  const policy = Cors.make({ allowedOrigins: [APP], exposedHeaders: ["X-Error-Meta"], allowedHeaders: ["Authorization"], maxAgeSeconds: 600 })

  it("answers an allowed origin with the protocol headers, methods and max-age", () => {
    const { headers, status } = Cors.preflight(policy, preflightHeaders(APP, "POST", "content-type,connect-protocol-version"))
    expect(status).toBe(204)
    expect(headers.get("access-control-allow-origin")).toBe(APP)
    expect(list(headers.get("access-control-allow-methods"))).toEqual(["POST", "GET"])
    const allowed = list(headers.get("access-control-allow-headers"))
    for (const h of ["content-type", "connect-protocol-version", "connect-timeout-ms", "x-grpc-web", "x-user-agent", "grpc-timeout", "authorization"]) {
      expect(allowed).toContain(h)
    }
    expect(headers.get("access-control-max-age")).toBe("600")
    expect(headers.get("access-control-allow-credentials")).toBeNull()
    expect(headers.get("vary")).toContain("Origin")
  })

  it("gives a disallowed origin or method no CORS headers", () => {
    for (const h of [preflightHeaders(EVIL), preflightHeaders(APP, "PUT"), preflightHeaders(null)]) {
      const { headers, status } = Cors.preflight(policy, h)
      expect(status).toBe(204)
      expect([...headers.keys()].filter((k) => k.startsWith("access-control-"))).toEqual([])
    }
  })

  it("matches origins case-insensitively, and by predicate", () => {
    expect(Cors.preflight(policy, preflightHeaders("HTTPS://APP.example.com")).headers.get("access-control-allow-origin")).not.toBeNull()
    const withSlash = Cors.make({ allowedOrigins: [`${APP}/`] })
    expect(Cors.preflight(withSlash, preflightHeaders(APP)).headers.get("access-control-allow-origin")).toBe(APP)
    const byPredicate = Cors.make({ allowedOrigins: (o) => o.endsWith(".example.com") })
    expect(Cors.preflight(byPredicate, preflightHeaders(APP)).headers.get("access-control-allow-origin")).toBe(APP)
    expect(Cors.preflight(byPredicate, preflightHeaders("https://example.org")).headers.get("access-control-allow-origin")).toBeNull()
  })

  it("answers * for any origin; with credentials echoes an allowed origin and refuses \"*\"", () => {
    const any = Cors.make({ allowedOrigins: "*" })
    expect(Cors.preflight(any, preflightHeaders(EVIL)).headers.get("access-control-allow-origin")).toBe("*")
    const withCredentials = Cors.make({ allowedOrigins: [APP], allowCredentials: true })
    const { headers } = Cors.preflight(withCredentials, preflightHeaders(APP))
    expect(headers.get("access-control-allow-origin")).toBe(APP)
    expect(headers.get("access-control-allow-credentials")).toBe("true")
    const evil = Cors.preflight(withCredentials, preflightHeaders(EVIL)).headers
    expect(evil.get("access-control-allow-origin")).toBeNull()
    expect(evil.get("access-control-allow-credentials")).toBeNull()
    // any website with the users' cookies: refused when the policy is made
    expect(() => Cors.make({ allowedOrigins: "*", allowCredentials: true })).toThrow(/allowCredentials/)
  })

  it("reflects the requested headers with allowedHeaders: *", () => {
    const reflect = Cors.make({ allowedOrigins: [APP], allowedHeaders: "*" })
    const { headers } = Cors.preflight(reflect, preflightHeaders(APP, "GET", "x-anything, content-type"))
    expect(headers.get("access-control-allow-headers")).toBe("x-anything, content-type")
  })

  it("adds Allow-Origin and Expose-Headers to actual responses of allowed origins only", () => {
    const allowed = new Headers({ "content-type": "application/json" })
    Cors.responseHeaders(policy, APP, allowed)
    expect(allowed.get("access-control-allow-origin")).toBe(APP)
    const exposed = list(allowed.get("access-control-expose-headers"))
    for (const h of ["grpc-status", "grpc-message", "grpc-status-details-bin", "connect-content-encoding", "x-error-meta"]) {
      expect(exposed).toContain(h)
    }
    expect(allowed.get("vary")).toBe("Origin")
    const denied = new Headers({ vary: "accept-encoding" })
    Cors.responseHeaders(policy, EVIL, denied)
    expect(denied.get("access-control-allow-origin")).toBeNull()
    expect(denied.get("access-control-expose-headers")).toBeNull()
    expect(denied.get("vary")).toBe("accept-encoding, Origin")
  })
})

describe("Cors through the router (fetch handler)", () => {
  const handlers: ElizaServiceHandlers = {
    say: (request) =>
      request.sentence === "fail"
        ? Effect.fail(ConnectError.make("permission_denied", "no", { metadata: { "x-error-meta": "m" } }))
        : Effect.succeed({ sentence: request.sentence }),
    introduce: (request) => Stream.make({ sentence: request.name }),
    converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence })),
    reflect: () => Effect.succeed({ summary: "" })
  }
  const router = Router.service(Router.empty, ElizaService, handlers)
  const handler = Effect.runSync(FetchHandler.fromRouter(router, { cors: { allowedOrigins: [APP], exposedHeaders: ["x-error-meta"] } }))
  const plain = Effect.runSync(FetchHandler.fromRouter(router))
  const url = "http://api.test/connectrpc.eliza.v1.ElizaService/Say"

  it.effect("answers the preflight with 204 without reaching the routes", () =>
    Effect.promise(async () => {
      const response = await handler(new Request(url, { method: "OPTIONS", headers: preflightHeaders(APP, "POST", "content-type") }))
      expect(response.status).toBe(204)
      expect(response.headers.get("access-control-allow-origin")).toBe(APP)
      expect(await response.text()).toBe("")
      // not a preflight (no Access-Control-Request-Method): the router's 405
      const options = await handler(new Request(url, { method: "OPTIONS", headers: { origin: APP } }))
      expect(options.status).toBe(405)
      // without the option, preflights are not answered
      const none = await plain(new Request(url, { method: "OPTIONS", headers: preflightHeaders(APP) }))
      expect(none.status).toBe(405)
      expect(none.headers.get("access-control-allow-origin")).toBeNull()
    }))

  it.effect("decorates unary responses and errors for allowed origins", () =>
    Effect.promise(async () => {
      const call = (origin: string | null, sentence: string) =>
        handler(new Request(url, {
          method: "POST",
          headers: { "content-type": "application/json", ...(origin === null ? {} : { origin }) },
          body: JSON.stringify({ sentence })
        }))
      const ok = await call(APP, "hi")
      expect(ok.status).toBe(200)
      expect(await ok.json()).toEqual({ sentence: "hi" })
      expect(ok.headers.get("access-control-allow-origin")).toBe(APP)
      const failed = await call(APP, "fail")
      expect(failed.status).toBe(403)
      expect(failed.headers.get("x-error-meta")).toBe("m")
      expect(list(failed.headers.get("access-control-expose-headers"))).toContain("x-error-meta")
      const evil = await call(EVIL, "hi")
      expect(evil.status).toBe(200)
      expect(evil.headers.get("access-control-allow-origin")).toBeNull()
      const noOrigin = await call(null, "hi")
      expect(noOrigin.headers.get("access-control-allow-origin")).toBeNull()
    }))

  it.effect("decorates streaming responses", () =>
    Effect.promise(async () => {
      const json = new TextEncoder().encode(`{"name":"Ada"}`)
      const body = new Uint8Array([0, 0, 0, 0, json.byteLength, ...json])
      const response = await handler(new Request("http://api.test/connectrpc.eliza.v1.ElizaService/Introduce", {
        method: "POST",
        headers: { "content-type": "application/connect+json", origin: APP },
        body
      }))
      expect(response.status).toBe(200)
      expect(response.headers.get("access-control-allow-origin")).toBe(APP)
      expect(new TextDecoder().decode(await response.arrayBuffer())).toContain(`"Ada"`)
    }))
  it.effect("keeps the adapter's lack of trailers: gRPC through CORS on a fetch handler is 415, as without CORS", () =>
    Effect.promise(async () => {
      const grpc = (h: typeof handler) =>
        h(new Request(url, {
          method: "POST",
          headers: { "content-type": "application/grpc", origin: APP },
          body: new Uint8Array([0, 0, 0, 0, 0])
        }))
      const withCors = await grpc(handler)
      const without = await grpc(plain)
      expect(without.status).toBe(415)
      expect(withCors.status).toBe(415)
      expect(withCors.headers.get("accept-post")).toBe(without.headers.get("accept-post"))
      expect(withCors.headers.get("access-control-allow-origin")).toBe(APP)
    }))
})
