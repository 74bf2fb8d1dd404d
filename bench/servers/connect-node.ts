/**
 * The connect-node peer: PingService with @connectrpc/connect-node's connectNodeAdapter
 * (Connect, gRPC, gRPC-Web), HTTP/1.1 and h2c on one port.
 *   node bench/servers/connect-node.ts --port 8080
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect"
import { connectNodeAdapter } from "@connectrpc/connect-node"
import { PingService } from "../gen/bench/v1/ping_pb.ts"
import { installAdminHook, listenDual, portArg, ready } from "./common.ts"

installAdminHook()
const routes = (router: ConnectRouter) =>
  router.service(PingService, {
    ping(request) {
      if (request.number < 0n) throw new ConnectError("number must not be negative", Code.InvalidArgument)
      return { number: request.number, text: request.text }
    },
    async sum(requests) {
      let number = 0n
      for await (const r of requests) number += r.number
      return { number }
    },
    async *countUp(request) {
      for (let i = 1n; i <= request.number; i++) yield { number: i, text: request.text }
    },
    async *cumSum(requests) {
      let number = 0n
      for await (const r of requests) {
        number += r.number
        yield { number, text: r.text }
      }
    }
  })

const handler = connectNodeAdapter({ routes, readMaxBytes: 16 * 1024 * 1024, compressMinBytes: 1024 })
const h1 = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, handler)
const h2 = http2.createServer({ settings: { maxConcurrentStreams: 100_000 }, maxSessionMemory: 1024 }, handler)
const port = portArg()
listenDual(h1, h2, port, () => ready(port))
