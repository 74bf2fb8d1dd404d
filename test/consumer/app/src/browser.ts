/**
 * The browser side: bundled with esbuild (`--bundle --format=esm --platform=browser`) into a page
 * on another origin than the server. Exposes
 *
 *   globalThis.runCalls(baseUrl, kinds?) → Promise<{ connect: Summary, "grpc-web": Summary }>
 *
 * which calls the server cross-origin through the browser's fetch (`FetchHttpClient`), with
 * Connect (JSON, GetItem by GET) and gRPC-Web (binary), checking every answer; it rejects with
 * the error message. Default kinds: unary, the error case, server streaming and the typed domain
 * error (unary and mid-stream). (A browser sends a request body in one piece, so client streaming
 * and bidi work only with finite request streams, sent once they end: pass them in `kinds` to
 * include them.)
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as FetchHttpClient from "@connect-effect/core/FetchHttpClient"
import { ShopClient } from "../gen/acme/shop/v1/shop_connect.ts"
import { type Kind, runAll, type Summary } from "./calls.ts"

/** What `runCalls` resolves to. */
export interface BrowserSummary {
  readonly connect: Summary
  readonly "grpc-web": Summary
}

const browserKinds: ReadonlyArray<Kind> = ["unary", "error", "serverStream", "domainError"]

const runCalls = async (baseUrl: string, kinds: ReadonlyArray<Kind> = browserKinds): Promise<BrowserSummary> => {
  const program = Effect.gen(function*() {
    const connect = yield* runAll({ protocol: "connect", useHttpGet: true, kinds }).pipe(
      Effect.provide(ShopClient.layer.pipe(Layer.provide(FetchHttpClient.layerConnect({ baseUrl, codec: "json", useHttpGet: true }))))
    )
    const grpcWeb = yield* runAll({ protocol: "grpc-web", kinds }).pipe(
      Effect.provide(ShopClient.layer.pipe(Layer.provide(FetchHttpClient.layerGrpcWeb({ baseUrl }))))
    )
    return { connect, "grpc-web": grpcWeb }
  })
  const exit = await Effect.runPromiseExit(program)
  if (Exit.isSuccess(exit)) return exit.value
  const error = Cause.squash(exit.cause)
  throw new Error(error instanceof Error ? error.message : Cause.pretty(exit.cause))
}

declare global {
  /** Runs the checked calls against `baseUrl` (set by this bundle). */
  var runCalls: (baseUrl: string, kinds?: ReadonlyArray<Kind>) => Promise<BrowserSummary>
}

globalThis.runCalls = runCalls
