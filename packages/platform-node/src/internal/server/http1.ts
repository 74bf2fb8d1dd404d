/**
 * The HTTP/1.1 side of the server: a `node:http` server that never listens (connections are
 * handed to it), its exchanges, and its answers to requests it could not parse or wait for.
 *
 * @internal
 */
import * as http from "node:http"
import type { Duplex } from "node:stream"
import * as Effect from "effect/Effect"
import * as Http from "@connect-effect/core/Http"
import { BodyReader } from "../body.ts"
import { forWrite } from "../buffer.ts"
import { waitDrain } from "../drain.ts"
import * as NodeHeaders from "../headers.ts"
import * as Exchange from "./exchange.ts"
import * as NodeRequest from "./request.ts"
import * as RequestTimeouts from "./requestTimeouts.ts"
import * as Sweeper from "./sweeper.ts"

/** Settings of the HTTP/1.1 server (defaults resolved). */
export interface Config {
  readonly maxHeaderSize: number
  readonly headersTimeoutMs: number
  readonly keepAliveTimeoutMs: number
}

const noop = (): void => {}

/** A complete HTTP/1.1 error answer with a short text body (as Go's net/http writes them). */
const errorAnswer = (status: string): Buffer =>
  Buffer.from(
    `HTTP/1.1 ${status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${status.length}\r\nconnection: close\r\n\r\n${status}`,
    "latin1"
  )
const BAD_REQUEST = errorAnswer("400 Bad Request")
const REQUEST_TIMEOUT = errorAnswer("408 Request Timeout")
const PAYLOAD_TOO_LARGE = errorAnswer("413 Payload Too Large")
const HEADERS_TOO_LARGE = errorAnswer("431 Request Header Fields Too Large")
/** Connections already answered by {@link onClientError} (the parser keeps failing on later bytes). */
const answered = new WeakSet<object>()

/**
 * The HTTP/1.1 server's `clientError`: a request it could not parse (400; 431 for a header block
 * over `maxHeaderSize`, 413 for oversized chunk extensions) or whose headers did not arrive within
 * `headersTimeoutMs` (408). Answers as Node does by default, then closes; never over a response
 * that has started, nor to a socket that is gone (destroyed at once then). A bad request
 * pipelined behind requests still being answered is answered after them (as Go does); a header
 * timeout there closes at once (the late header block must not start a request).
 */
const onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
  if (answered.has(socket)) return
  const timeout = err.code === "ERR_HTTP_REQUEST_TIMEOUT"
  const inFlight = (socket as { _httpMessage?: http.ServerResponse | null })._httpMessage
  // with a response in flight, the error is in its request's body, or in a request pipelined behind
  const pipelined = inFlight != null && inFlight.req.complete
  if (err.code === "ECONNRESET" || !socket.writable || (inFlight != null && (timeout || (!pipelined && inFlight.headersSent)))) {
    socket.destroy()
    return
  }
  answered.add(socket)
  const answer = timeout
    ? REQUEST_TIMEOUT
    : err.code === "HPE_HEADER_OVERFLOW"
    ? HEADERS_TOO_LARGE
    : err.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW"
    ? PAYLOAD_TOO_LARGE
    : BAD_REQUEST
  if (pipelined) answerWhenIdle(socket, answer)
  else answerAndClose(socket, answer, timeout)
}

/** Waits for the responses in flight on `socket` (Node assigns the next one on 'finish'), then answers. */
const answerWhenIdle = (socket: Duplex, answer: Buffer): void => {
  const inFlight = (socket as { _httpMessage?: http.ServerResponse | null })._httpMessage
  if (inFlight != null) inFlight.once("finish", () => answerWhenIdle(socket, answer))
  else if (socket.writable) answerAndClose(socket, answer, false)
  else socket.destroy()
}

/**
 * Writes `answer` and closes our side. After a parse error the connection stays half-open, reading
 * (and discarding) for at most {@link RequestTimeouts.CUT_AFTER_MS}, so that unread bytes do not
 * turn the close into a reset that loses the answer; after a timeout it is destroyed once the
 * answer is written.
 */
const answerAndClose = (socket: Duplex, answer: Buffer, timeout: boolean): void => {
  socket.end(answer, timeout ? () => socket.destroy() : undefined)
  setTimeout(() => socket.destroy(), RequestTimeouts.CUT_AFTER_MS).unref()
}

/**
 * Serves one HTTP/1.1 request: runs `handler` as one exchange of `state`. Used by the server
 * below and by the request listener of `NodeAdapter` (on servers the user created), which
 * passes `url` when it mounted the routes under a prefix.
 */
export const handle = (
  state: Exchange.State,
  handler: Exchange.Handler,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: string = req.url ?? "/"
): void => {
  res.on("error", noop)
  const reader = new BodyReader(req, {
    ...NodeRequest.bodyOptions,
    onAbandon: () => {
      // the rest of the body stays unread: the connection cannot be reused
      if (!res.headersSent) res.setHeader("connection", "close")
      else req.resume()
    }
  })
  const ex = new Exchange.Exchange(() => writer.end(), () => {
    if (!ex.headSent) {
      ex.headSent = true
      ex.ended = true
      res.writeHead(500, { "content-length": 0 })
      res.end()
    } else {
      ex.ended = true
      res.destroy()
    }
  })
  const end = (trailers: Headers | undefined): void => {
    if (Http.hasHeaders(trailers)) res.addTrailers(NodeHeaders.toNode(trailers) as http.OutgoingHttpHeaders)
    res.end()
    reader.discard()
  }
  const writer = Http.responseWriter({
    head: (status, headers, body) => {
      const out = NodeHeaders.toNode(headers)
      if (state.closing) out["connection"] = "close"
      if (body !== undefined) {
        // a 204 (a CORS preflight answer) must not carry Content-Length (RFC 9110 §8.6)
        if (status !== 204) out["content-length"] = body.byteLength
        res.writeHead(status, out)
        res.end(forWrite(body))
        reader.discard()
      } else {
        res.writeHead(status, out)
      }
    },
    write: (chunk) => res.write(forWrite(chunk)) ? Effect.void : waitDrain(res),
    end,
    endWithoutHead: (trailers) => {
      res.writeHead(
        200,
        Http.hasHeaders(trailers) ? (state.closing ? { connection: "close" } : NodeHeaders.EMPTY) : state.closing
        ? { "content-length": 0, connection: "close" }
        : { "content-length": 0 }
      )
      end(trailers)
    }
  }, ex)
  const request = new NodeRequest.NodeRequest(req.method ?? "GET", url, "1.1", req.rawHeaders, reader, ex, req.socket)
  res.on("close", () => Exchange.onClose(state, ex))
  RequestTimeouts.arm(state.requestTimeouts, req, ex, () => {
    if (!res.headersSent) res.setHeader("connection", "close")
    reader.fail(RequestTimeouts.requestTimeout(state.requestTimeouts.timeoutMs))
    setTimeout(() => req.socket.destroy(), RequestTimeouts.CUT_AFTER_MS).unref()
  })
  Exchange.run(state, handler(request, writer), ex)
}

/**
 * The HTTP/1.1 server serving `handler`. It never listens: connections are handed to it with
 * `emit("connection", socket)`; `close()` it when the server has shut down.
 */
export const make = (state: Exchange.State, handler: Exchange.Handler, config: Config): http.Server => {
  const headersTimeoutMs = config.headersTimeoutMs
  const server = http.createServer({
    maxHeaderSize: config.maxHeaderSize,
    // bodies have their own timeout (requestTimeoutMs, counted from the headers, answered 504)
    requestTimeout: 0,
    headersTimeout: headersTimeoutMs,
    // Node checks every connection's header deadline in one sweep per server, every 30 s by
    // default: here every 1/8 of the timeout (at most 1 s), so it fires at most that late
    connectionsCheckingInterval: headersTimeoutMs > 0 ? Sweeper.periodOf(headersTimeoutMs) : 30_000,
    keepAliveTimeout: config.keepAliveTimeoutMs
  }, (req, res) => handle(state, handler, req, res))
  server.on("clientError", onClientError)
  // the server never listens (connections are handed to it), and Node starts tracking
  // connections and the sweep that enforces headersTimeout on 'listening' (without it, a client
  // trickling its header bytes holds a connection forever): start them as listen() would.
  // Stopped by close() when the server has shut down.
  server.emit("listening")
  return server
}
