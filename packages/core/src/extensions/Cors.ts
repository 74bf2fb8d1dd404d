/**
 * CORS for browser clients of Connect, gRPC-Web (and gRPC): a preset of the request headers
 * the protocols send and the response headers their clients must read, answered preflights and
 * decorated responses. Pass it as the `cors` option of a router's server options
 * (`NodeServer.layerRouter`, `BunServer.layerRouter`, `FetchHandler.fromRouter`,
 * `Router.toHttpHandler`), or wrap any HTTP handler with {@link middleware}.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type { HttpHandler, ResponseWriter, ServerRequest } from "../Http.ts"
import { responseWriter } from "../Http.ts"
import { HeaderList } from "../internal/headerList.ts"

/**
 * Methods the protocols use: POST for every call, GET for Connect side-effect-free unary calls.
 *
 * @category constants
 * @since 0.1.0
 */
export const allowedMethods: ReadonlyArray<string> = ["POST", "GET"]

/**
 * Request headers the Connect, gRPC-Web and gRPC clients send (browsers must be allowed to send
 * them cross-origin). Lower-case.
 *
 * @category constants
 * @since 0.1.0
 */
export const allowedHeaders: ReadonlyArray<string> = [
  "content-type",
  "connect-protocol-version",
  "connect-timeout-ms",
  "connect-content-encoding",
  "connect-accept-encoding",
  "content-encoding",
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-message-type",
  "x-grpc-web",
  "x-user-agent",
  // W3C trace context, sent by clients with tracing on (connect-effect's Telemetry.layerClient)
  "traceparent",
  "tracestate"
]

/**
 * Response headers the clients read (browsers hide everything else from scripts cross-origin).
 * gRPC-Web needs `grpc-status` and `grpc-message` to see the status of trailers-only responses.
 * Lower-case.
 *
 * @category constants
 * @since 0.1.0
 */
export const exposedHeaders: ReadonlyArray<string> = [
  "grpc-status",
  "grpc-message",
  "grpc-status-details-bin",
  "grpc-encoding",
  "grpc-accept-encoding",
  "connect-content-encoding",
  "connect-accept-encoding",
  "content-encoding"
]

/**
 * Which origins may call: `"*"` (any), a list of exact origins, or a predicate.
 *
 * @category models
 * @since 0.1.0
 */
export type AllowedOrigins = "*" | ReadonlyArray<string> | ((origin: string) => boolean)

/**
 * Options of the CORS policy.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options {
  /** Origins allowed to call, e.g. `["https://app.example.com"]` (the `Origin` header, scheme://host[:port]). */
  readonly allowedOrigins: AllowedOrigins
  /**
   * Lets browsers send cookies / HTTP authentication (`credentials: "include"`): answers
   * `Access-Control-Allow-Credentials: true` and echoes the allowed origin. Requires a list or a
   * predicate of origins: with `allowedOrigins: "*"` any website could make calls carrying your
   * users' cookies, so {@link make} refuses that combination.
   */
  readonly allowCredentials?: boolean | undefined
  /** How long browsers may cache a preflight answer, in seconds (default 7200; browsers cap it). */
  readonly maxAgeSeconds?: number | undefined
  /**
   * Extra request headers your clients send (`authorization`, `x-request-id`, …), added to
   * {@link allowedHeaders}; `"*"` allows whatever the preflight asks for.
   */
  readonly allowedHeaders?: ReadonlyArray<string> | "*" | undefined
  /**
   * Extra response headers your clients read, added to {@link exposedHeaders}: response headers
   * and error metadata of your handlers, and Connect unary trailers (sent as `trailer-<name>`).
   */
  readonly exposedHeaders?: ReadonlyArray<string> | undefined
  /** Methods allowed (default {@link allowedMethods}). */
  readonly allowedMethods?: ReadonlyArray<string> | undefined
}

/**
 * A resolved policy: what {@link preflight} and {@link responseHeaders} answer.
 *
 * @category models
 * @since 0.1.0
 */
export interface Policy {
  readonly isAllowed: (origin: string) => boolean
  /** Whether any origin is allowed (answered with `*` unless credentials are allowed). */
  readonly anyOrigin: boolean
  readonly allowCredentials: boolean
  readonly allowMethods: ReadonlySet<string>
  readonly allowMethodsValue: string
  /** `undefined`: reflect the requested headers. */
  readonly allowHeadersValue: string | undefined
  readonly exposeHeadersValue: string
  readonly maxAge: string
}

const unique = (values: Iterable<string>): Array<string> => Array.from(new Set(Array.from(values, (v) => v.trim().toLowerCase()))).filter((v) => v.length > 0)

/**
 * Resolves options into a policy.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Policy => {
  const origins = options.allowedOrigins
  if (origins === "*" && options.allowCredentials === true) {
    throw new TypeError(
      "Cors: allowCredentials cannot be combined with allowedOrigins \"*\" (any website could call with your users' credentials); list the origins or pass a predicate"
    )
  }
  const isAllowed: (origin: string) => boolean = origins === "*"
    ? () => true
    : typeof origins === "function"
    ? origins
    : ((set: ReadonlySet<string>) => (origin: string) => set.has(origin.toLowerCase()))(
      // an origin has no path: "https://app.example.com/" is written for "https://app.example.com"
      new Set(origins.map((o) => o.toLowerCase().replace(/\/+$/, "")))
    )
  const methods = unique(options.allowedMethods ?? allowedMethods).map((m) => m.toUpperCase())
  const extraHeaders = options.allowedHeaders
  return {
    isAllowed,
    anyOrigin: origins === "*",
    allowCredentials: options.allowCredentials === true,
    allowMethods: new Set(methods),
    allowMethodsValue: methods.join(", "),
    allowHeadersValue: extraHeaders === "*" ? undefined : unique([...allowedHeaders, ...(extraHeaders ?? [])]).join(", "),
    exposeHeadersValue: unique([...exposedHeaders, ...(options.exposedHeaders ?? [])]).join(", "),
    maxAge: String(Math.max(0, Math.floor(options.maxAgeSeconds ?? 7200)))
  }
}

const PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

/**
 * Whether a request is a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`).
 *
 * @category predicates
 * @since 0.1.0
 */
export const isPreflight = (method: string, headers: Headers): boolean =>
  method === "OPTIONS" && headers.has("origin") && headers.has("access-control-request-method")

const allowOrigin = (policy: Policy, origin: string): string =>
  policy.anyOrigin && !policy.allowCredentials ? "*" : origin

/**
 * The answer to a preflight: status 204 and its headers. An origin or method not allowed gets
 * no `Access-Control-*` headers, so the browser refuses the call.
 *
 * @category utils
 * @since 0.1.0
 */
export const preflight = (policy: Policy, headers: Headers): { readonly status: number; readonly headers: Headers } => {
  const out = new Headers({ vary: PREFLIGHT_VARY })
  const origin = headers.get("origin")
  const method = headers.get("access-control-request-method")?.trim().toUpperCase()
  if (origin === null || method === undefined || !policy.isAllowed(origin) || !policy.allowMethods.has(method)) {
    return { status: 204, headers: out }
  }
  out.set("access-control-allow-origin", allowOrigin(policy, origin))
  if (policy.allowCredentials) out.set("access-control-allow-credentials", "true")
  out.set("access-control-allow-methods", policy.allowMethodsValue)
  const requested = headers.get("access-control-request-headers")
  const allowHeaders = policy.allowHeadersValue ?? requested ?? ""
  if (allowHeaders.length > 0) out.set("access-control-allow-headers", allowHeaders)
  out.set("access-control-max-age", policy.maxAge)
  return { status: 204, headers: out }
}

/**
 * Adds the CORS headers of an actual (non-preflight) response to `headers`, for a request from
 * `origin` (`null`: no `Origin` header). Disallowed origins get only `Vary: Origin`.
 *
 * @category utils
 * @since 0.1.0
 */
export const responseHeaders = (policy: Policy, origin: string | null, headers: Headers): void => {
  if (!(policy.anyOrigin && !policy.allowCredentials)) appendVary(headers, "Origin")
  if (origin === null || !policy.isAllowed(origin)) return
  headers.set("access-control-allow-origin", allowOrigin(policy, origin))
  if (policy.allowCredentials) headers.set("access-control-allow-credentials", "true")
  headers.set("access-control-expose-headers", policy.exposeHeadersValue)
}

const appendVary = (headers: Headers, value: string): void => {
  const current = headers.get("vary")
  if (current === null) headers.set("vary", value)
  else if (!current.toLowerCase().split(",").some((v) => v.trim() === value.toLowerCase())) headers.set("vary", `${current}, ${value}`)
}

/** A writer that adds the CORS headers to whatever response the handler writes. */
const decorate = (policy: Policy, origin: string | null, writer: ResponseWriter): ResponseWriter => {
  const head = (status: number, headers: Headers, body?: Uint8Array) => {
    const out = new HeaderList()
    out.addAll(headers)
    responseHeaders(policy, origin, out)
    if (body === undefined) writer.head(status, out)
    else writer.head(status, out, body)
  }
  return responseWriter({
    head,
    write: (chunk) => writer.write(chunk),
    end: (trailers) => writer.end(trailers),
    // the adapter's capability passes through: without trailers, the router answers gRPC with 415
    trailers: writer.trailers,
    // the CORS headers go out with the head: an end without one sends it here
    endWithoutHead: (trailers) => {
      if (trailers === undefined) return head(200, new Headers(), EMPTY)
      head(200, new Headers())
      writer.end(trailers)
    }
  })
}

const EMPTY = new Uint8Array(0)

/**
 * Wraps an HTTP handler with a CORS policy: preflights are answered 204 without reaching the
 * handler, and responses to allowed origins carry `Access-Control-Allow-Origin` and
 * `Access-Control-Expose-Headers`. Requests without an `Origin` header pass through untouched
 * (except a `Vary: Origin` on GET responses, which caches may store).
 *
 * @category combinators
 * @since 0.1.0
 */
export const middleware: {
  (options: Options | Policy): <R>(handler: HttpHandler<R>) => HttpHandler<R>
  <R>(handler: HttpHandler<R>, options: Options | Policy): HttpHandler<R>
} = dual(2, <R>(handler: HttpHandler<R>, options: Options | Policy): HttpHandler<R> => {
  const policy = "isAllowed" in options ? options : make(options)
  return (request: ServerRequest, writer: ResponseWriter) => {
    const headers = request.headers
    if (request.method === "OPTIONS" && isPreflight(request.method, headers)) {
      return Effect.sync(() => {
        const answer = preflight(policy, headers)
        writer.head(answer.status, answer.headers, new Uint8Array(0))
      })
    }
    const origin = headers.get("origin")
    if (origin === null && request.method !== "GET") return handler(request, writer)
    return handler(request, decorate(policy, origin, writer))
  }
})
