/**
 * A Next.js App Router route handler serving the Eliza service: this file would live at
 * `app/[service]/[method]/route.ts`, so that `/connectrpc.eliza.v1.ElizaService/Say` reaches it
 * with the path the router expects. Connect (POST and GET, unary and streaming) and gRPC-Web
 * work; gRPC needs HTTP trailers, which a fetch `Response` cannot carry, so it is answered 415.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as FetchHandler from "@connect-effect/core/FetchHandler"
import * as Router from "@connect-effect/core/Router"
import * as NodeCompression from "@connect-effect/platform-node/NodeCompression"
import { ElizaService } from "../../../../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaLive } from "../../../../../eliza/src/ElizaLive.ts"

/** Route segment config: run on Node (for node:zlib compression), never cache. */
export const runtime = "nodejs"
export const dynamic = "force-dynamic"

/** Built once per server process, on first import; every request reuses it. */
const handler: Promise<FetchHandler.FetchHandler> = Effect.runPromise(
  FetchHandler.fromRouter(Router.fromServices(ElizaService), { readMaxBytes: 64 * 1024 }).pipe(
    Effect.provide(Layer.merge(ElizaLive, NodeCompression.layer))
  )
)

/** Every RPC (Connect and gRPC-Web). */
export async function POST(request: Request): Promise<Response> {
  return (await handler)(request)
}

/** Connect GET for methods marked `NO_SIDE_EFFECTS` (Say). */
export async function GET(request: Request): Promise<Response> {
  return (await handler)(request)
}
