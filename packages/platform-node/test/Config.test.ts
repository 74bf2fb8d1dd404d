/**
 * Servers and clients configured from Effect's `Config`, over real sockets: `NodeServer.layerConfig`
 * and `layerRouterConfig` read their options from the `ConfigProvider` in context, and
 * `NodeTransport.layer*Config` their base URL and limits; missing or invalid configuration fails
 * the layer with a `Config.ConfigError`, and impossible client options with a `TransportConfigError`.
 */
import { describe, expect, it } from "vitest"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as Router from "@connect-effect/core/Router"
import type { Transport, TransportConfigError } from "@connect-effect/core/Transport"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ElizaClient, type ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const handlers: ElizaServiceHandlers = {
  say: (request) => Effect.succeed({ sentence: `echo ${request.sentence}` }),
  introduce: (request) => Stream.range(1, 3).pipe(Stream.map((i) => ({ sentence: `${request.name} #${i}` }))),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence.toUpperCase() })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: String(all.length) }))
}

const router = Router.empty.pipe(Router.service(ElizaService, handlers))

/** Builds `layer` with `provider` as the `ConfigProvider`, in the current scope. */
const build = <A, E>(layer: Layer.Layer<A, E>, provider: ConfigProvider.ConfigProvider) =>
  Layer.build(layer.pipe(Layer.provide(ConfigProvider.layer(provider))))

/** Starts `layer` and returns the server's URL. */
const start = <E>(layer: Layer.Layer<NodeServer.NodeServer, E>, provider: ConfigProvider.ConfigProvider) =>
  Effect.map(build(layer, provider), (context) => Context.get(context, NodeServer.NodeServer))

/** Says `sentence` through a transport layer. */
const say = <E>(transport: Layer.Layer<Transport, E>, sentence: string) =>
  Effect.flatMap(Effect.service(ElizaClient), (eliza) => eliza.say({ sentence })).pipe(
    Effect.map((response) => response.sentence),
    Effect.provide(ElizaClient.layer.pipe(Layer.provide(transport)))
  )

const withEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

/** The failure of an exit (its first typed error). */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const found = Cause.findError(exit.cause)
  return found._tag === "Success" ? found.success : undefined
}

const serverConfig = {
  port: Config.Int("PORT"),
  host: Config.String("HOST").pipe(Config.withDefault("127.0.0.1")),
  http: Config.Literals(["1.1", "2", "auto"], "HTTP").pipe(Config.withDefault("auto" as const)),
  gracePeriodMs: Config.Int("GRACE_PERIOD_MS").pipe(Config.withDefault(1000)),
  readMaxBytes: Config.Int("READ_MAX_BYTES").pipe(Config.withDefault(4 * 1024 * 1024))
}

describe("NodeServer from Config", () => {
  it("layerRouterConfig serves with the configured host and limits", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const info = yield* start(
        NodeServer.layerRouterConfig(router, serverConfig),
        ConfigProvider.fromUnknown({ PORT: 0, HOST: "127.0.0.1", READ_MAX_BYTES: 64 })
      )
      expect(info.host).toBe("127.0.0.1")
      expect(info.port).toBeGreaterThan(0)
      const transport = NodeTransport.layerConnect({ baseUrl: info.url })
      expect(yield* say(transport, "hello")).toBe("echo hello")
      // the configured readMaxBytes (64) is the server's limit
      const tooLarge = yield* Effect.exit(say(transport, "x".repeat(200)))
      expect(ConnectError.isConnectError(failureOf(tooLarge))).toBe(true)
      expect((failureOf(tooLarge) as ConnectError.ConnectError).code).toBe("resource_exhausted")
    }))))

  it("layerConfig serves a handler, with a whole Config of the options and plain options beside it", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const handler = yield* Router.toHttpHandler(router)
      const config = Config.all({ port: Config.Int("PORT"), http: Config.Literal("1.1", "HTTP") })
      const info = yield* start(
        NodeServer.layerConfig(handler, config, { host: "127.0.0.1", gracePeriodMs: 500 }),
        ConfigProvider.fromEnv({ env: { PORT: "0", HTTP: "1.1" } })
      )
      expect(yield* say(NodeTransport.layerConnect({ baseUrl: info.url }), "plain")).toBe("echo plain")
    }))))

  it("fails the layer with a ConfigError when a required option is missing", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const exit = yield* Effect.exit(build(NodeServer.layerRouterConfig(router, serverConfig), ConfigProvider.fromUnknown({})))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = failureOf(exit)
      expect(error).toBeInstanceOf(Config.ConfigError)
      expect(String((error as Config.ConfigError).message)).toContain("PORT")
    }))))

  it("fails the layer with a ConfigError when an option is invalid", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const handler = yield* Router.toHttpHandler(router)
      const exit = yield* Effect.exit(build(
        NodeServer.layerConfig(handler, { port: Config.Port("PORT") }),
        ConfigProvider.fromEnv({ env: { PORT: "not a port" } })
      ))
      expect(failureOf(exit)).toBeInstanceOf(Config.ConfigError)
    }))))
})

describe("NodeTransport from Config", () => {
  const clientConfig = { baseUrl: Config.String("ELIZA_URL") }

  it("layerConnectConfig, layerGrpcConfig and layerGrpcWebConfig call a server started from config", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const info = yield* start(NodeServer.layerRouterConfig(router, serverConfig), ConfigProvider.fromUnknown({ PORT: 0 }))
      const env = withEnv({ ELIZA_URL: info.url, HTTP_VERSION: "2", TIMEOUT_MS: "5000" })
      const connect = NodeTransport.layerConnectConfig(clientConfig).pipe(Layer.provide(env))
      const connectH2 = NodeTransport.layerConnectConfig({
        ...clientConfig,
        httpVersion: Config.Literals(["1.1", "2"], "HTTP_VERSION"),
        timeoutMs: Config.Int("TIMEOUT_MS")
      }).pipe(Layer.provide(env))
      const grpc = NodeTransport.layerGrpcConfig(clientConfig).pipe(Layer.provide(env))
      const grpcWeb = NodeTransport.layerGrpcWebConfig(clientConfig, { codec: "json" }).pipe(Layer.provide(env))
      expect(yield* say(connect, "connect")).toBe("echo connect")
      expect(yield* say(connectH2, "connect h2")).toBe("echo connect h2")
      expect(yield* say(grpc, "grpc")).toBe("echo grpc")
      expect(yield* say(grpcWeb, "grpc-web")).toBe("echo grpc-web")
    }))))

  it("fails the layer with a ConfigError when the base URL is missing, before any call", () =>
    Effect.runPromise(Effect.gen(function*() {
      const exit = yield* Effect.exit(say(NodeTransport.layerConnectConfig(clientConfig).pipe(Layer.provide(withEnv({}))), "x"))
      const error = failureOf(exit)
      expect(error).toBeInstanceOf(Config.ConfigError)
      expect(String((error as Config.ConfigError).message)).toContain("ELIZA_URL")
    })))

  it("fails the layer with a TransportConfigError when the configured compression is unknown", () =>
    Effect.runPromise(Effect.gen(function*() {
      const layer = NodeTransport.layerConnectConfig({
        baseUrl: Config.succeed("http://127.0.0.1:1"),
        sendCompression: Config.String("SEND_COMPRESSION")
      }).pipe(Layer.provide(withEnv({ SEND_COMPRESSION: "lz4" })))
      const exit = yield* Effect.exit(say(layer, "x"))
      const error = failureOf(exit) as TransportConfigError
      expect(error._tag).toBe("TransportConfigError")
      expect(error.option).toBe("sendCompression")
      expect(error.message).toContain("lz4")
    })))
})
