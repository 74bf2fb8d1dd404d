/**
 * One HTTP/2 call: a stream on the pool's session for the origin, full duplex, sent once more
 * on a fresh session when the server provably did not process it.
 *
 * @internal
 */
import * as http2 from "node:http2"
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
import type * as SessionPool from "./sessionPool.ts"
import * as Target from "./target.ts"

const noop = (): void => {}

interface Http2Call {
  readonly stream: http2.ClientHttp2Stream | undefined
  readonly response: Effect.Effect<ClientResponse, ConnectError.ConnectError>
  readonly fail: (error: ConnectError.ConnectError) => void
  readonly release: () => void
  /** True when the call failed before the server processed it (safe to send again). */
  readonly unprocessed: () => boolean
}

const settled = (stream: http2.ClientHttp2Stream): boolean => stream.readableEnded || stream.closed || stream.destroyed

const start = (pool: SessionPool.SessionPool, target: Target.Target, request: ClientRequest): Http2Call => {
  const entry = pool.get(target.origin)
  const headers = NodeHeaders.toNode(request.headers) as http2.OutgoingHttpHeaders
  headers[":method"] = request.method
  headers[":path"] = target.path
  const body = request.body
  let stream: http2.ClientHttp2Stream
  // a streaming body ends with an empty DATA frame carrying END_STREAM ('wantTrailers'), so
  // that canceling mid-body sends RST_STREAM without a premature END_STREAM
  const streaming = body !== undefined && !(body instanceof Uint8Array)
  try {
    stream = entry.session.request(headers, { endStream: body === undefined, waitForTrailers: streaming })
  } catch (e) {
    entry.dead = true
    const error = Errors.fromNodeError(e)
    if (error.code === "internal") {
      // e.g. ERR_HTTP2_INVALID_SESSION / GOAWAY races: the connection is unusable
      const unavailable = ConnectError.make("unavailable", error.message)
      return failedCall(ConnectError.notSent(unavailable))
    }
    return failedCall(ConnectError.notSent(error))
  }
  pool.acquire(entry)

  const pending = new PendingResponse.PendingResponse()
  let canceled = false
  let released = false
  let trailers: Headers | undefined

  const streamError = (e: unknown): ConnectError.ConnectError => {
    if (canceled) return Errors.canceledByClient()
    if (pending.failure !== undefined) return pending.failure
    const code = (e as { code?: unknown } | undefined)?.code
    if (code === "ERR_HTTP2_STREAM_ERROR") return sessionGone() ?? Errors.fromRstCode(stream.rstCode)
    return Errors.fromNodeError(e)
  }
  // streams of a session that went away are closed locally with CANCEL: not the server's RST
  const sessionGone = (): ConnectError.ConnectError | undefined =>
    entry.session.destroyed || entry.session.socket?.destroyed === true
      ? ConnectError.make("unavailable", "http/2 connection closed")
      : undefined
  const closedEarly = (): ConnectError.ConnectError => {
    if (canceled) return Errors.canceledByClient()
    if (pending.failure !== undefined) return pending.failure
    const gone = sessionGone()
    if (gone !== undefined) return gone
    const rst = stream.rstCode
    if (rst === undefined || rst === http2.constants.NGHTTP2_NO_ERROR) {
      return ConnectError.make("unavailable", "http/2 stream closed before the response ended")
    }
    return Errors.fromRstCode(rst)
  }

  const reader = new BodyReader(stream, {
    onError: streamError,
    onPrematureClose: closedEarly,
    // Node ends the readable of a stream reset (or of a connection that dropped) mid-response;
    // once the request is fully sent `aborted` stays false, but the reset code tells. A reset
    // with NO_ERROR is how a server ends an exchange whose response is complete while the
    // request is still open (RFC 9113 §8.1): not an abort — the protocol layer still notices a
    // response cut short (missing end-stream message or grpc-status).
    isAborted: () =>
      stream.rstCode !== undefined ? stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR : stream.aborted
  })
  if (streaming) {
    stream.once("wantTrailers", () => {
      if (canceled || pending.failure !== undefined) return
      try {
        stream.sendTrailers({})
      } catch {
        // stream already gone
      }
    })
  }
  const readTrailers = (): Effect.Effect<Headers> =>
    trailers !== undefined
      ? Effect.succeed(trailers)
      // Node emits 'trailers' on a nextTick, and the body's end can be seen first when the
      // trailers frame and the end of stream arrive together: give pending nextTicks one turn
      // (setImmediate runs after them) before concluding there were no trailers.
      : Effect.callback<Headers>((resume) => {
        const t = setImmediate(() => resume(Effect.succeed(trailers ?? new Headers())))
        return Effect.sync(() => clearImmediate(t))
      })

  stream.on("error", (e) => {
    if (pending.response === undefined) pending.fail(streamError(e))
  })
  stream.on("close", () => {
    pool.release(entry)
    if (pending.response === undefined) pending.fail(closedEarly())
  })
  stream.on("trailers", (h: http2.IncomingHttpHeaders) => {
    trailers = NodeHeaders.fromObject(h)
  })
  stream.on("response", (h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader) => {
    pending.succeed({
      status: h[":status"] ?? 0,
      headers: NodeHeaders.fromObject(h),
      body: reader.stream,
      trailers: PendingResponse.trailers(stream, settled, readTrailers),
      readAll: (maxBytes) => reader.readAll(maxBytes)
    })
  })

  if (body instanceof Uint8Array) stream.end(forWrite(body))

  return {
    stream,
    response: pending.await,
    fail: (error) => {
      pending.failure ??= error
      reader.fail(error)
      pending.fail(error)
      if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL)
    },
    unprocessed: () => {
      if (pending.response !== undefined || canceled) return false
      if (stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) return true
      const last = entry.goawayLastStreamId
      return last !== undefined && (stream.id === undefined || stream.id > last)
    },
    release: () => {
      if (released) return
      released = true
      if (stream.destroyed || (stream.readableEnded && stream.writableFinished)) return
      // Node keeps a closed stream (and so its session) until the response is read to its
      // end: drop whatever nobody read
      reader.discard()
      if (stream.closed) return
      canceled = true
      stream.close(http2.constants.NGHTTP2_CANCEL)
    }
  }
}

const failedCall = (error: ConnectError.ConnectError): Http2Call => ({
  stream: undefined,
  response: Effect.fail(error),
  fail: noop,
  release: noop,
  unprocessed: () => true
})

/** One call over the pool: the response once its headers arrived; the stream ends with the scope. */
export const request = (
  pool: SessionPool.SessionPool,
  request: ClientRequest
): Effect.Effect<ClientResponse, ConnectError.ConnectError, Scope.Scope> =>
  Effect.suspend(() => {
    const target = Target.parse(request.url)
    if (ConnectError.isConnectError(target)) return Effect.fail(target)
    if (pool.closed) return Effect.fail(ConnectError.make("unavailable", "the http/2 transport was shut down"))
    const body = request.body
    const attempt = (retries: number): Effect.Effect<ClientResponse, ConnectError.ConnectError, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.sync(() => start(pool, target, request)),
        (call) => Effect.sync(call.release)
      ).pipe(
        Effect.flatMap((call) => {
          if (body === undefined || body instanceof Uint8Array || call.stream === undefined) {
            // a replayable request the server never processed (GOAWAY race, REFUSED_STREAM)
            // is sent once more on a fresh session
            return retries > 0
              ? Effect.catch(call.response, (error) => call.unprocessed() ? attempt(retries - 1) : Effect.fail(error))
              : Effect.catch(call.response, (error) =>
                Effect.fail(call.unprocessed() ? ConnectError.notSent(error) : error))
          }
          return Effect.andThen(Effect.forkScoped(RequestBody.write(body, call.stream, call.fail)), call.response)
        })
      )
    return attempt(1)
  })
