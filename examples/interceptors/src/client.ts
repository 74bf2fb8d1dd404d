/**
 * Client interceptors: one adds the bearer token to every call, one logs each call with its
 * response status and duration, one logs every response message and how each stream ended.
 * Interceptors are plain values passed to the transport layer.
 */
import { type DescMethod, type Message, toJsonString } from "@bufbuild/protobuf"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Interceptor from "@connect-effect/core/Interceptor"

/** Adds `authorization: Bearer <token>` to every request. */
export const bearer = (token: string) =>
  Interceptor.client((next, request) => {
    request.headers.set("authorization", `Bearer ${token}`)
    return next
  })

/**
 * Logs `<Method> <outcome> <ms>` for each call through `write`. For streaming calls the
 * interceptor sees the exchange up to the response headers.
 */
export const logging = (write: (line: string) => void) =>
  Interceptor.client((next, request) =>
    Effect.suspend(() => {
      const start = Date.now()
      return next.pipe(
        Effect.tap((response) =>
          Effect.sync(() =>
            write(`${request.method.name} ok (${response.headers.get("x-served-by") ?? "?"}) ${Date.now() - start}ms`)
          )
        ),
        Effect.tapError((error) => Effect.sync(() => write(`${request.method.name} ${error.code} ${Date.now() - start}ms`)))
      )
    })
  )

const json = (method: DescMethod, message: Message) => toJsonString(method.output, message)

/**
 * Logs `<Method> <- <message as JSON>` for every response message: the one of a unary call, and
 * each message of a streaming response as the caller reads it, then `<Method> end` with the
 * trailers' names, or `<Method> failed <code>`. It sees the messages themselves, so it could as
 * well validate, count, redact or replace them.
 */
export const messages = (write: (line: string) => void) =>
  Interceptor.clientCall({
    unary: (next, request) =>
      Effect.tap(next(request), (response) => Effect.sync(() => write(`${request.method.name} <- ${json(request.method, response.message)}`))),
    stream: (next, request) =>
      Effect.map(next(request), (response) => ({
        ...response,
        messages: response.messages.pipe(
          Stream.tap((message) => Effect.sync(() => write(`${request.method.name} <- ${json(request.method, message)}`))),
          Stream.onExit((exit) =>
            Effect.sync(() =>
              write(
                exit._tag === "Success"
                  ? `${request.method.name} end, trailers: ${[...response.trailers.keys()].join(", ") || "none"}`
                  : `${request.method.name} failed`
              )
            )
          )
        )
      }))
  })
