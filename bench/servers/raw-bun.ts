/**
 * Ceiling on Bun: a raw Bun.serve echo (HTTP/1.1) that only frames bytes, for Connect unary and
 * streaming and gRPC-Web (request bodies are read whole: Bun.serve is half-duplex).
 *   bun bench/servers/raw-bun.ts --port 8080
 */
import { installAdminHook, portArg, ready } from "./common.ts"
import { connectEndStream, connectErrorBody, envelope, readNumber, readText, splitEnvelopes, writeMessage } from "./rawproto.ts"

declare const Bun: {
  serve(options: { port: number; hostname: string; idleTimeout: number; fetch: (req: Request) => Response | Promise<Response> }): { port: number }
}

const encoder = new TextEncoder()
const webTrailer = (status: number) =>
  envelope(0x80, encoder.encode(status === 0 ? "grpc-status: 0\r\n" : "grpc-status: 3\r\ngrpc-message: number must not be negative\r\n"))
const join = (parts: Array<Uint8Array>): Uint8Array<ArrayBuffer> => {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let i = 0
  for (const p of parts) {
    out.set(p, i)
    i += p.length
  }
  return out
}

const fetch = async (req: Request): Promise<Response> => {
  const ct = req.headers.get("content-type") ?? ""
  const path = new URL(req.url).pathname
  const m = path.slice(path.lastIndexOf("/") + 1)
  const body = new Uint8Array(await req.arrayBuffer())
  if (ct === "application/proto" || ct === "application/json") {
    if (ct === "application/proto" && readNumber(body) < 0n) {
      return new Response(connectErrorBody, { status: 400, headers: { "content-type": "application/json" } })
    }
    return new Response(body, { headers: { "content-type": ct } })
  }
  const web = ct.startsWith("application/grpc-web")
  if (!web && ct !== "application/connect+proto") return new Response(null, { status: 415 })
  const headers = { "content-type": web ? "application/grpc-web+proto" : ct }
  const { messages } = splitEnvelopes(body)
  const tail = web ? webTrailer(0) : connectEndStream
  if (m === "Ping") {
    const data = messages[0]?.data ?? new Uint8Array(0)
    if (readNumber(data) < 0n) return new Response(webTrailer(3), { headers })
    return new Response(join([envelope(0, data), tail]), { headers })
  }
  if (m === "Sum" || m === "CumSum") {
    let sum = 0n
    const parts: Array<Uint8Array> = []
    for (const { data } of messages) {
      sum += readNumber(data)
      if (m === "CumSum") parts.push(envelope(0, writeMessage(sum, readText(data))))
    }
    if (m === "Sum") parts.push(envelope(0, writeMessage(sum, new Uint8Array(0))))
    parts.push(tail)
    return new Response(join(parts), { headers })
  }
  if (m === "CountUp") {
    const data = messages[0]?.data ?? new Uint8Array(0)
    const n = readNumber(data)
    const text = readText(data)
    const parts: Array<Uint8Array> = []
    for (let i = 1n; i <= n; i++) parts.push(envelope(0, writeMessage(i, text)))
    parts.push(tail)
    return new Response(join(parts), { headers })
  }
  return new Response(null, { status: 404 })
}

installAdminHook()
const server = Bun.serve({ port: portArg(), hostname: "127.0.0.1", idleTimeout: 120, fetch })
ready(server.port)
