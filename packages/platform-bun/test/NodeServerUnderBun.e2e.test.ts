/**
 * NodeServer (node:http + node:http2) running under Bun (fixtures/nodeServer.ts, run with the
 * repo's Bun), called from Node: gRPC over h2c and over TLS (h2 by ALPN, mutual TLS), Connect over
 * HTTP/1.1 and HTTP/2 on the same port, gRPC-Web, trailers and full-duplex bidi over HTTP/2. The
 * conformance runs `bun-node` (conformance/config/bun-node.yaml) cover the full matrix.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { generate } from "../../platform-node/test/certs.ts"

const root = path.resolve(import.meta.dirname, "../../..")
const bunBin = path.join(root, "node_modules/.bin/bun")
const fixture = path.join(import.meta.dirname, "fixtures", "nodeServer.ts")

const certs = generate()
const certDir = fs.mkdtempSync(path.join(os.tmpdir(), "connect-effect-bun-node-"))
const certFile = (name: keyof typeof certs) => {
  const p = path.join(certDir, `${name}.pem`)
  fs.writeFileSync(p, certs[name])
  return p
}
const clientTls = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }

interface Server {
  readonly child: ChildProcessWithoutNullStreams
  readonly exited: Promise<number | null>
  readonly port: number
}
const servers: Array<Server> = []

/** Spawns `bun fixtures/nodeServer.ts ...args` and waits for its `PORT <n>` line. */
const startServer = (args: ReadonlyArray<string>): Promise<Server> => {
  const child = spawn(bunBin, ["--conditions=@connect-effect/source", fixture, ...args], { cwd: root, stdio: ["pipe", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return new Promise<Server>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no PORT from the Bun server: ${stdout} ${stderr}`)), 15_000)
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d
      const m = /^PORT (\d+)$/m.exec(stdout)
      if (m !== null) {
        clearTimeout(timer)
        const server = { child, exited, port: Number(m[1]) }
        servers.push(server)
        resolve(server)
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code}: ${stderr}`))
    })
  })
}

afterAll(async () => {
  for (const s of servers) s.child.kill("SIGTERM")
  await Promise.all(servers.map((s) => s.exited))
  fs.rmSync(certDir, { recursive: true, force: true })
})

type Kind = "grpc" | "connect-h1" | "connect-h2" | "grpc-web-h1" | "grpc-web-h2"

const transport = (kind: Kind, baseUrl: string, tls: NodeTransport.Options["tls"]) => {
  const options = { baseUrl, ...(tls !== undefined ? { tls } : {}) }
  switch (kind) {
    case "grpc":
      return NodeTransport.layerGrpc(options)
    case "connect-h1":
      return NodeTransport.layerConnect({ ...options, httpVersion: "1.1" })
    case "connect-h2":
      return NodeTransport.layerConnect({ ...options, httpVersion: "2" })
    case "grpc-web-h1":
      return NodeTransport.layerGrpcWeb({ ...options, httpVersion: "1.1" })
    case "grpc-web-h2":
      return NodeTransport.layerGrpcWeb({ ...options, httpVersion: "2" })
  }
}

const findConnectError = (e: unknown): ConnectError.ConnectError | undefined => {
  if (ConnectError.isConnectError(e)) return e
  if (typeof e === "object" && e !== null) {
    for (const key of ["cause", "error", "failure"]) {
      const inner = (e as Record<string, unknown>)[key]
      const found = inner !== undefined && inner !== e ? findConnectError(inner) : undefined
      if (found) return found
    }
  }
  return undefined
}

const h1Kinds = ["connect-h1", "grpc-web-h1"] as const
const h2Kinds = ["grpc", "connect-h2", "grpc-web-h2"] as const

const setups = [
  { name: "h2c (http: \"2\")", secure: false, args: () => ["--http", "2"], kinds: h2Kinds },
  // "auto" on cleartext sniffs the HTTP/2 preface: the HTTP/1.1 side works under Bun, h2c does not
  // (Bun's node:http2 ignores the preface unshifted back onto the socket; see conformance/README.md)
  { name: "HTTP/1.1 (http: \"auto\", cleartext)", secure: false, args: () => [], kinds: h1Kinds },
  {
    name: "mutual TLS, h2 or http/1.1 by ALPN (http: \"auto\")",
    secure: true,
    args: () => ["--cert", certFile("serverCert"), "--key", certFile("serverKey"), "--ca", certFile("ca")],
    kinds: [...h2Kinds, ...h1Kinds]
  }
]

describe.each(setups)("NodeServer under Bun: $name", ({ args, kinds, secure }) => {
  let server: Server
  beforeAll(async () => {
    server = await startServer(args())
  })

  const run = <A, E>(kind: Kind, effect: Effect.Effect<A, E, ElizaClient>): Promise<A> =>
    Effect.runPromise(effect.pipe(
      Effect.provide(ElizaClient.layer.pipe(Layer.provide(transport(
        kind,
        `${secure ? "https" : "http"}://127.0.0.1:${server.port}`,
        secure ? clientTls : undefined
      ))))
    ))
  const client = Effect.service(ElizaClient)

  describe.each(kinds)("%s", (kind) => {
    it("unary with headers and trailers", async () => {
      let trailer: string | null = null
      const res = await run(kind, Effect.flatMap(client, (c) =>
        c.say({ sentence: "headers" }, { headers: { "x-request": "r" }, onTrailers: (t) => (trailer = t.get("x-trailer")) })))
      expect(res.sentence).toBe("POST")
      expect(trailer).toBe("r")
    })

    it("server stream ending in an error with trailers", async () => {
      const got: Array<string> = []
      let trailer: string | null = null
      const error = await run(kind, Effect.flatMap(client, (c) =>
        c.introduce({ name: "fail-after:3" }, { onTrailers: (t) => (trailer = t.get("x-stream-trailer")) }).pipe(
          Stream.runForEach((r) => Effect.sync(() => got.push(r.sentence)))
        )).pipe(Effect.flip)).then(findConnectError)
      expect(got).toEqual(["#1", "#2", "#3"])
      expect(error?.code).toBe("resource_exhausted")
      expect(trailer).toBe("st")
    })

    it("client stream", async () => {
      const res = await run(kind, Effect.flatMap(client, (c) =>
        c.reflect(Stream.fromIterable(["a", "b", "c"].map((sentence) => ({ sentence }))))))
      expect(res.summary).toBe("a|b|c")
    })

    if (kind !== "connect-h1" && kind !== "grpc-web-h1") {
      it("full-duplex bidi: the first response arrives before the second request is sent", async () => {
        const all = await run(kind, Effect.gen(function*() {
          const c = yield* client
          const first = yield* Deferred.make<void>()
          const requests = Stream.concat(
            Stream.make({ sentence: "x" }),
            Stream.fromEffect(Effect.as(Deferred.await(first), { sentence: "y" }))
          )
          return yield* c.converse(requests).pipe(
            Stream.tap(() => Deferred.succeed(first, undefined)),
            Stream.runCollect
          )
        }))
        expect(all.map((r) => r.sentence)).toEqual(["echo x", "echo y"])
      })
    }
  })
})
