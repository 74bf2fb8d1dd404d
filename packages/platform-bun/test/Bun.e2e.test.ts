/**
 * End-to-end on Bun, across processes: the test service on `Bun.serve` (fixtures/server.ts, run
 * with the repo's Bun) called from Node by the generated Eliza client over Connect and gRPC-Web
 * (HTTP/1.1, plain and mutual TLS) × proto and JSON × every compression × POST and GET; the same
 * server with `http2: true` over h2c and h2 (TLS, ALPN) with full-duplex bidi; and the Bun client
 * transports (fixtures/client.ts) calling a Node server.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as http2 from "node:http2"
import * as https from "node:https"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { StringValueSchema } from "@bufbuild/protobuf/wkt"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { generate } from "../../platform-node/test/certs.ts"
import { router } from "./fixtures/service.ts"

const root = path.resolve(import.meta.dirname, "../../..")
const bunBin = path.join(root, "node_modules/.bin/bun")
const fixture = (name: string) => path.join(import.meta.dirname, "fixtures", name)

const certs = generate()
const certDir = fs.mkdtempSync(path.join(os.tmpdir(), "connect-effect-bun-e2e-"))
const certFile = (name: keyof typeof certs) => {
  const p = path.join(certDir, `${name}.pem`)
  fs.writeFileSync(p, certs[name])
  return p
}
const serverTlsArgs = ["--cert", certFile("serverCert"), "--key", certFile("serverKey"), "--ca", certFile("ca")]
const clientTls = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }

// Bun child processes -------------------------------------------------------------------------

const children = new Set<BunProcess>()

/** Spawns `bun <script> ...args`; its stdin stays open (the fixtures stop when it closes). */
const spawnBun = (script: string, args: ReadonlyArray<string>) => {
  const child = spawn(bunBin, ["--conditions=@connect-effect/source", fixture(script), ...args], { cwd: root, stdio: ["pipe", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const p: BunProcess = { child, exited, output: () => ({ stdout, stderr }) }
  children.add(p)
  void exited.then(() => children.delete(p))
  return p
}

interface BunProcess {
  readonly child: ChildProcessWithoutNullStreams
  readonly exited: Promise<number | null>
  readonly output: () => { readonly stdout: string; readonly stderr: string }
}

const within = <A>(promise: Promise<A>, ms: number, what: () => string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

/** Starts fixtures/server.ts and waits for its `PORT <n>` line. */
const startServer = async (args: ReadonlyArray<string>): Promise<BunProcess & { readonly port: number }> => {
  const p = spawnBun("server.ts", args)
  const port = await within(
    new Promise<number>((resolve, reject) => {
      const onData = () => {
        const m = /^PORT (\d+)$/m.exec(p.output().stdout)
        if (m !== null) {
          p.child.stdout.off("data", onData)
          resolve(Number(m[1]))
        }
      }
      p.child.stdout.on("data", onData)
      void p.exited.then((code) => reject(new Error(`server exited with ${code}: ${p.output().stderr}`)))
    }),
    15_000,
    () => `waiting for PORT from the Bun server: ${JSON.stringify(p.output())}`
  )
  return { ...p, port }
}

/** SIGTERM, then SIGKILL if it is still running after `graceMs`; resolves with the exit code. */
const stop = async (p: BunProcess, graceMs = 3000): Promise<number | null> => {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode
  p.child.kill("SIGTERM")
  try {
    return await within(p.exited, graceMs, () => "SIGTERM")
  } catch {
    p.child.kill("SIGKILL")
    return await p.exited
  }
}

afterAll(async () => {
  await Promise.all([...children].map((p) => stop(p)))
  fs.rmSync(certDir, { recursive: true, force: true })
})

// Node clients --------------------------------------------------------------------------------

type Protocol = "connect" | "grpc-web"

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

const fail = async <A>(p: Promise<A>): Promise<ConnectError.ConnectError> => {
  try {
    await p
  } catch (e) {
    const found = findConnectError(e)
    if (found) return found
    throw e
  }
  throw new Error("expected a failure")
}

const say = (sentence: string, options?: Parameters<ElizaClient["Service"]["say"]>[1]) =>
  Effect.flatMap(Effect.service(ElizaClient), (c) => c.say({ sentence }, options))

// The Bun server, called from Node ------------------------------------------------------------

describe("a Bun server called from Node", () => {
  let plain: Awaited<ReturnType<typeof startServer>>
  let secure: Awaited<ReturnType<typeof startServer>>

  beforeAll(async () => {
    ;[plain, secure] = await Promise.all([
      startServer(["--read-max-bytes", "10000"]),
      startServer(["--read-max-bytes", "10000", ...serverTlsArgs])
    ])
  })

  const run = <A, E>(
    effect: Effect.Effect<A, E, ElizaClient>,
    options: Omit<NodeTransport.Options, "baseUrl" | "httpVersion"> & { readonly protocol?: Protocol; readonly secure?: boolean } = {}
  ): Promise<A> => {
    const { protocol = "connect", secure: tls = false, ...rest } = options
    const transport: NodeTransport.Options = tls
      ? { baseUrl: `https://127.0.0.1:${secure.port}`, tls: clientTls, httpVersion: "1.1", ...rest }
      : { baseUrl: `http://127.0.0.1:${plain.port}`, httpVersion: "1.1", ...rest }
    return Effect.runPromise(effect.pipe(
      Effect.provide(ElizaClient.layer.pipe(Layer.provide(
        protocol === "grpc-web" ? NodeTransport.layerGrpcWeb(transport) : NodeTransport.layerConnect(transport)
      )))
    ))
  }

  const matrix = (["connect", "grpc-web"] as const).flatMap((protocol) =>
    (["proto", "json"] as const).flatMap((codec) =>
      ([undefined, "gzip", "br", "zstd"] as const).flatMap((sendCompression) =>
        [false, true].map((secure) => ({ protocol, codec, sendCompression, secure }))
      )
    )
  )

  describe.each(matrix)("$protocol HTTP/1.1 $codec $sendCompression tls=$secure", (options) => {
    const opts = { ...options, compressMinBytes: 0, ...(options.sendCompression === undefined ? {} : { sendCompression: options.sendCompression }) }
    it("unary", async () => {
      expect((await run(say("hi"), opts)).sentence).toBe("anonymous: hi")
    })
    it("the request is compressed on the wire", async () => {
      const res = await run(say(`encoding ${"x".repeat(2000)}`), opts)
      expect(res.sentence).toBe(options.sendCompression ?? "identity")
    })
    it("unary with a large compressible response", async () => {
      expect((await run(say("big"), opts)).sentence.length).toBe(64 * 1024)
    })
    if (options.protocol === "connect") {
      it("unary over GET", async () => {
        let trailer: string | null = null
        const res = await run(
          say("headers", { headers: { "x-request": "r" }, onTrailers: (t) => (trailer = t.get("x-trailer")) }),
          { ...opts, useHttpGet: true }
        )
        expect(res.sentence).toBe("GET")
        expect(trailer).toBe("r")
      })
    }
    it("headers and trailers", async () => {
      let multi: string | null = null
      let trailer: string | null = null
      const res = await run(
        say("headers", {
          headers: { "x-request": "r" },
          onHeaders: (h) => (multi = h.get("x-multi")),
          onTrailers: (t) => (trailer = t.get("x-trailer"))
        }),
        opts
      )
      expect(res.sentence).toBe("POST")
      expect(multi).toBe("a, b")
      expect(trailer).toBe("r")
    })
    it("unary error with details and metadata", async () => {
      const error = await fail(run(say("error:not_found"), opts))
      expect(error.code).toBe("not_found")
      expect(error.message).toBe("failed with not_found")
      expect(ConnectError.findDetails(error, StringValueSchema).map((d) => d.value)).toEqual(["detail"])
      expect(error.metadata?.get("x-error-meta")).toBe("m")
      expect(error.metadata?.get("x-on-error")).toBe("h")
      expect(error.metadata?.get("x-trailer-on-error")).toBe("t")
    })
    it("server stream", async () => {
      const all = await run(Effect.flatMap(Effect.service(ElizaClient), (c) => Stream.runCollect(c.introduce({ name: "n:100" }))), opts)
      expect(all.map((r) => r.sentence)).toEqual(Array.from({ length: 100 }, (_, i) => `#${i + 1}`))
    })
    it("server stream error after messages, with trailers", async () => {
      const got: Array<string> = []
      let trailer: string | null = null
      const error = await fail(run(
        Effect.flatMap(Effect.service(ElizaClient), (c) =>
          c.introduce({ name: "fail-after:3" }, { onTrailers: (t) => (trailer = t.get("x-stream-trailer")) }).pipe(
            Stream.runForEach((r) => Effect.sync(() => got.push(r.sentence)))
          )),
        opts
      ))
      expect(got).toEqual(["#1", "#2", "#3"])
      expect(error.code).toBe("resource_exhausted")
      expect(error.message).toBe("no more")
      expect(trailer).toBe("st")
    })
    it("client stream", async () => {
      const res = await run(
        Effect.flatMap(Effect.service(ElizaClient), (c) => c.reflect(Stream.fromIterable(["a", "b", "c"].map((sentence) => ({ sentence }))))),
        opts
      )
      expect(res.summary).toBe("a|b|c")
    })
    it("bidi stream (half-duplex over HTTP/1.1)", async () => {
      const all = await run(
        Effect.flatMap(Effect.service(ElizaClient), (c) =>
          Stream.runCollect(c.converse(Stream.fromIterable(["x", "y"].map((sentence) => ({ sentence })))))),
        opts
      )
      expect(all.map((r) => r.sentence)).toEqual(["echo x", "echo y"])
    })
  })

  describe.each(["connect", "grpc-web"] as const)("behaviour over %s", (protocol) => {
    it("the interceptor provides the user and rejects bad tokens", async () => {
      expect((await run(say("hi", { headers: { authorization: "Bearer ada" } }), { protocol })).sentence).toBe("ada: hi")
      const error = await fail(run(say("hi", { headers: { authorization: "Bearer eve" } }), { protocol }))
      expect(error.code).toBe("unauthenticated")
    })

    const finalized = () => run(say("finalized"), { protocol }).then((r) => Number(r.sentence))
    /** Polls (every 20 ms, `tries` times) until a handler was interrupted since `before`. */
    const finalizedAbove = async (before: number, tries: number) => {
      let after = await finalized()
      for (let i = 0; i < tries && after === before; i++) {
        await new Promise((r) => setTimeout(r, 20))
        after = await finalized()
      }
      expect(after).toBeGreaterThan(before)
    }

    it("a deadline interrupts the handler and fails with deadline_exceeded", async () => {
      const before = await finalized()
      const error = await fail(run(say("sleep:5000", { timeoutMs: 100 }), { protocol }))
      expect(error.code).toBe("deadline_exceeded")
      await finalizedAbove(before, 50)
    })

    it("a client that goes away mid-call interrupts the unary handler (request.signal, watched after 10-20 ms)", async () => {
      const before = await finalized()
      // no deadline on the wire: only the aborted request can stop the 5 s sleep
      const timedOut = await run(Effect.timeoutOption(say("sleep:5000"), 300), { protocol })
      expect(timedOut._tag).toBe("None")
      await finalizedAbove(before, 50)
    })

    it("the handler sees the remaining time of the deadline", async () => {
      const left = Number((await run(say("deadline", { timeoutMs: 5000 }), { protocol })).sentence)
      expect(left).toBeGreaterThan(4000)
      expect(left).toBeLessThanOrEqual(5000)
    })

    it("interrupting a server stream on the client cancels the handler", async () => {
      const before = await finalized()
      const first = await run(
        Effect.flatMap(Effect.service(ElizaClient), (c) => Stream.runHead(c.introduce({ name: "forever" }))),
        { protocol }
      )
      expect(first._tag).toBe("Some")
      await finalizedAbove(before, 100)
    })

    it("a defect in a handler becomes internal, and the server keeps serving", async () => {
      expect((await fail(run(say("die"), { protocol }))).code).toBe("internal")
      expect((await run(say("still up"), { protocol })).sentence).toBe("anonymous: still up")
    })

    it("a request larger than the server's readMaxBytes fails with resource_exhausted", async () => {
      const error = await fail(run(say("y".repeat(20_000)), { protocol }))
      expect(error.code).toBe("resource_exhausted")
    })

    it("a small compressed request that inflates past readMaxBytes fails with resource_exhausted", async () => {
      const error = await fail(run(say("y".repeat(200_000)), { protocol, sendCompression: "gzip", compressMinBytes: 0 }))
      expect(error.code).toBe("resource_exhausted")
      expect((await run(say("still up"), { protocol })).sentence).toBe("anonymous: still up")
    })

    it("a response larger than the client's readMaxBytes fails with resource_exhausted", async () => {
      expect((await fail(run(say("big"), { protocol, readMaxBytes: 1000 }))).code).toBe("resource_exhausted")
    })

    it("mutual TLS: a client without a certificate is refused", async () => {
      const error = await fail(Effect.runPromise(say("hi").pipe(
        Effect.provide(ElizaClient.layer.pipe(Layer.provide(
          (protocol === "grpc-web" ? NodeTransport.layerGrpcWeb : NodeTransport.layerConnect)({
            baseUrl: `https://127.0.0.1:${secure.port}`,
            tls: { ca: certs.ca }
          })
        )))
      )))
      expect(error.code).toBe("unavailable")
    })
  })

  it("a gRPC (not gRPC-Web) request is answered 415", async () => {
    const { status, accept } = await new Promise<{ status: number | undefined; accept: string | undefined }>((resolve, reject) => {
      const req = http.request({
        host: "127.0.0.1",
        port: plain.port,
        method: "POST",
        path: "/connectrpc.eliza.v1.ElizaService/Say",
        headers: { "content-type": "application/grpc+proto", te: "trailers" }
      }, (res) => {
        res.resume()
        res.on("end", () => resolve({ status: res.statusCode, accept: res.headers["accept-post"] as string | undefined }))
      })
      req.on("error", reject)
      req.setTimeout(5000, () => req.destroy(new Error("timeout")))
      req.end(Buffer.from([0, 0, 0, 0, 0]))
    })
    expect(status).toBe(415)
    expect(accept).toContain("application/grpc-web")
  })

  it.each([false, true])("the handler sees the peer: 127.0.0.1 and the client socket's port (tls=%s)", async (tls) => {
    const { sentence, localPort } = await new Promise<{ sentence: string; localPort: number | undefined }>((resolve, reject) => {
      const body = JSON.stringify({ sentence: "peer" })
      const options = {
        host: "127.0.0.1",
        port: tls ? secure.port : plain.port,
        method: "POST",
        path: "/connectrpc.eliza.v1.ElizaService/Say",
        headers: { "content-type": "application/json", "content-length": body.length },
        agent: false as const
      }
      const req = tls ? https.request({ ...options, ...clientTls }) : http.request(options)
      let localPort: number | undefined
      req.on("socket", (socket) => socket.once(tls ? "secureConnect" : "connect", () => (localPort = socket.localPort)))
      req.on("response", (res) => {
        let text = ""
        res.setEncoding("utf8").on("data", (d: string) => (text += d)).on("end", () => {
          if (res.statusCode !== 200) return reject(new Error(`${res.statusCode} ${text}`))
          resolve({ sentence: (JSON.parse(text) as { sentence: string }).sentence, localPort })
        })
      })
      req.on("error", reject)
      req.setTimeout(5000, () => req.destroy(new Error("timeout")))
      req.end(body)
    })
    expect(localPort).toBeGreaterThan(0)
    expect(sentence).toBe(`127.0.0.1 ${localPort}`)
  })

  it("the peer through the generated client: 127.0.0.1 and a valid port", async () => {
    const [address, port] = (await run(say("peer"))).sentence.split(" ")
    expect(address).toBe("127.0.0.1")
    expect(Number(port)).toBeGreaterThan(0)
    expect(Number(port)).toBeLessThan(65536)
  })

  it("SIGTERM lets an in-flight call finish, then the server exits 0", async () => {
    const p = await startServer([])
    const inFlight = Effect.runPromise(say("sleep:300").pipe(
      Effect.provide(ElizaClient.layer.pipe(Layer.provide(NodeTransport.layerConnect({ baseUrl: `http://127.0.0.1:${p.port}` }))))
    ))
    await new Promise((r) => setTimeout(r, 100))
    const code = stop(p)
    expect((await inFlight).sentence).toBe("woke up")
    expect(await code).toBe(0)
  })
})

// The Bun server with `http2: true`, called from Node over HTTP/2 -------------------------------

describe("a Bun server with http2: true called from Node", () => {
  let h2c: Awaited<ReturnType<typeof startServer>>
  let h2: Awaited<ReturnType<typeof startServer>>

  beforeAll(async () => {
    ;[h2c, h2] = await Promise.all([
      startServer(["--http2"]),
      startServer(["--http2", ...serverTlsArgs])
    ])
  })

  const run = <A, E>(
    effect: Effect.Effect<A, E, ElizaClient>,
    options: { readonly protocol: Protocol; readonly secure: boolean; readonly httpVersion?: "1.1" | "2" }
  ): Promise<A> => {
    const httpVersion = options.httpVersion ?? "2"
    const transport: NodeTransport.Options = options.secure
      ? { baseUrl: `https://127.0.0.1:${h2.port}`, tls: clientTls, httpVersion }
      : { baseUrl: `http://127.0.0.1:${h2c.port}`, httpVersion }
    return Effect.runPromise(effect.pipe(
      Effect.provide(ElizaClient.layer.pipe(Layer.provide(
        options.protocol === "grpc-web" ? NodeTransport.layerGrpcWeb(transport) : NodeTransport.layerConnect(transport)
      )))
    ))
  }

  /** One raw HTTP/2 request (h2c, or h2 with the client certificate), its status and ALPN protocol. */
  const rawH2 = (secure: boolean, headers: http2.OutgoingHttpHeaders, body: Uint8Array) =>
    new Promise<{ status: number | undefined; accept: string | undefined; alpn: string | false | undefined; text: string }>((resolve, reject) => {
      const session = secure
        ? http2.connect(`https://127.0.0.1:${h2.port}`, clientTls)
        : http2.connect(`http://127.0.0.1:${h2c.port}`)
      session.on("error", reject)
      const req = session.request({ ":method": "POST", ...headers })
      let status: number | undefined
      let accept: string | undefined
      let text = ""
      req.on("response", (h) => {
        status = h[":status"]
        accept = h["accept-post"] as string | undefined
      })
      req.setEncoding("utf8").on("data", (d: string) => (text += d))
      req.on("end", () => {
        const alpn = session.alpnProtocol
        session.close()
        resolve({ status, accept, alpn, text })
      })
      req.on("error", reject)
      req.end(body)
    })

  const cases = (["connect", "grpc-web"] as const).flatMap((protocol) => [false, true].map((secure) => ({ protocol, secure })))

  describe.each(cases)("$protocol over HTTP/2, tls=$secure", (options) => {
    it("unary", async () => {
      expect((await run(say("hi"), options)).sentence).toBe("anonymous: hi")
    })
    it("server stream", async () => {
      const all = await run(Effect.flatMap(Effect.service(ElizaClient), (c) => Stream.runCollect(c.introduce({ name: "n:50" }))), options)
      expect(all.map((r) => r.sentence)).toEqual(Array.from({ length: 50 }, (_, i) => `#${i + 1}`))
    })
    it("client stream", async () => {
      const res = await run(
        Effect.flatMap(Effect.service(ElizaClient), (c) => c.reflect(Stream.fromIterable(["a", "b", "c"].map((sentence) => ({ sentence }))))),
        options
      )
      expect(res.summary).toBe("a|b|c")
    })
    it("full-duplex bidi: each response arrives before the next request is sent", async () => {
      const result = await run(
        Effect.gen(function*() {
          const c = yield* ElizaClient
          const q = yield* Queue.unbounded<{ sentence: string }, Cause.Done>()
          yield* Queue.offer(q, { sentence: "1" })
          const seen: Array<string> = []
          yield* c.converse(Stream.fromQueue(q)).pipe(
            Stream.runForEach((r) =>
              Effect.gen(function*() {
                seen.push(r.sentence)
                if (seen.length < 3) yield* Queue.offer(q, { sentence: String(seen.length + 1) })
                else yield* Queue.end(q)
              })
            )
          )
          return seen
        }),
        options
      )
      expect(result).toEqual(["echo 1", "echo 2", "echo 3"])
    })
    it("an error with details", async () => {
      const error = await fail(run(say("error:not_found"), options))
      expect(error.code).toBe("not_found")
      expect(ConnectError.findDetails(error, StringValueSchema).map((d) => d.value)).toEqual(["detail"])
    })
    it("HTTP/1.1 still works on the same port", async () => {
      expect((await run(say("hi"), { ...options, httpVersion: "1.1" })).sentence).toBe("anonymous: hi")
    })
  })

  it.each([false, true])("a raw HTTP/2 Connect call succeeds (h2 by ALPN when tls=%s), the peer is known", async (secure) => {
    const res = await rawH2(secure, {
      ":path": "/connectrpc.eliza.v1.ElizaService/Say",
      "content-type": "application/json"
    }, new TextEncoder().encode(JSON.stringify({ sentence: "peer" })))
    expect(res.status).toBe(200)
    expect(res.alpn).toBe(secure ? "h2" : "h2c")
    const [address, port] = (JSON.parse(res.text) as { sentence: string }).sentence.split(" ")
    expect(address).toBe("127.0.0.1")
    expect(Number(port)).toBeGreaterThan(0)
  })

  it.each([false, true])("a gRPC request over HTTP/2 is answered 415 (tls=%s)", async (secure) => {
    const res = await rawH2(secure, {
      ":path": "/connectrpc.eliza.v1.ElizaService/Say",
      "content-type": "application/grpc+proto",
      te: "trailers"
    }, new Uint8Array(5))
    expect(res.status).toBe(415)
    expect(res.accept).toContain("application/grpc-web")
  })

  it("mutual TLS over h2: a client without a certificate is refused", async () => {
    const error = await fail(Effect.runPromise(say("hi").pipe(
      Effect.provide(ElizaClient.layer.pipe(Layer.provide(
        NodeTransport.layerConnect({ baseUrl: `https://127.0.0.1:${h2.port}`, tls: { ca: certs.ca }, httpVersion: "2" })
      )))
    )))
    expect(error.code).toBe("unavailable")
  })

  it("SIGTERM lets an in-flight HTTP/2 call finish, then the server exits 0", async () => {
    const p = await startServer(["--http2"])
    const inFlight = Effect.runPromise(say("sleep:300").pipe(
      Effect.provide(ElizaClient.layer.pipe(Layer.provide(NodeTransport.layerConnect({ baseUrl: `http://127.0.0.1:${p.port}`, httpVersion: "2" }))))
    ))
    await new Promise((r) => setTimeout(r, 100))
    const code = stop(p)
    expect((await inFlight).sentence).toBe("woke up")
    expect(await code).toBe(0)
  })
})

// The Bun client, calling a Node server -------------------------------------------------------

describe("the Bun client calling a Node server", () => {
  let scope: Scope.Closeable
  let url = ""
  let tlsUrl = ""

  beforeAll(async () => {
    scope = Effect.runSync(Scope.make())
    const ctx = await Effect.runPromise(Layer.buildWithScope(NodeServer.layerRouter(router, { port: 0 }), scope))
    url = Context.get(ctx, NodeServer.NodeServer).url
    const tlsCtx = await Effect.runPromise(Layer.buildWithScope(
      NodeServer.layerRouter(router, {
        port: 0,
        tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, requestCert: true }
      }),
      scope
    ))
    tlsUrl = Context.get(tlsCtx, NodeServer.NodeServer).url
  })
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

  it("Connect and gRPC-Web × proto and JSON × every compression, plain and mutual TLS", async () => {
    const p = spawnBun("client.ts", [
      "--url", url,
      "--tls-url", tlsUrl,
      "--ca", certFile("ca"),
      "--cert", certFile("clientCert"),
      "--key", certFile("clientKey")
    ])
    const code = await within(p.exited, 40_000, () => JSON.stringify(p.output())).catch((e) => {
      p.child.kill("SIGKILL")
      throw e
    })
    expect(code, p.output().stderr).toBe(0)
    const summary = JSON.parse(p.output().stdout.trim().split("\n").at(-1)!) as Record<string, unknown>

    const keys: Array<string> = []
    for (const secure of [false, true]) {
      for (const protocol of ["connect", "grpc-web"]) {
        for (const codec of ["proto", "json"]) {
          for (const compression of ["identity", "gzip", "br", "zstd"]) {
            const key = `${protocol} ${codec} ${compression} tls=${secure}`
            keys.push(key)
            expect(summary[key], key).toEqual({
              unary: "anonymous: hi",
              auth: "ada: hi",
              encoding: compression,
              big: 64 * 1024,
              headers: { method: "POST", multi: "a, b", trailer: "r" },
              error: { code: "not_found", message: "failed with not_found", details: ["detail"], meta: ["m", "h", "t"] },
              serverStream: Array.from({ length: 20 }, (_, i) => `#${i + 1}`),
              failAfter: { got: ["#1", "#2", "#3"], code: "resource_exhausted", trailer: "st" },
              clientStream: "a|b|c",
              bidi: ["echo x", "echo y", "echo z"],
              ...(protocol === "connect" ? { get: { method: "GET", trailer: "r" } } : {})
            })
          }
        }
      }
    }
    for (const protocol of ["connect", "grpc-web"]) {
      const key = `behaviour ${protocol}`
      keys.push(key)
      expect(summary[key], key).toEqual({
        deadline: "deadline_exceeded",
        head: "first",
        streamHandlerInterrupted: true,
        readMaxBytes: "resource_exhausted",
        writeMaxBytes: "resource_exhausted",
        unreachable: "unavailable"
      })
    }
    expect(Object.keys(summary).sort()).toEqual(keys.sort())
  }, 50_000)
})
