/**
 * Calls ShopService with every RPC kind from Node (also runs under Bun) and checks the answers.
 *
 *   node src/client.ts --url http://127.0.0.1:8080 --protocol connect|grpc|grpc-web --http 1.1|2 [--codec proto|json] [--duplex full|half] [--compression identity|gzip|br|zstd]
 *
 * Prints `ok <summary as JSON>` and exits 0, or prints the error to stderr and exits 1.
 * gRPC needs HTTP/2. The bidi call is a full-duplex ping-pong over HTTP/2 and half duplex (the
 * requests are sent, then the answers read) over HTTP/1.1, unless `--duplex` says otherwise.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeTransport from "@connect-effect/platform-node/NodeTransport"
import { ShopClient } from "../gen/acme/shop/v1/shop_connect.ts"
import { runAll } from "./calls.ts"
import { oneOf, options, runMain } from "./cli.ts"

const baseUrl = options.url ?? "http://127.0.0.1:8080"
const protocol = oneOf("protocol", options.protocol, ["connect", "grpc", "grpc-web"], "connect")
const httpVersion = oneOf("http", options.http, ["1.1", "2"], protocol === "grpc" ? "2" : "1.1")
const codec = oneOf("codec", options.codec, ["proto", "json"], "proto")
const duplex = oneOf("duplex", options.duplex, ["full", "half"], httpVersion === "2" ? "full" : "half")
const compression = oneOf("compression", options.compression, ["identity", "gzip", "br", "zstd"], "identity")
// every request message compressed (however small), so the server must decompress to answer right
const compressed = compression === "identity" ? {} : { sendCompression: compression, compressMinBytes: 0 }
if (protocol === "grpc" && httpVersion !== "2") {
  console.error("gRPC needs HTTP/2: use --http 2")
  process.exit(2)
}

const transport = protocol === "grpc"
  ? NodeTransport.layerGrpc({ baseUrl, codec, ...compressed })
  : protocol === "grpc-web"
  ? NodeTransport.layerGrpcWeb({ baseUrl, codec, httpVersion, ...compressed })
  : NodeTransport.layerConnect({ baseUrl, codec, httpVersion, useHttpGet: true, ...compressed })

runMain(
  runAll({ protocol, useHttpGet: protocol === "connect", duplex }).pipe(
    Effect.tap((summary) => Effect.sync(() => process.stdout.write(`ok ${JSON.stringify(summary)}\n`))),
    Effect.provide(ShopClient.layer.pipe(Layer.provide(transport)))
  )
)
