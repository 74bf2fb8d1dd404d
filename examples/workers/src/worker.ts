/**
 * A Cloudflare Worker serving the Eliza service (every RPC kind) and the NumbersService of the
 * streaming example through connect-effect's `FetchHandler`. Connect (POST, and GET for `Say`)
 * and gRPC-Web work; gRPC needs HTTP trailers, which a fetch `Response` cannot carry, so it is
 * answered 415.
 *
 * Compression: core's `ZlibCompression` on the runtime's `node:zlib`, which workerd provides
 * with the `nodejs_compat` compatibility flag (see wrangler.toml): gzip and br.
 */
import * as zlib from "node:zlib"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as FetchHandler from "@connect-effect/core/FetchHandler"
import * as Router from "@connect-effect/core/Router"
import * as ZlibCompression from "@connect-effect/core/ZlibCompression"
import { ElizaService } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaLive } from "../../eliza/src/ElizaLive.ts"
import { NumbersService } from "../../streaming/gen/streaming/v1/numbers_connect.ts"
import { NumbersLive } from "../../streaming/src/NumbersLive.ts"

/** gzip and br (and zstd where the runtime's zlib has it) on workerd's `node:zlib`. */
const compressions = ZlibCompression.make(zlib)

/** The part of the Workers `ExecutionContext` used here (no `@cloudflare/workers-types` needed). */
export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void
  passThroughOnException(): void
}

/** This Worker has no bindings. */
export type Env = Record<string, never>

/**
 * Built once per isolate, when the module is evaluated: the router, its services and the
 * compressions are set up synchronously (no I/O, timers or randomness, which Workers forbid at
 * global scope), and every request the isolate serves reuses the handler.
 */
const handler: FetchHandler.FetchHandler = Effect.runSync(
  FetchHandler.fromRouter(Router.fromServices(ElizaService, NumbersService), { readMaxBytes: 64 * 1024 }).pipe(
    Effect.provide(Layer.mergeAll(ElizaLive, NumbersLive, compressions.layer))
  )
)

export default {
  fetch(request: Request, _env: Env, _ctx: ExecutionContext): Promise<Response> {
    return handler(request)
  }
}
