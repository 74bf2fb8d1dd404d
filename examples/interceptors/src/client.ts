/**
 * Client interceptors: one adds the bearer token to every call, one logs each call with its
 * response status and duration. Interceptors are plain values passed to the transport layer.
 */
import * as Effect from "effect/Effect"
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
