/** One request over node:http or node:http2 (prior knowledge), for probes. */
import * as http from "node:http"
import * as http2 from "node:http2"
import type { Request, Response, Transport } from "./workloads.ts"

const flat = (h: Record<string, unknown>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !k.startsWith(":")) out[k] = Array.isArray(v) ? v.join(", ") : String(v)
  return out
}

export const send = (url: string, transport: Transport, req: Request, timeoutMs = 10_000): Promise<Response> =>
  transport === "h1"
    ? new Promise((resolve, reject) => {
      const r = http.request(`${url}${req.path}`, {
        method: "POST",
        headers: { ...req.headers, "content-length": String(req.body.length) },
        agent: false,
        timeout: timeoutMs
      }, (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: flat(res.headers), trailers: flat(res.trailers), body: Buffer.concat(chunks) }))
        res.on("error", reject)
      })
      r.on("timeout", () => r.destroy(new Error(`timed out after ${timeoutMs} ms`)))
      r.on("error", reject)
      r.end(req.body)
    })
    : new Promise((resolve, reject) => {
      const session = http2.connect(url)
      session.on("error", reject)
      const timer = setTimeout(() => {
        session.destroy()
        reject(new Error(`timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      const s = session.request({ ":method": "POST", ":path": req.path, ...req.headers })
      let headers: Record<string, string> = {}
      let status = 0
      let trailers: Record<string, string> = {}
      const chunks: Array<Buffer> = []
      s.on("response", (h) => {
        status = Number(h[":status"])
        headers = flat(h)
      })
      s.on("trailers", (t) => (trailers = flat(t)))
      s.on("data", (c: Buffer) => chunks.push(c))
      s.on("error", (e) => {
        clearTimeout(timer)
        session.close()
        reject(e)
      })
      s.on("close", () => {
        clearTimeout(timer)
        session.close()
        resolve({ status, headers, trailers, body: Buffer.concat(chunks) })
      })
      s.end(req.body)
    })
