/**
 * gRPC health checking end to end: a Node server (h2c and HTTP/1.1 on one port) serving
 * `grpc.health.v1.Health` next to Eliza, called by real external clients — grpcurl and
 * `buf curl` (gRPC, gRPC-Web and Connect) — and by the generated client, watching status
 * transitions. Every Watch must release its subscription when the client goes away.
 */
import * as path from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Health from "@connect-effect/core/Health"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaLive } from "../../../examples/eliza/src/ElizaLive.ts"
import {
  bufCurl,
  bufPath,
  grpcurl,
  grpcurlPath,
  parseJson,
  ProcessTracker,
  requireExecutable
} from "./externalClients.ts"

const { HealthCheckResponse_ServingStatus: Wire } = Health.HealthProto
const eliza = ElizaService.descriptor.typeName

/** The health protos of core, so that the clients need no reflection (tested in Reflection.e2e.test.ts). */
const protoRoot = path.resolve(import.meta.dirname, "../../core/proto")
const grpcurlProto = ["-import-path", protoRoot, "-proto", "grpc/health/v1/health.proto"]
const bufSchema = ["--schema", protoRoot]

/** Open Watch streams on the server, and a way to wait for a given number of them. */
const watchers = (() => {
  let open = 0
  const listeners = new Set<() => void>()
  return {
    change: (delta: number) => {
      open += delta
      for (const l of [...listeners]) l()
    },
    open: () => open,
    /** Resolves once exactly `n` Watch streams are open (no fixed sleeps: woken by every change). */
    until: (n: number, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (open === n) {
            listeners.delete(check)
            clearTimeout(timer)
            resolve()
          }
        }
        const timer = setTimeout(() => {
          listeners.delete(check)
          reject(new Error(`expected ${n} open Watch streams, have ${open}`))
        }, timeoutMs)
        listeners.add(check)
        check()
      })
  }
})()

/** The in-memory status book, counting the Watch streams that use it. */
const CountingStatus = Layer.effect(
  Health.HealthStatus,
  Effect.map(Health.make(Health.servingAll(ElizaService)), (inner): Health.HealthStatusShape => ({
    ...inner,
    watch: (service) =>
      Stream.suspend(() => {
        watchers.change(1)
        return inner.watch(service).pipe(Stream.ensuring(Effect.sync(() => watchers.change(-1))))
      })
  }))
)

const ServerLive = NodeServer.layerRouter(Router.fromServices(ElizaService, Health.HealthService), { port: 0 }).pipe(
  Layer.provide(ElizaLive),
  Layer.provide(Health.layer),
  Layer.provideMerge(CountingStatus)
)

let scope: Scope.Closeable
let status: Health.HealthStatusShape
let address = ""
let baseUrl = ""
const processes = new ProcessTracker()

const setStatus = (service: string, s: Health.ServingStatus) => Effect.runPromise(status.set(service, s))
const clearStatus = (service: string) => Effect.runPromise(status.clear(service))

beforeAll(async () => {
  requireExecutable(grpcurlPath)
  requireExecutable(bufPath)
  scope = Effect.runSync(Scope.make())
  const ctx = await Effect.runPromise(Layer.buildWithScope(ServerLive, scope))
  const server = Context.get(ctx, NodeServer.NodeServer)
  status = Context.get(ctx, Health.HealthStatus)
  address = `${server.host}:${server.port}`
  baseUrl = server.url
})

afterEach(async () => {
  await processes.killAll()
  // every test starts from the initial statuses
  await Effect.runPromise(Effect.all([
    status.set(Health.overall, "SERVING"),
    status.set(eliza, "SERVING"),
    status.clear("example.Later")
  ]))
})

afterAll(async () => {
  await processes.killAll()
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
})

describe("Health with grpcurl", () => {
  it("Check: the whole server and a named service", async () => {
    const overall = await grpcurl(...grpcurlProto, "-plaintext", address, "grpc.health.v1.Health/Check")
    expect(overall.code).toBe(0)
    expect(parseJson(overall)).toEqual({ status: "SERVING" })

    await setStatus(eliza, "NOT_SERVING")
    const named = await grpcurl(...grpcurlProto, "-plaintext", "-d", JSON.stringify({ service: eliza }), address, "grpc.health.v1.Health/Check")
    expect(named.code).toBe(0)
    expect(parseJson(named)).toEqual({ status: "NOT_SERVING" })
  }, 120_000)

  it("Check: an unknown service is NOT_FOUND", async () => {
    const result = await grpcurl(
      ...grpcurlProto,
      "-plaintext",
      "-format-error",
      "-d",
      JSON.stringify({ service: "example.Unknown" }),
      address,
      "grpc.health.v1.Health/Check"
    )
    // grpcurl exits with 64 + the gRPC status code and prints the status as JSON on stderr
    expect(result.code).toBe(64 + 5)
    expect(JSON.parse(result.stderr)).toEqual({ code: 5, message: "unknown service \"example.Unknown\"" })
  }, 120_000)

  it("List: every known service", async () => {
    await setStatus(eliza, "NOT_SERVING")
    const result = await grpcurl(...grpcurlProto, "-plaintext", address, "grpc.health.v1.Health/List")
    expect(result.code).toBe(0)
    expect(parseJson(result)).toEqual({
      statuses: { "": { status: "SERVING" }, [eliza]: { status: "NOT_SERVING" } }
    })
  }, 120_000)

  it("Watch: the current status, then every change; killing grpcurl ends the stream on the server", async () => {
    const watch = processes.spawnJsonStream(grpcurlPath, [
      ...grpcurlProto,
      "-plaintext",
      "-d",
      JSON.stringify({ service: eliza }),
      address,
      "grpc.health.v1.Health/Watch"
    ])
    expect(await watch.next()).toEqual({ status: "SERVING" })
    expect(watchers.open()).toBe(1)
    await setStatus(eliza, "NOT_SERVING")
    expect(await watch.next()).toEqual({ status: "NOT_SERVING" })
    // the same status again is not repeated; the next real change is
    await setStatus(eliza, "NOT_SERVING")
    await setStatus(eliza, "SERVING")
    expect(await watch.next()).toEqual({ status: "SERVING" })
    await watch.kill()
    await watchers.until(0)
  }, 120_000)

  it("Watch: an unknown service is SERVICE_UNKNOWN and the call stays open until it becomes known", async () => {
    const watch = processes.spawnJsonStream(grpcurlPath, [
      ...grpcurlProto,
      "-plaintext",
      "-d",
      JSON.stringify({ service: "example.Later" }),
      address,
      "grpc.health.v1.Health/Watch"
    ])
    expect(await watch.next()).toEqual({ status: "SERVICE_UNKNOWN" })
    await setStatus("example.Later", "SERVING")
    expect(await watch.next()).toEqual({ status: "SERVING" })
    await clearStatus("example.Later")
    expect(await watch.next()).toEqual({ status: "SERVICE_UNKNOWN" })
    await watch.kill()
    await watchers.until(0)
  }, 120_000)
})

describe("Health with buf curl", () => {
  const url = (method: string) => `${baseUrl}/grpc.health.v1.Health/${method}`

  it("Check over gRPC (h2c), gRPC-Web and Connect", async () => {
    await setStatus(eliza, "NOT_SERVING")
    const body = JSON.stringify({ service: eliza })
    for (
      const protocol of [
        ["--protocol", "grpc", "--http2-prior-knowledge"],
        ["--protocol", "grpcweb"],
        ["--protocol", "connect"],
        ["--protocol", "connect", "--http2-prior-knowledge"]
      ]
    ) {
      const result = await bufCurl(...bufSchema, ...protocol, "-d", body, url("Check"))
      expect(result.code, `${protocol.join(" ")}: ${result.stderr}`).toBe(0)
      expect(parseJson(result)).toEqual({ status: "NOT_SERVING" })
    }
  }, 120_000)

  it("Check: an unknown service is not_found", async () => {
    const result = await bufCurl(
      ...bufSchema,
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      JSON.stringify({ service: "example.Unknown" }),
      url("Check")
    )
    // buf curl exits with 8 × the code and prints the error as JSON on stderr
    expect(result.code).toBe(8 * 5)
    expect(JSON.parse(result.stderr)).toEqual({ code: "not_found", message: "unknown service \"example.Unknown\"" })
  }, 120_000)

  it("Watch over gRPC: first status, a change, and release on kill", async () => {
    const watch = processes.spawnJsonStream(bufPath, [
      "curl",
      ...bufSchema,
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      url("Watch")
    ])
    expect(await watch.next()).toEqual({ status: "SERVING" })
    await setStatus(Health.overall, "NOT_SERVING")
    expect(await watch.next()).toEqual({ status: "NOT_SERVING" })
    await watch.kill()
    await watchers.until(0)
  }, 120_000)
})

describe("Health with the generated client", () => {
  const withClient = <A, E>(
    protocol: "grpc" | "connect",
    effect: Effect.Effect<A, E, Health.HealthClient>
  ): Promise<A> =>
    Effect.runPromise(effect.pipe(Effect.provide(Health.HealthClient.layer.pipe(Layer.provide(
      protocol === "grpc"
        ? NodeTransport.layerGrpc({ baseUrl })
        : NodeTransport.layerConnect({ baseUrl, httpVersion: "1.1" })
    )))))

  for (const protocol of ["grpc", "connect"] as const) {
    it(`${protocol}: Watch sees SERVING → NOT_SERVING → SERVING → NOT_SERVING, and the stream ends when the client stops`, () =>
      withClient(
        protocol,
        Effect.gen(function*() {
          const client = yield* Health.HealthClient
          const seen = yield* Queue.unbounded<Health.HealthProto.HealthCheckResponse_ServingStatus>()
          const fiber = yield* client.watch({ service: eliza }).pipe(
            Stream.runForEach((response) => Queue.offer(seen, response.status)),
            Effect.forkChild
          )
          expect(yield* Queue.take(seen)).toBe(Wire.SERVING)
          yield* status.set(eliza, "NOT_SERVING")
          expect(yield* Queue.take(seen)).toBe(Wire.NOT_SERVING)
          yield* status.set(eliza, "SERVING")
          expect(yield* Queue.take(seen)).toBe(Wire.SERVING)
          yield* status.set(eliza, "NOT_SERVING")
          expect(yield* Queue.take(seen)).toBe(Wire.NOT_SERVING)
          expect(yield* client.check({ service: eliza })).toMatchObject({ status: Wire.NOT_SERVING })
          yield* Fiber.interrupt(fiber)
          yield* Effect.promise(() => watchers.until(0))
        })
      ), 120_000)
  }

  it("Check fails with not_found for an unknown service; List answers every status", () =>
    withClient(
      "grpc",
      Effect.gen(function*() {
        const client = yield* Health.HealthClient
        const error = yield* Effect.flip(client.check({ service: "example.Unknown" }))
        expect(error.code).toBe("not_found")
        yield* status.set("example.Later", "UNKNOWN")
        const list = yield* client.list({})
        expect(Object.fromEntries(Object.entries(list.statuses).map(([k, v]) => [k, v.status]))).toEqual({
          "": Wire.SERVING,
          [eliza]: Wire.SERVING,
          "example.Later": Wire.UNKNOWN
        })
      })
    ), 120_000)
})
