/**
 * Calls ShopService from Deno through its fetch (`FetchHttpClient`) and checks the answers.
 *
 *   deno run -A src/deno-client.ts --url http://127.0.0.1:8080 --protocol connect|grpc-web [--codec proto|json] [--duplex half|full]
 *
 * Prints `ok <summary as JSON>` and exits 0, or prints the error to stderr and exits 1.
 * Deno's fetch exposes no HTTP trailers (no gRPC) and, for `http:` URLs, speaks HTTP/1.1: request
 * bodies stream (`duplex: "half"`), so client streaming works, and bidi is half duplex by default
 * (every request is sent, then the answers are read). `--duplex full` runs it as a ping-pong
 * instead: Deno's fetch hands out the response while the request body still streams, so that
 * works against servers that answer early (all three of this app's do, over HTTP/1.1 too).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as FetchHttpClient from "@connect-effect/core/FetchHttpClient"
import { ShopClient } from "../gen/acme/shop/v1/shop_connect.ts"
import { runAll } from "./calls.ts"

/** The slice of Deno's global API this file uses (no Deno type package needed). */
declare const Deno: {
  readonly args: ReadonlyArray<string>
  exit(code?: number): never
}

const argument = (name: string): string | undefined => {
  const i = Deno.args.indexOf(`--${name}`)
  return i === -1 ? undefined : Deno.args[i + 1]
}

const baseUrl = argument("url") ?? "http://127.0.0.1:8080"
const protocol = argument("protocol") ?? "connect"
const codec = argument("codec") ?? "proto"
const duplex = argument("duplex") ?? "half"
if (
  (protocol !== "connect" && protocol !== "grpc-web") || (codec !== "proto" && codec !== "json") ||
  (duplex !== "half" && duplex !== "full")
) {
  console.error("--protocol must be connect or grpc-web (no gRPC over fetch), --codec proto or json, --duplex half or full")
  Deno.exit(2)
}

const transport = protocol === "grpc-web"
  ? FetchHttpClient.layerGrpcWeb({ baseUrl, codec })
  : FetchHttpClient.layerConnect({ baseUrl, codec, useHttpGet: true })

const exit = await Effect.runPromiseExit(
  runAll({ protocol, useHttpGet: protocol === "connect", duplex }).pipe(
    Effect.provide(ShopClient.layer.pipe(Layer.provide(transport)))
  )
)
if (Exit.isSuccess(exit)) {
  console.log(`ok ${JSON.stringify(exit.value)}`)
  Deno.exit(0)
}
const error = Cause.squash(exit.cause)
console.error(error instanceof Error ? `${error.name}: ${error.message}` : Cause.pretty(exit.cause))
Deno.exit(1)
