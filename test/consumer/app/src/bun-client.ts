/**
 * Calls ShopService with every RPC kind through Bun's fetch (`BunTransport`) and checks the answers.
 *
 *   bun src/bun-client.ts --url http://127.0.0.1:8080 --protocol connect|grpc-web [--codec proto|json] [--duplex half|full]
 *
 * Prints `ok <summary as JSON>` and exits 0, or prints the error to stderr and exits 1.
 * Bun's fetch speaks HTTP/1.1 and exposes no trailers: Connect and gRPC-Web only (no gRPC), and
 * the bidi call is half duplex by default (every request is sent, then the answers are read).
 * `--duplex full` runs it as a ping-pong instead, which works against servers that answer while
 * the request body still streams (all three of this app's do, over HTTP/1.1 too).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as BunTransport from "@connect-effect/platform-bun/BunTransport"
import { ShopClient } from "../gen/acme/shop/v1/shop_connect.ts"
import { runAll } from "./calls.ts"
import { oneOf, options, runMain } from "./cli.ts"

const baseUrl = options.url ?? "http://127.0.0.1:8080"
const protocol = oneOf("protocol", options.protocol, ["connect", "grpc-web"], "connect")
const codec = oneOf("codec", options.codec, ["proto", "json"], "proto")
const duplex = oneOf("duplex", options.duplex, ["half", "full"], "half")
oneOf("http", options.http, ["1.1"], "1.1")

const transport = protocol === "grpc-web"
  ? BunTransport.layerGrpcWeb({ baseUrl, codec })
  : BunTransport.layerConnect({ baseUrl, codec, useHttpGet: true })

runMain(
  runAll({ protocol, useHttpGet: protocol === "connect", duplex }).pipe(
    Effect.tap((summary) => Effect.sync(() => process.stdout.write(`ok ${JSON.stringify(summary)}\n`))),
    Effect.provide(ShopClient.layer.pipe(Layer.provide(transport)))
  )
)
