/**
 * The client side of the Connect protocol.
 */
import type { DescMethod, Message } from "@bufbuild/protobuf"
import { base64Encode } from "@bufbuild/protobuf/wire"
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import type { CallOptions } from "../CallOptions.ts"
import * as Code from "../Code.ts"
import type { Compression } from "../Compression.ts"
import * as ConnectError from "../ConnectError.ts"
import * as Envelope from "../Envelope.ts"
import type { StreamResponse, UnaryResponse } from "../Interceptor.ts"
import {
  BODY_HEADROOM,
  type ClientConfig,
  type ClientProtocol,
  mergeMeta,
  readAll,
  readResponseBody,
  requestFrames
} from "../protocol/client.ts"
import { responseCompression as findResponseCompression, setAcceptEncoding } from "../protocol/compressionNegotiation.ts"
import { decodeMessage, readEnvelope, readEnvelopes, writePayload } from "../protocol/pipeline.ts"
import { allowsGet, endStreamFromJson, errorFromJson, parseContentType, PROTOCOL_VERSION } from "./wire.ts"

const splitTrailers = (headers: Headers): { headers: Headers; trailers: Headers } => {
  const h = new Headers()
  const t = new Headers()
  headers.forEach((value, key) => {
    if (key.startsWith("trailer-")) t.append(key.slice(8), value)
    else h.append(key, value)
  })
  return { headers: h, trailers: t }
}

/** Sends a unary request over Connect (POST, or GET for side-effect-free methods when configured) and reads the whole response. */
const unary: ClientProtocol["unary"] = (http, config, request, timeoutMs, options) =>
  Effect.suspend(() => {
    const method = request.method
    const useGet = config.useHttpGet && allowsGet(method)
    return writePayload(config.codec, method.input, request.message, config.sendCompression, config, (payload, compression) => {
      const h = new Headers()
      request.headers.forEach((v, k) => h.append(k, v))
      if (timeoutMs !== undefined) h.set("connect-timeout-ms", String(timeoutMs))
      setAcceptEncoding(h, "accept-encoding", config.compressions)
      let target = request.url
      if (useGet) {
        const q = new URLSearchParams()
        q.set("connect", "v1")
        q.set("encoding", config.codec.name)
        if (compression !== undefined) q.set("compression", compression.name)
        q.set("base64", "1")
        q.set("message", base64Encode(payload, "url"))
        target = `${request.url}?${q.toString()}`
      } else {
        h.set("content-type", `application/${config.codec.name}`)
        h.set("connect-protocol-version", PROTOCOL_VERSION)
        if (compression !== undefined) h.set("content-encoding", compression.name)
      }
      return Effect.scoped(Effect.flatMap(
        http.request({ method: useGet ? "GET" : "POST", url: target, headers: h, body: useGet ? undefined : payload }),
        (response) => {
          const { headers: responseHeaders, trailers } = splitTrailers(response.headers)
          options?.onHeaders?.(responseHeaders)
          const compression = (() => {
            try {
              return { ok: findResponseCompression(response.headers.get("content-encoding") || null, config.compressions) }
            } catch (e) {
              return { error: ConnectError.from(e, "internal") }
            }
          })()
          if ("error" in compression) return Effect.fail(compression.error!)
          // a compressed body may be a little larger than its message (incompressible bytes): some
          // room, but never unbounded; what it inflates to is bounded by readMaxBytes too, error
          // bodies included (a bomb in an error response must not exhaust the client)
          const readLimit = compression.ok === undefined ? config.readMaxBytes : config.readMaxBytes + BODY_HEADROOM
          return Effect.flatMap(readResponseBody(response, readLimit, config.readMaxBytes), (raw) => {
            const decompressed = compression.ok === undefined
              ? Effect.succeed(raw)
              : compression.ok.decompress(raw, config.readMaxBytes)
            return Effect.flatMap(decompressed, (bytes): Effect.Effect<UnaryResponse, ConnectError.ConnectError> => {
              options?.onTrailers?.(trailers)
              if (response.status !== 200) {
                return Effect.fail(unaryErrorFromResponse(response.status, response.headers, bytes, responseHeaders, trailers))
              }
              const ct = parseContentType(response.headers.get("content-type"))
              if (ct === undefined || ct.stream || ct.codec !== config.codec.name) {
                return Effect.fail(
                  ConnectError.make(
                    contentTypeMismatchCode(response.headers.get("content-type")),
                    `protocol error: unexpected content-type ${JSON.stringify(response.headers.get("content-type"))}`,
                    { metadata: mergeMeta(responseHeaders, trailers) }
                  )
                )
              }
              let message: Message
              try {
                message = decodeMessage(config.codec, method.output, bytes, "internal")
              } catch (e) {
                return Effect.fail(ConnectError.from(e, "internal"))
              }
              return Effect.succeed({ stream: false, headers: responseHeaders, trailers, message })
            })
          })
        }
      ))
    })
  })

const textDecoder = new TextDecoder()

/** A response content type that is not ours: `unknown` when it is not an application type at all, else `internal`. */
const contentTypeMismatchCode = (value: string | null): Code.Code =>
  value !== null && value.toLowerCase().startsWith("application/") ? "internal" : "unknown"

const unaryErrorFromResponse = (
  status: number,
  rawHeaders: Headers,
  body: Uint8Array,
  headers: Headers,
  trailers: Headers
): ConnectError.ConnectError => {
  const metadata = mergeMeta(headers, trailers)
  const ct = rawHeaders.get("content-type")
  if (ct !== null && ct.toLowerCase().startsWith("application/json")) {
    try {
      const json: unknown = JSON.parse(textDecoder.decode(body))
      const parsed = errorFromJson(json, metadata)
      if (parsed !== undefined) return parsed
      const message = typeof json === "object" && json !== null && typeof (json as { message?: unknown }).message === "string"
        ? (json as { message: string }).message
        : `HTTP ${status}`
      return ConnectError.make(Code.fromHttpStatus(status), message, { metadata })
    } catch {
      // fall through to the HTTP status
    }
  }
  return ConnectError.make(Code.fromHttpStatus(status), `HTTP ${status}`, { metadata })
}

/** Sends a streaming request over Connect; succeeds when the response headers arrive. */
const stream: ClientProtocol["stream"] = (http, config, request, timeoutMs, options) =>
  Effect.suspend(() => {
    const method = request.method
    const compression = config.sendCompression
    const h = new Headers()
    request.headers.forEach((v, k) => h.append(k, v))
    h.set("content-type", `application/connect+${config.codec.name}`)
    h.set("connect-protocol-version", PROTOCOL_VERSION)
    if (timeoutMs !== undefined) h.set("connect-timeout-ms", String(timeoutMs))
    if (compression !== undefined) h.set("connect-content-encoding", compression.name)
    setAcceptEncoding(h, "connect-accept-encoding", config.compressions)
    const body = requestFrames(request.messages, config, method)
    return Effect.flatMap(http.request({ method: "POST", url: request.url, headers: h, body }), (response) => {
      options?.onHeaders?.(response.headers)
      if (response.status !== 200) {
        return Effect.flatMap(Effect.orElseSucceed(readAll(response.body, 64 * 1024), () => new Uint8Array(0)), (bytes) => {
          options?.onTrailers?.(new Headers())
          return Effect.fail(unaryErrorFromResponse(response.status, response.headers, bytes, response.headers, new Headers()))
        })
      }
      const ct = parseContentType(response.headers.get("content-type"))
      if (ct === undefined || !ct.stream || ct.codec !== config.codec.name) {
        options?.onTrailers?.(new Headers())
        return Effect.fail(
          ConnectError.make(
            contentTypeMismatchCode(response.headers.get("content-type")),
            `protocol error: unexpected content-type ${JSON.stringify(response.headers.get("content-type"))}`,
            { metadata: response.headers }
          )
        )
      }
      let responseCompression: Compression | undefined
      try {
        responseCompression = findResponseCompression(response.headers.get("connect-content-encoding") || null, config.compressions)
      } catch (e) {
        return Effect.fail(ConnectError.from(e, "internal"))
      }
      const trailers = new Headers()
      const messages = readStreamResponse(response.body, config, method, responseCompression, response.headers, trailers, options)
      return Effect.succeed<StreamResponse>({ stream: true, headers: response.headers, trailers, messages })
    })
  })

const readStreamResponse = (
  body: Stream.Stream<Uint8Array, ConnectError.ConnectError>,
  config: ClientConfig,
  method: DescMethod,
  compression: Compression | undefined,
  headers: Headers,
  trailers: Headers,
  options: CallOptions | undefined
): Stream.Stream<Message, ConnectError.ConnectError> =>
  Stream.transformPull(
    readEnvelopes("client", config.readMaxBytes)(body),
    (upstream) =>
      Effect.sync(() => {
        let ended = false
        // the end-stream error is raised after the messages that came before it are emitted
        let endError: ConnectError.ConnectError | undefined
        const onDone = (): Effect.Effect<never, ConnectError.ConnectError | Cause.Done> => {
          if (ended) return endError !== undefined ? Effect.fail(endError) : Cause.done()
          options?.onTrailers?.(new Headers())
          return Effect.fail(ConnectError.make("internal", "protocol error: missing end-stream message", { metadata: headers }))
        }
        const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<Message>, ConnectError.ConnectError> = Effect.flatMap(
          Pull.catchDone(upstream, onDone),
          (envelopes) => {
            if (ended) {
              return Effect.fail(ConnectError.make("internal", "protocol error: received data after end-stream message"))
            }
            const out: Array<unknown> = []
            const pending: Array<Effect.Effect<unknown, ConnectError.ConnectError>> = []
            for (const env of envelopes) {
              if (ended) {
                return Effect.fail(ConnectError.make("internal", "protocol error: received data after end-stream message"))
              }
              const data = env.data
              if ((env.flags & Envelope.FLAG_COMPRESSED) !== 0 && compression === undefined) {
                return Effect.fail(ConnectError.make("internal", "protocol error: received a compressed message without connect-content-encoding"))
              }
              if ((env.flags & Envelope.FLAG_END_STREAM) !== 0) {
                ended = true
                const handleEnd = (bytes: Uint8Array) => {
                  let end: { readonly trailers: Headers; readonly error: ConnectError.ConnectError | undefined }
                  try {
                    end = endStreamFromJson(bytes)
                  } catch (e) {
                    endError = ConnectError.from(e, "internal")
                    return Effect.succeed(undefined)
                  }
                  end.trailers.forEach((v, k) => trailers.append(k, v))
                  options?.onTrailers?.(end.trailers)
                  if (end.error !== undefined) {
                    const meta = mergeMeta(headers, end.trailers)
                    endError = ConnectError.withMetadata(
                      ConnectError.make(end.error.code, end.error.message, { details: end.error.details }),
                      meta
                    )
                  }
                  return Effect.succeed(undefined)
                }
                pending.push(
                  (env.flags & Envelope.FLAG_COMPRESSED) !== 0
                    ? Effect.flatMap(compression!.decompress(data, config.readMaxBytes), handleEnd)
                    : handleEnd(data)
                )
                continue
              }
              if (pending.length > 0 || (env.flags & Envelope.FLAG_COMPRESSED) !== 0) {
                // checked above: a compressed envelope has its compression
                const read = readEnvelope(env, compression, config.codec, method.output, config.readMaxBytes, "client", "connect-content-encoding")
                pending.push(read as Effect.Effect<unknown, ConnectError.ConnectError>)
                continue
              }
              try {
                out.push(decodeMessage(config.codec, method.output, data, "internal"))
              } catch (e) {
                return Effect.fail(ConnectError.from(e, "internal"))
              }
            }
            if (pending.length === 0) {
              return out.length > 0 ? Effect.succeed(out as unknown as Arr.NonEmptyReadonlyArray<Message>) : pull
            }
            return Effect.flatMap(Effect.forEach(pending, (e) => e), (results) => {
              for (const r of results) if (r !== undefined) out.push(r)
              return out.length > 0 ? Effect.succeed(out as unknown as Arr.NonEmptyReadonlyArray<Message>) : pull
            })
          }
        )
        return pull
      })
  )

/** The client side of Connect. */
export const connectClient: ClientProtocol = { name: "connect", unary, stream }
