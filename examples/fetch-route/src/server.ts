/**
 * What `next start` does for this route, in a few lines: a Node HTTP server that turns each
 * request into a web `Request`, calls the exported `POST` / `GET`, and writes the `Response` back,
 * streaming both bodies.
 *
 *   npm run -w examples/fetch-route server -- --port 3000
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Readable } from "node:stream"
import { GET, POST } from "./app/[service]/[method]/route.ts"

/** Converts a Node request into the web `Request` a route handler receives. */
export const toRequest = (req: http.IncomingMessage): Request => {
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!)
  const controller = new AbortController()
  req.socket.once("close", () => controller.abort())
  const hasBody = req.method !== "GET" && req.method !== "HEAD"
  return new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
    method: req.method ?? "GET",
    headers,
    signal: controller.signal,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: "half" } : {})
  } as RequestInit)
}

/** Writes a web `Response` to a Node response, streaming its body. */
export const writeResponse = async (response: Response, res: http.ServerResponse): Promise<void> => {
  res.writeHead(response.status, Object.fromEntries(response.headers))
  if (response.body === null) return void res.end()
  const reader = response.body.getReader()
  res.once("close", () => reader.cancel().catch(() => {}))
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    if (!res.write(next.value)) await new Promise((resolve) => res.once("drain", resolve))
  }
  res.end()
}

/** A server routing every request to the route handler. */
export const createServer = () =>
  http.createServer((req, res) => {
    const route = req.method === "GET" ? GET : req.method === "POST" ? POST : undefined
    if (route === undefined) return void res.writeHead(405, { allow: "GET, POST" }).end()
    route(toRequest(req)).then((response) => writeResponse(response, res)).catch(() => res.destroy())
  })

/** Listens on `port` (0: a free one) and returns the base URL. */
export const listen = (server: http.Server, port: number): Promise<string> =>
  new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))
  )

if (import.meta.main) {
  const portIndex = process.argv.indexOf("--port")
  const server = createServer()
  listen(server, portIndex === -1 ? 3000 : Number(process.argv[portIndex + 1])).then((url) =>
    console.log(`Eliza route handler on ${url}`)
  )
}
