import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Router from "@connect-effect/core/Router"
import type * as ConnectError from "@connect-effect/core/ConnectError"
import type { ClientRequest } from "@connect-effect/core/Http"
import { HttpClient } from "@connect-effect/core/Http"
import * as NodeHttpClient from "../src/NodeHttpClient.ts"
import * as NodeServer from "../src/NodeServer.ts"
import * as NodeTransport from "../src/NodeTransport.ts"
import * as Certs from "./certs.ts"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService as ElizaDescriptor } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()

/** Echo: `/unary` reads the whole body, anything else streams it back with a trailer. */
const echo: NodeServer.Handler<never> = (req, w) =>
  Effect.gen(function*() {
    if (req.url.startsWith("/unary")) {
      const body = yield* Effect.orDie(req.readAll(1 << 20))
      w.head(200, new Headers({ "x-http": req.httpVersion }), body)
      return
    }
    w.head(200, new Headers({ "x-http": req.httpVersion }))
    const result = yield* Effect.result(Stream.runForEach(req.body, (chunk) => w.write(chunk)))
    w.end(new Headers({ "x-trailer": result._tag === "Success" ? "done" : result.failure.code }))
  })

const collect = (stream: Stream.Stream<Uint8Array, ConnectError.ConnectError>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => dec.decode(Buffer.concat(Array.from(chunks))))

const post = (url: string, body: ClientRequest["body"]) =>
  Effect.scoped(Effect.gen(function*() {
    const transport = yield* HttpClient
    const res = yield* transport.request({ method: "POST", url, headers: new Headers(), body })
    const text = yield* collect(res.body)
    const trailers = yield* res.trailers
    return { status: res.status, headers: res.headers, text, trailers }
  })).pipe(Effect.timeout("5 seconds"))

const certs = Certs.generate()

const clients = (tls: NodeHttpClient.TlsOptions) =>
  [
    ["http/1.1", "1.1", NodeHttpClient.layerHttp1({ tls })],
    ["http/2", "2", NodeHttpClient.layerHttp2({ tls })]
  ] as ReadonlyArray<readonly [string, "1.1" | "2", Layer.Layer<HttpClient>]>

describe("TLS", () => {
  const serverTls = () => ({ cert: certs.serverCert, key: certs.serverKey })

  for (const [name, version, client] of clients({ get ca() { return certs.ca } })) {
    describe(name, () => {
      it.live("unary and streaming echo over TLS, protocol chosen by ALPN", () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make(echo, { tls: serverTls() })
          expect(server.url).toBe(`https://127.0.0.1:${server.port}`)
          const unary = yield* post(`${server.url}/unary`, enc.encode("hello tls"))
          expect(unary.status).toBe(200)
          expect(unary.text).toBe("hello tls")
          expect(unary.headers.get("x-http")).toBe(version)
          const parts = Array.from({ length: 20 }, (_, i) => enc.encode(`part-${i};`))
          const streamed = yield* post(`${server.url}/stream`, Stream.fromIterable(parts))
          expect(streamed.text).toBe(parts.map((p) => dec.decode(p)).join(""))
          expect(streamed.headers.get("x-http")).toBe(version)
          expect(streamed.trailers.get("x-trailer")).toBe("done")
          // connections are reused
          yield* post(`${server.url}/unary`, enc.encode("again"))
          expect(server.connections()).toBe(1)
        }).pipe(Effect.provide(client)))

      it.live("localhost works by name (SAN DNS entry)", () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make(echo, { tls: serverTls() })
          const res = yield* post(`https://localhost:${server.port}/unary`, enc.encode("by name"))
          expect(res.text).toBe("by name")
        }).pipe(Effect.provide(client)))

      it.live(`a server restricted to HTTP/${version} serves it`, () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make(echo, { tls: serverTls(), http: version })
          const res = yield* post(`${server.url}/unary`, enc.encode("restricted"))
          expect([res.text, res.headers.get("x-http")]).toEqual(["restricted", version])
        }).pipe(Effect.provide(client)))
    })
  }

  for (const [name, , client] of clients({ get ca() { return certs.otherCa } })) {
    it.live(`${name}: a client not trusting the server's CA fails with unavailable`, () =>
      Effect.gen(function*() {
        const server = yield* NodeServer.make(echo, { tls: serverTls() })
        const error = yield* Effect.flip(post(`${server.url}/unary`, enc.encode("x")))
        expect(error._tag).toBe("ConnectError")
        expect((error as ConnectError.ConnectError).code).toBe("unavailable")
        expect(error.message).toMatch(/certificate/)
      }).pipe(Effect.provide(client)))
  }

  for (const [name, , client] of clients({})) {
    it.live(`${name}: default trust roots reject the test CA`, () =>
      Effect.gen(function*() {
        const server = yield* NodeServer.make(echo, { tls: serverTls() })
        const error = yield* Effect.flip(post(`${server.url}/unary`, enc.encode("x")))
        expect((error as ConnectError.ConnectError).code).toBe("unavailable")
      }).pipe(Effect.provide(client)))
  }

  for (const [name] of clients({})) {
    it.live(`${name}: rejectUnauthorized: false skips verification`, () =>
      Effect.gen(function*() {
        const server = yield* NodeServer.make(echo, { tls: serverTls() })
        const res = yield* post(`${server.url}/unary`, enc.encode("insecure"))
        expect(res.text).toBe("insecure")
      }).pipe(Effect.provide(clients({ rejectUnauthorized: false }).find(([n]) => n === name)![2])))
  }

  it.live("serverName verifies the certificate against another name", () =>
    Effect.gen(function*() {
      const server = yield* NodeServer.make(echo, { tls: serverTls() })
      const ok = yield* post(`${server.url}/unary`, enc.encode("sni")).pipe(
        Effect.provide(NodeHttpClient.layerHttp2({ tls: { ca: certs.ca, serverName: "localhost" } }))
      )
      expect(ok.text).toBe("sni")
      const error = yield* Effect.flip(post(`${server.url}/unary`, enc.encode("sni"))).pipe(
        Effect.provide(NodeHttpClient.layerHttp1({ tls: { ca: certs.ca, serverName: "example.com" } }))
      )
      expect((error as ConnectError.ConnectError).code).toBe("unavailable")
    }))

  describe("mutual TLS", () => {
    const mtls = () => ({ cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, requestCert: true })

    for (const [name, version, client] of clients({
      get ca() { return certs.ca },
      get cert() { return certs.clientCert },
      get key() { return certs.clientKey }
    })) {
      it.live(`${name}: a client certificate signed by the CA is accepted`, () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make(echo, { tls: mtls() })
          const res = yield* post(`${server.url}/unary`, enc.encode("mtls"))
          expect([res.status, res.text, res.headers.get("x-http")]).toEqual([200, "mtls", version])
          const streamed = yield* post(`${server.url}/stream`, Stream.make(enc.encode("a"), enc.encode("b")))
          expect(streamed.text).toBe("ab")
        }).pipe(Effect.provide(client)))
    }

    for (const [name, , client] of clients({ get ca() { return certs.ca } })) {
      it.live(`${name}: a client without a certificate is refused with unavailable`, () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make(echo, { tls: mtls() })
          const error = yield* Effect.flip(post(`${server.url}/unary`, enc.encode("x")))
          expect((error as ConnectError.ConnectError).code).toBe("unavailable")
          // a streaming call too
          const streamError = yield* Effect.flip(post(`${server.url}/stream`, Stream.make(enc.encode("x"))))
          expect((streamError as ConnectError.ConnectError).code).toBe("unavailable")
        }).pipe(Effect.provide(client)))
    }

    for (const [name, , client] of clients({
      get ca() { return certs.otherCa },
      get cert() { return certs.clientCert },
      get key() { return certs.clientKey }
    })) {
      it.live(`${name}: a client not trusting the server's CA fails with unavailable`, () =>
        Effect.gen(function*() {
          const server = yield* NodeServer.make(echo, { tls: mtls() })
          const error = yield* Effect.flip(post(`${server.url}/unary`, enc.encode("x")))
          expect((error as ConnectError.ConnectError).code).toBe("unavailable")
        }).pipe(Effect.provide(client)))
    }
  })

  describe("NodeTransport over mutual TLS", () => {
    const handlers: ElizaServiceHandlers = {
      say: (request) => Effect.succeed({ sentence: `tls: ${request.sentence}` }),
      introduce: (request) => Stream.make({ sentence: `hello ${request.name}` }, { sentence: "bye" }),
      converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence })),
      reflect: () => Effect.succeed({})
    }
    const router = Router.empty.pipe(Router.service(ElizaDescriptor, handlers))
    const cases = [
      ["connect, http/1.1", (o: NodeTransport.Options) => NodeTransport.layerConnect(o)],
      ["connect, http/2", (o: NodeTransport.Options) => NodeTransport.layerConnect({ ...o, httpVersion: "2" })],
      ["grpc", (o: NodeTransport.Options) => NodeTransport.layerGrpc(o)],
      ["grpc-web, http/1.1", (o: NodeTransport.Options) => NodeTransport.layerGrpcWeb(o)]
    ] as const

    for (const [name, transport] of cases) {
      it.live(`${name}: unary and server streaming with a client certificate; refused without`, () =>
        Effect.gen(function*() {
          const baseUrl = (yield* NodeServer.NodeServer).url
          const client = (tls: NodeHttpClient.TlsOptions) =>
            ElizaClient.layer.pipe(Layer.provide(transport({ baseUrl, tls })))
          const ok = yield* Effect.gen(function*() {
            const eliza = yield* ElizaClient
            const said = yield* eliza.say({ sentence: "hi" })
            const intro = yield* Stream.runCollect(eliza.introduce({ name: "ada" }))
            return [said.sentence, ...Array.from(intro, (r) => r.sentence)]
          }).pipe(Effect.provide(client({ ca: certs.ca, cert: certs.clientCert, key: certs.clientKey })))
          expect(ok).toEqual(["tls: hi", "hello ada", "bye"])
          const refused = yield* Effect.flip(
            Effect.flatMap(Effect.service(ElizaClient), (eliza) => eliza.say({ sentence: "hi" })).pipe(
              Effect.provide(client({ ca: certs.ca }))
            )
          )
          expect((refused as ConnectError.ConnectError).code).toBe("unavailable")
        }).pipe(Effect.provide(NodeServer.layerRouter(router, {
          tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, requestCert: true }
        }))))
    }
  })
})
