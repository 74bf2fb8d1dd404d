/**
 * One HTTP/1.1 call over `node:http` / `node:https` with the transport's keep-alive agents.
 *
 * @internal
 */
import * as http from "node:http"
import * as https from "node:https"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ConnectError from "@connect-effect/core/ConnectError"
import type { ClientRequest, ClientResponse } from "@connect-effect/core/Http"
import { BodyReader } from "../body.ts"
import { forWrite } from "../buffer.ts"
import * as NodeHeaders from "../headers.ts"
import * as Errors from "./errors.ts"
import * as PendingResponse from "./pendingResponse.ts"
import * as RequestBody from "./requestBody.ts"
import * as Target from "./target.ts"

/** The keep-alive agents of a transport, by scheme. */
export interface Agents {
  readonly http: http.Agent
  readonly https: https.Agent
}

interface Http1Call {
  readonly req: http.ClientRequest
  readonly response: Effect.Effect<ClientResponse, ConnectError.ConnectError>
  /** Aborts the exchange with an error of the request body. */
  readonly fail: (error: ConnectError.ConnectError) => void
  readonly release: () => void
}

const isComplete = (incoming: http.IncomingMessage): boolean => incoming.complete
const readTrailers = (incoming: http.IncomingMessage): Effect.Effect<Headers> =>
  Effect.succeed(NodeHeaders.fromRaw(incoming.rawTrailers))

const start = (agents: Agents, target: Target.Target, request: ClientRequest): Http1Call => {
  const headers = NodeHeaders.toNode(request.headers)
  const body = request.body
  if (body instanceof Uint8Array && headers["content-length"] === undefined) {
    headers["content-length"] = body.byteLength
  }
  const options: http.RequestOptions = {
    method: request.method,
    hostname: target.hostname,
    port: target.port,
    path: target.path,
    headers
  }
  const req = target.https
    ? https.request({ ...options, agent: agents.https })
    : http.request({ ...options, agent: agents.http })

  const pending = new PendingResponse.PendingResponse()
  let res: http.IncomingMessage | undefined
  let reader: BodyReader | undefined
  let canceled = false
  let requestFinished = false
  let released = false

  req.on("error", (error) => {
    if (res === undefined) pending.fail(canceled ? Errors.canceledByClient() : Errors.fromNodeError(error))
  })
  req.on("close", () => {
    if (res === undefined) pending.fail(canceled ? Errors.canceledByClient() : ConnectError.make("unavailable", "socket hang up"))
  })
  req.on("finish", () => {
    requestFinished = true
  })
  req.on("response", (incoming: http.IncomingMessage) => {
    res = incoming
    reader = new BodyReader(incoming, {
      deferEnd: true,
      onError: (e) => (canceled ? Errors.canceledByClient() : pending.failure ?? Errors.fromNodeError(e)),
      onPrematureClose: () =>
        canceled
          ? Errors.canceledByClient()
          : pending.failure ?? ConnectError.make("unavailable", "connection closed before the response ended")
    })
    const bodyReader = reader
    pending.succeed({
      status: incoming.statusCode ?? 0,
      headers: NodeHeaders.fromRaw(incoming.rawHeaders),
      body: reader.stream,
      trailers: PendingResponse.trailers(incoming, isComplete, readTrailers),
      readAll: (maxBytes) => bodyReader.readAll(maxBytes)
    })
  })

  if (body === undefined) req.end()
  else if (body instanceof Uint8Array) req.end(forWrite(body))
  else req.flushHeaders()

  return {
    req,
    response: pending.await,
    fail: (error) => {
      pending.failure ??= error
      reader?.fail(error)
      pending.fail(error)
      req.destroy()
    },
    release: () => {
      if (released) return
      released = true
      if (res !== undefined && res.complete && requestFinished) {
        // the exchange is over: let the socket go back to the pool
        if (!res.readableEnded) res.resume()
        return
      }
      canceled = true
      pending.failure ??= Errors.canceledByClient()
      req.destroy()
    }
  }
}

/** One call over the agents: the response once its headers arrived; the exchange ends with the scope. */
export const request = (
  agents: Agents,
  request: ClientRequest
): Effect.Effect<ClientResponse, ConnectError.ConnectError, Scope.Scope> =>
  Effect.suspend(() => {
    const target = Target.parse(request.url)
    if (ConnectError.isConnectError(target)) return Effect.fail(target)
    return Effect.acquireRelease(
      Effect.sync(() => start(agents, target, request)),
      (call) => Effect.sync(call.release)
    ).pipe(
      Effect.flatMap((call) => {
        const body = request.body
        if (body === undefined || body instanceof Uint8Array) return call.response
        return Effect.andThen(Effect.forkScoped(RequestBody.write(body, call.req, call.fail)), call.response)
      })
    )
  })
