/**
 * Client-side driver: unary Ping calls from one client library against a server (the raw
 * echo), `--concurrency` in flight, and the client's own CPU per call from process.cpuUsage().
 * Prints one JSON line.
 *
 *   node bench/driver/client.ts --client ours|connect-node|grpc-js --protocol connect|grpc
 *        --http 1.1|2 --url http://127.0.0.1:8080 [--calls 20000] [--warmup 3000] [--concurrency 16]
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { createClient } from "@connectrpc/connect"
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node"
import * as grpc from "@grpc/grpc-js"
import { create } from "@bufbuild/protobuf"
import { PingClient } from "../gen/bench/v1/ping_connect.ts"
import { PingRequestSchema, PingService } from "../gen/bench/v1/ping_pb.ts"
import { PingServiceDefinition } from "../servers/grpc-js.ts"

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? def : process.argv[i + 1]!
}
const client = arg("client", "ours")
const protocol = arg("protocol", "connect") as "connect" | "grpc"
const httpVersion = arg("http", "2") as "1.1" | "2"
const url = arg("url", "http://127.0.0.1:8080")
const calls = Number(arg("calls", "20000"))
const warmup = Number(arg("warmup", "3000"))
const concurrency = Number(arg("concurrency", "16"))
const request = { number: 42n, text: "hello, benchmark" }

interface Measured {
  readonly seconds: number
  readonly cpuUs: number
}

/** Runs `n` calls of `one` with `concurrency` workers. */
const pool = async (n: number, one: () => Promise<unknown>): Promise<void> => {
  let next = 0
  const worker = async () => {
    while (next < n) {
      next++
      await one()
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker))
}

const measure = async (run: (n: number) => Promise<void>): Promise<Measured> => {
  await run(warmup)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await run(calls)
  const t1 = performance.now()
  const c = process.cpuUsage(c0)
  return { seconds: (t1 - t0) / 1000, cpuUs: c.user + c.system }
}

const ours = (): Promise<Measured> => {
  const transport = protocol === "grpc"
    ? NodeTransport.layerGrpc({ baseUrl: url })
    : NodeTransport.layerConnect({ baseUrl: url, httpVersion })
  const program = Effect.gen(function*() {
    const ping = yield* PingClient
    // the same shape as `pool` below: `concurrency` workers, each making calls one after another
    const run = (n: number) => {
      let next = 0
      const worker = Effect.gen(function*() {
        while (next < n) {
          next++
          yield* ping.ping(request)
        }
      })
      return Effect.runPromise(
        Effect.all(Array.from({ length: Math.min(concurrency, n) }, () => worker), { concurrency: "unbounded", discard: true })
      )
    }
    return yield* Effect.promise(() => measure(run))
  })
  return Effect.runPromise(program.pipe(Effect.provide(PingClient.layer.pipe(Layer.provide(transport)))))
}

const connectNode = async (): Promise<Measured> => {
  const transport = protocol === "grpc"
    ? createGrpcTransport({ baseUrl: url })
    : createConnectTransport({ baseUrl: url, httpVersion })
  const c = createClient(PingService, transport)
  return measure((n) => pool(n, () => c.ping(request)))
}

const grpcJs = async (): Promise<Measured> => {
  const Ctor = grpc.makeGenericClientConstructor(PingServiceDefinition, "PingService")
  const c = new Ctor(url.replace(/^http:\/\//, ""), grpc.credentials.createInsecure()) as unknown as {
    ping(req: unknown, cb: (err: grpc.ServiceError | null, res: unknown) => void): void
    close(): void
  }
  const msg = create(PingRequestSchema, request)
  const one = () => new Promise<unknown>((resolve, reject) => c.ping(msg, (err, res) => (err ? reject(err) : resolve(res))))
  const m = await measure((n) => pool(n, one))
  c.close()
  return m
}

const main = async () => {
  const m = client === "ours" ? await ours() : client === "connect-node" ? await connectNode() : await grpcJs()
  process.stdout.write(JSON.stringify({
    ok: true, client, protocol, httpVersion, calls, seconds: m.seconds, callsPerSec: calls / m.seconds, cpuUsPerCall: m.cpuUs / calls
  }) + "\n")
  process.exit(0)
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) }) + "\n")
  process.exit(0)
})
