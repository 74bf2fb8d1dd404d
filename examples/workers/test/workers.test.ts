/**
 * The Worker bundled with esbuild and run by workerd (`workerd serve config.capnp`) on a free
 * port, called over real sockets by the Node clients and by raw HTTP/1.1 requests.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as http from "node:http"
import * as net from "node:net"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type * as ConnectError from "@connect-effect/core/ConnectError"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { NumbersClient } from "../../streaming/gen/streaming/v1/numbers_connect.ts"
import { build } from "../src/build.ts"

const dir = path.resolve(import.meta.dirname, "..")
const workerdBin = path.resolve(dir, "../../node_modules/.bin/workerd")

/** A port nothing listens on right now (workerd binds it next; if that fails, it exits and `ready` says so). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

/** Resolves once the port accepts connections; rejects if workerd exits first. */
const ready = (port: number, child: ChildProcess, output: () => string) =>
  new Promise<void>((resolve, reject) => {
    let settled = false
    const onExit = (code: number | null) => {
      if (settled) return
      settled = true
      reject(new Error(`workerd exited (${code}) before listening:\n${output()}`))
    }
    child.once("exit", onExit)
    const attempt = () => {
      if (settled) return
      const socket = net.connect(port, "127.0.0.1")
      socket.once("connect", () => {
        socket.destroy()
        if (settled) return
        settled = true
        child.off("exit", onExit)
        resolve()
      })
      socket.once("error", () => {
        socket.destroy()
        setTimeout(attempt, 50)
      })
    }
    attempt()
  })

let workerd: ChildProcess | undefined
let output = ""
let baseUrl = ""
let port = 0
/** Called whenever workerd prints something (the Worker's console.log). */
const listeners = new Set<() => void>()

beforeAll(async () => {
  await build()
  port = await freePort()
  baseUrl = `http://127.0.0.1:${port}`
  // --verbose: workerd prints the Worker's console output
  const child = spawn(workerdBin, ["serve", "config.capnp", "--verbose", "--socket-addr", `http=127.0.0.1:${port}`], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"]
  })
  workerd = child
  const collect = (chunk: Buffer) => {
    output += chunk.toString("utf8")
    for (const listener of listeners) listener()
  }
  child.stdout!.on("data", collect)
  child.stderr!.on("data", collect)
  await ready(port, child, () => output)
})

afterAll(async () => {
  const child = workerd
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5_000)
    child.once("exit", () => {
      clearTimeout(force)
      resolve()
    })
    child.kill("SIGTERM")
  })
})

/** Waits until workerd's output matches (the test's timeout bounds it). */
const printed = (pattern: RegExp) =>
  new Promise<RegExpMatchArray>((resolve) => {
    const check = () => {
      const match = output.match(pattern)
      if (match === null) return
      listeners.delete(check)
      resolve(match)
    }
    listeners.add(check)
    check()
  })

/** One envelope of the Connect streaming / gRPC-Web framing (uncompressed). */
const envelope = (flags: number, message: unknown) => {
  const body = Buffer.from(JSON.stringify(message))
  const head = Buffer.alloc(5)
  head.writeUInt8(flags, 0)
  head.writeUInt32BE(body.length, 1)
  return Buffer.concat([head, body])
}

/** Splits a body into its envelopes. */
const envelopes = (bytes: Buffer) => {
  const out: Array<{ flags: number; text: string }> = []
  let at = 0
  while (at + 5 <= bytes.length) {
    const length = bytes.readUInt32BE(at + 1)
    out.push({ flags: bytes[at]!, text: bytes.subarray(at + 5, at + 5 + length).toString("utf8") })
    at += 5 + length
  }
  return out
}

/** Eliza reflects it back, so the reply is longer than the server's 1 KiB compression threshold. */
const longNeed = "I need " + "a ".repeat(1000) + "car"

type Protocol = "connect" | "grpc-web"

const transport = (protocol: Protocol, options: Omit<NodeTransport.Options, "baseUrl">) =>
  protocol === "connect"
    ? NodeTransport.layerConnect({ baseUrl, ...options })
    : NodeTransport.layerGrpcWeb({ baseUrl, ...options })

describe("the Worker in workerd", () => {
  const cases = [
    { protocol: "connect", codec: "proto", compression: "gzip" },
    { protocol: "connect", codec: "json", compression: "br" },
    { protocol: "grpc-web", codec: "proto", compression: "zstd" },
    { protocol: "grpc-web", codec: "json", compression: undefined }
  ] as const
  for (const { protocol, codec, compression } of cases) {
    it(`serves every RPC kind over ${protocol} with ${codec}${compression ? ` and ${compression}` : ""} (HTTP/1.1)`, async () => {
      const layer = transport(protocol, {
        codec,
        ...(compression === undefined ? {} : { sendCompression: compression, compressMinBytes: 1 })
      })
      const result = await Effect.runPromise(
        Effect.gen(function*() {
          const eliza = yield* ElizaClient
          const said = yield* eliza.say({ sentence: "I feel happy." })
          // large enough that the reply is compressed too
          const long = yield* eliza.say({ sentence: longNeed })
          const intro = yield* Stream.runCollect(eliza.introduce({ name: "Ada" }))
          const reflected = yield* eliza.reflect(Stream.make({ sentence: "I am sad" }, { sentence: "bye" }))
          // half duplex: HTTP/1.1 sends the whole request stream, then reads the replies
          const conversation = yield* Stream.runCollect(
            eliza.converse(Stream.make({ sentence: "Hello" }, { sentence: "I am tired" }, { sentence: "Goodbye" }))
          )
          return { said: said.sentence, long: long.sentence, intro, summary: reflected.summary, conversation }
        }).pipe(Effect.provide(ElizaClient.layer.pipe(Layer.provide(layer))))
      )
      expect(result.said).toMatch(/\S/)
      expect(result.long.length).toBeGreaterThan(1024)
      expect(result.long).toMatch(/(a ){999}car/)
      expect(result.intro[0]?.sentence).toBe("Hi Ada, I'm Eliza.")
      expect(result.intro.length).toBeGreaterThanOrEqual(3)
      expect(result.summary).toContain("You told me 2 things")
      expect(result.conversation.length).toBe(3)
      expect(result.conversation[2]?.sentence).toBe("Goodbye. It was nice talking to you.")
    })
  }

  it("answers Connect GET for Say (NO_SIDE_EFFECTS), through the client and raw", async () => {
    const said = await Effect.runPromise(
      Effect.flatMap(ElizaClient, (eliza) => eliza.say({ sentence: "Hello" })).pipe(
        Effect.provide(ElizaClient.layer.pipe(Layer.provide(transport("connect", { codec: "json", useHttpGet: true }))))
      )
    )
    expect(said.sentence).toMatch(/\S/)
    const message = encodeURIComponent(JSON.stringify({ sentence: "Hello" }))
    const response = await fetch(`${baseUrl}/connectrpc.eliza.v1.ElizaService/Say?connect=v1&encoding=json&message=${message}`)
    expect(response.status).toBe(200)
    expect(((await response.json()) as { sentence: string }).sentence).toMatch(/\S/)
  })

  it("compresses a unary Connect reply exactly once (workerd would gzip it again without encodeBody: manual)", async () => {
    const { status, headers, body } = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>(
      (resolve, reject) => {
        const request = http.request(`${baseUrl}/connectrpc.eliza.v1.ElizaService/Say`, {
          method: "POST",
          headers: { "content-type": "application/json", "content-encoding": "gzip", "accept-encoding": "gzip" }
        }, (response) => {
          const chunks: Array<Buffer> = []
          response.on("data", (chunk: Buffer) => chunks.push(chunk))
          response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }))
          response.on("error", reject)
        })
        request.on("error", reject)
        request.end(zlib.gzipSync(JSON.stringify({ sentence: longNeed })))
      }
    )
    expect(status).toBe(200)
    expect(headers["content-encoding"]).toBe("gzip")
    const json = JSON.parse(zlib.gunzipSync(body).toString("utf8")) as { sentence: string }
    expect(json.sentence).toMatch(/(a ){999}car/)
  })

  for (const { protocol, compression } of [
    { protocol: "connect", compression: undefined },
    { protocol: "grpc-web", compression: undefined },
    // 70 KiB of "x" gzip to a few hundred bytes: workerd's zlib stops inflating at the limit
    { protocol: "connect", compression: "gzip" },
    { protocol: "grpc-web", compression: "gzip" }
  ] as const) {
    it(`carries an error code across the wire over ${protocol}${compression ? ` (message sent with ${compression})` : ""}`, async () => {
      // the Worker reads at most 64 KiB per message
      const options = compression === undefined ? {} : { sendCompression: compression, compressMinBytes: 1 }
      const error = await Effect.runPromise(
        Effect.flip(Effect.flatMap(ElizaClient, (eliza) => eliza.say({ sentence: "x".repeat(70 * 1024) }))).pipe(
          Effect.provide(ElizaClient.layer.pipe(Layer.provide(transport(protocol, options))))
        )
      )
      expect((error as ConnectError.ConnectError).code).toBe("resource_exhausted")
    })
  }

  it("answers gRPC 415 (a fetch Response has no trailers)", async () => {
    const response = await fetch(`${baseUrl}/connectrpc.eliza.v1.ElizaService/Say`, {
      method: "POST",
      headers: { "content-type": "application/grpc" },
      body: new Uint8Array(5)
    })
    expect(response.status).toBe(415)
    await response.arrayBuffer()
  })

  it("streams a server stream incrementally, and a canceled call stops the handler", async () => {
    // Count with upTo 0 never ends: the client only gets 3 numbers if workerd passes each
    // message on as it is written, and taking 3 cancels the call
    const numbers = await Effect.runPromise(
      Stream.runCollect(Stream.take(Stream.unwrap(Effect.map(NumbersClient, (n) => n.count({ upTo: 0, delayMs: 10 }))), 3)).pipe(
        Effect.provide(NumbersClient.layer.pipe(Layer.provide(transport("connect", {}))))
      )
    )
    expect(numbers.map((n) => n.number)).toEqual([1, 2, 3])
    // the Worker's finalizer ran: workerd interrupted the handler when the client went away
    const [, sent] = await printed(/server: Count stopped after (\d+) numbers/)
    expect(Number(sent)).toBeGreaterThanOrEqual(3)
  })

  it("streams request bodies: full-duplex bidi works over HTTP/1.1 (raw request)", async () => {
    // the first reply arrives while the request body is still open; only then is the rest sent
    const replies = await new Promise<Array<{ flags: number; text: string }>>((resolve, reject) => {
      const request = http.request(`${baseUrl}/streaming.v1.NumbersService/Echo`, {
        method: "POST",
        headers: { "content-type": "application/connect+json" }
      }, (response) => {
        const chunks: Array<Buffer> = []
        let answered = false
        response.on("data", (chunk: Buffer) => {
          chunks.push(chunk)
          if (!answered && envelopes(Buffer.concat(chunks)).length > 0) {
            answered = true
            request.end(envelope(0, { text: "two" }))
          }
        })
        response.on("end", () => resolve(envelopes(Buffer.concat(chunks))))
        response.on("error", reject)
      })
      request.on("error", reject)
      request.flushHeaders()
      request.write(envelope(0, { text: "one" }))
    })
    expect(replies).toEqual([
      { flags: 0, text: JSON.stringify({ text: "echo: one" }) },
      { flags: 0, text: JSON.stringify({ text: "echo: two" }) },
      { flags: 2, text: "{}" }
    ])
  })
})
