/**
 * Ceiling: a raw node:http + node:http2 echo on one port that only frames bytes (no protobuf
 * library, no RPC framework). It answers the bench routes for Connect (unary + streaming),
 * gRPC and gRPC-Web with hand-rolled varint reads (rawproto.ts); Connect JSON unary is echoed
 * verbatim. gzip is not spoken (the ceiling is for the identity encoding).
 *   node bench/servers/raw-node.ts --port 8080
 */
import * as http from "node:http"
import * as http2 from "node:http2"
import { installAdminHook, listenDual, portArg, ready } from "./common.ts"
import {
  concat, connectEndStream, connectErrorBody, envelope, readNumber, readText, splitEnvelopes, writeMessage
} from "./rawproto.ts"

type Headers = Record<string, string>

/** One request/response exchange, over either HTTP version. */
interface Exchange {
  readonly path: string
  readonly contentType: string
  onData(f: (chunk: Uint8Array) => void): void
  onEnd(f: () => void): void
  /** Sends a whole response at once. */
  respond(status: number, headers: Headers, body: Uint8Array, trailers?: Headers): void
  /** Starts a streamed response. */
  head(headers: Headers): void
  write(chunk: Uint8Array): void
  end(trailers?: Headers): void
}

const collect = (ex: Exchange, f: (body: Uint8Array) => void) => {
  const chunks: Array<Uint8Array> = []
  ex.onData((c) => chunks.push(c))
  ex.onEnd(() => f(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)))
}

const method = (path: string) => path.slice(path.lastIndexOf("/") + 1)
const grpcOk = { "grpc-status": "0" }
const grpcErr = { "grpc-status": "3", "grpc-message": "number must not be negative" }

const handle = (ex: Exchange): void => {
  const ct = ex.contentType
  const m = method(ex.path)
  if (ct === "application/proto" || ct === "application/json") {
    // Connect unary
    collect(ex, (body) => {
      if (ct === "application/proto" && readNumber(body) < 0n) {
        ex.respond(400, { "content-type": "application/json" }, connectErrorBody)
      } else {
        ex.respond(200, { "content-type": ct }, body)
      }
    })
    return
  }
  const grpc = ct.startsWith("application/grpc")
  const web = ct.startsWith("application/grpc-web")
  if (!grpc && ct !== "application/connect+proto") {
    ex.respond(415, {}, new Uint8Array(0))
    return
  }
  const headers: Headers = { "content-type": grpc ? (web ? "application/grpc-web+proto" : "application/grpc+proto") : ct }
  const finish = (error: boolean) => {
    if (!grpc) ex.end()
    else if (web) {
      const t = error ? grpcErr : grpcOk
      ex.write(envelope(0x80, new TextEncoder().encode(Object.entries(t).map(([k, v]) => `${k}: ${v}\r\n`).join(""))))
      ex.end()
    } else ex.end(error ? grpcErr : grpcOk)
  }
  if (m === "CumSum") {
    // bidi: answer each message as it arrives
    let rest: Uint8Array = new Uint8Array(0)
    let sum = 0n
    ex.head(headers)
    ex.onData((chunk) => {
      const split = splitEnvelopes(concat(rest, chunk))
      rest = split.rest
      for (const { data } of split.messages) {
        sum += readNumber(data)
        ex.write(envelope(0, writeMessage(sum, readText(data))))
      }
    })
    ex.onEnd(() => {
      if (!grpc) ex.write(connectEndStream)
      finish(false)
    })
    return
  }
  collect(ex, (body) => {
    const { messages } = splitEnvelopes(body)
    if (m === "Ping") {
      const data = messages[0]?.data ?? new Uint8Array(0)
      if (readNumber(data) < 0n) {
        if (web) ex.respond(200, headers, envelope(0x80, new TextEncoder().encode("grpc-status: 3\r\ngrpc-message: number must not be negative\r\n")))
        else ex.respond(200, { ...headers, ...grpcErr }, new Uint8Array(0))
        return
      }
      if (web) ex.respond(200, headers, Buffer.concat([envelope(0, data), envelope(0x80, new TextEncoder().encode("grpc-status: 0\r\n"))]))
      else ex.respond(200, headers, envelope(0, data), grpcOk)
      return
    }
    if (m === "Sum") {
      let sum = 0n
      for (const { data } of messages) sum += readNumber(data)
      const out = envelope(0, writeMessage(sum, new Uint8Array(0)))
      if (!grpc) ex.respond(200, headers, Buffer.concat([out, connectEndStream]))
      else if (web) ex.respond(200, headers, Buffer.concat([out, envelope(0x80, new TextEncoder().encode("grpc-status: 0\r\n"))]))
      else ex.respond(200, headers, out, grpcOk)
      return
    }
    if (m === "CountUp") {
      const data = messages[0]?.data ?? new Uint8Array(0)
      const n = readNumber(data)
      const text = readText(data)
      const parts: Array<Uint8Array> = []
      for (let i = 1n; i <= n; i++) parts.push(envelope(0, writeMessage(i, text)))
      if (!grpc) parts.push(connectEndStream)
      ex.head(headers)
      ex.write(Buffer.concat(parts))
      finish(false)
      return
    }
    ex.respond(404, {}, new Uint8Array(0))
  })
}

installAdminHook()

const h1 = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
  handle({
    path: req.url ?? "/",
    contentType: req.headers["content-type"] ?? "",
    onData: (f) => req.on("data", f),
    onEnd: (f) => req.on("end", f),
    respond: (status, headers, body) => {
      res.writeHead(status, { ...headers, "content-length": body.length })
      res.end(body)
    },
    head: (headers) => res.writeHead(200, headers),
    write: (chunk) => res.write(chunk),
    end: () => res.end()
  })
})

const h2 = http2.createServer({ settings: { maxConcurrentStreams: 100_000 }, maxSessionMemory: 1024 })
h2.on("stream", (stream, headers) => {
  stream.on("error", () => {})
  let pendingTrailers: Headers | undefined
  stream.on("wantTrailers", () => stream.sendTrailers(pendingTrailers ?? {}))
  // the client may reset the stream (h2load does at the end of its run) before we answer
  const gone = () => stream.destroyed || stream.closed
  handle({
    path: headers[":path"] ?? "/",
    contentType: headers["content-type"] ?? "",
    onData: (f) => stream.on("data", f),
    onEnd: (f) => stream.on("end", f),
    respond: (status, h, body, trailers) => {
      if (gone()) return
      if (trailers !== undefined) {
        pendingTrailers = trailers
        stream.respond({ ":status": status, ...h }, { waitForTrailers: true })
        stream.end(body)
      } else if (body.length === 0) {
        stream.respond({ ":status": status, ...h }, { endStream: true })
      } else {
        stream.respond({ ":status": status, ...h, "content-length": body.length })
        stream.end(body)
      }
    },
    head: (h) => {
      if (!gone()) stream.respond({ ":status": 200, ...h }, { waitForTrailers: true })
    },
    write: (chunk) => {
      if (!gone()) stream.write(chunk)
    },
    end: (trailers) => {
      pendingTrailers = trailers
      if (!gone()) stream.end()
    }
  })
})

const port = portArg()
listenDual(h1, h2, port, () => ready(port))
