/**
 * The conformance server under test: reads a ServerCompatRequest on stdin, serves the
 * ConformanceService with connect-effect on Node, prints a ServerCompatResponse.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Router from "@connect-effect/core/Router"
import * as NodeCompression from "@connect-effect/platform-node/NodeCompression"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import * as FetchHandler from "@connect-effect/core/FetchHandler"
import * as BunServer from "@connect-effect/platform-bun/BunServer"
import { ServerCompatRequestSchema, ServerCompatResponseSchema } from "../gen/connectrpc/conformance/v1/server_compat_pb.ts"
import { ConformanceService } from "../gen/connectrpc/conformance/v1/service_pb.ts"
import { HTTPVersion } from "../gen/connectrpc/conformance/v1/config_pb.ts"
import { handlers, registry } from "./service.ts"
import { readMessage, writeMessage } from "./stdio.ts"

/**
 * True when this program serves with Bun.serve: on Bun, unless `--impl=node` (`bin/server --runtime
 * bun-node`) asks for NodeServer (node:http / node:http2) under Bun.
 */
const isBun = (globalThis as { Bun?: unknown }).Bun !== undefined && !process.argv.includes("--impl=node")

/** The part of Deno's API used here (`Deno.serve`; no Deno types in this repo). */
interface DenoServe {
  serve(
    options: {
      port: number
      hostname: string
      cert?: string
      key?: string
      signal?: AbortSignal
      onListen?: (addr: { hostname: string; port: number }) => void
    },
    handler: (request: Request) => Promise<Response>
  ): { readonly addr: { hostname: string; port: number }; readonly finished: Promise<void> }
}

/** Deno's namespace when this program runs on Deno. */
const deno = (globalThis as { Deno?: DenoServe }).Deno

const main = async () => {
  const bytes = await readMessage()
  if (bytes === undefined) throw new Error("no ServerCompatRequest on stdin")
  const request = fromBinary(ServerCompatRequestSchema, bytes)
  const router = Router.service(Router.empty, ConformanceService, handlers)
  const program = Effect.gen(function*() {
    const handler = yield* Router.toHttpHandler(router, {
      readMaxBytes: request.messageReceiveLimit > 0 ? request.messageReceiveLimit : undefined,
      compressions: NodeCompression.all,
      json: { registry }
    })
    if (deno !== undefined) {
      // Deno.serve through the web-standard fetch handler: HTTP/1.1, and over TLS h2 by ALPN
      // (Deno.serve cannot ask for client certificates, so no mTLS)
      const fetchHandler = FetchHandler.fromHttpHandler(handler, yield* Effect.context<never>())
      const abort = new AbortController()
      const tls = request.useTls && request.serverCreds !== undefined
        ? { cert: Buffer.from(request.serverCreds.cert).toString(), key: Buffer.from(request.serverCreds.key).toString() }
        : {}
      const server = yield* Effect.acquireRelease(
        Effect.sync(() => deno.serve({ port: 0, hostname: "127.0.0.1", signal: abort.signal, onListen: () => {}, ...tls }, fetchHandler)),
        (server) => Effect.andThen(Effect.sync(() => abort.abort()), Effect.promise(() => server.finished))
      )
      yield* Effect.promise(() =>
        writeMessage(toBinary(ServerCompatResponseSchema, create(ServerCompatResponseSchema, {
          host: server.addr.hostname,
          port: server.addr.port,
          ...(request.useTls && request.serverCreds !== undefined ? { pemCert: request.serverCreds.cert } : {})
        })))
      )
      return yield* Effect.never
    }
    if (isBun) {
      // Bun.serve through the web-standard fetch handler (HTTP/1.1, and HTTP/2 with `http2`: h2c,
      // h2 by ALPN; TLS and mTLS)
      const fetchHandler = FetchHandler.fromHttpHandler(handler, yield* Effect.context<never>())
      const server = yield* BunServer.make(fetchHandler, {
        port: 0,
        host: "127.0.0.1",
        gracePeriodMs: 1000,
        http2: request.httpVersion !== HTTPVersion.HTTP_VERSION_1,
        ...(request.useTls && request.serverCreds !== undefined
          ? {
            tls: {
              cert: Buffer.from(request.serverCreds.cert).toString(),
              key: Buffer.from(request.serverCreds.key).toString(),
              ...(request.clientTlsCert.length > 0
                ? { ca: Buffer.from(request.clientTlsCert).toString(), requestCert: true }
                : {})
            }
          }
          : {})
      })
      yield* Effect.promise(() =>
        writeMessage(toBinary(ServerCompatResponseSchema, create(ServerCompatResponseSchema, {
          host: server.host,
          port: server.port,
          ...(request.useTls && request.serverCreds !== undefined ? { pemCert: request.serverCreds.cert } : {})
        })))
      )
      return yield* Effect.never
    }
    const server = yield* NodeServer.make(handler, {
      port: 0,
      host: "127.0.0.1",
      ...(request.useTls && request.serverCreds !== undefined
        ? {
          tls: {
            cert: Buffer.from(request.serverCreds.cert),
            key: Buffer.from(request.serverCreds.key),
            ...(request.clientTlsCert.length > 0 ? { ca: Buffer.from(request.clientTlsCert), requestCert: true } : {})
          }
        }
        : {}),
      http: request.httpVersion === HTTPVersion.HTTP_VERSION_1 ? "1.1" : request.httpVersion === HTTPVersion.HTTP_VERSION_2 ? "2" : "auto",
      gracePeriodMs: 1000,
      keepAliveTimeoutMs: 600_000
    })
    yield* Effect.promise(() =>
      writeMessage(toBinary(ServerCompatResponseSchema, create(ServerCompatResponseSchema, {
        host: server.host,
        port: server.port,
        ...(request.useTls && request.serverCreds !== undefined ? { pemCert: request.serverCreds.cert } : {})
      })))
    )
    return yield* Effect.never
  })
  const fiber = Effect.runFork(Effect.scoped(program))
  const stop = () => {
    Effect.runFork(Fiber.interrupt(fiber)).addObserver(() => process.exit(0))
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.on("SIGTERM", stop)
  process.on("SIGINT", stop)
  fiber.addObserver((exit) => {
    if (exit._tag === "Failure" && !Cause.hasInterruptsOnly(exit.cause)) {
      console.error("server failed", exit.cause)
      process.exit(1)
    }
  })
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
