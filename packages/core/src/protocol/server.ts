import type { DescMethod, DescService } from "@bufbuild/protobuf"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ConnectError from "../ConnectError.ts"
import { isDomainError, toConnectError } from "../DomainError.ts"
import type { Codec } from "../Codec.ts"
import type { Compression } from "../Compression.ts"
import type { HandlerContext } from "../HandlerContext.ts"
import type { Peer, ProtocolName, ServerRequest } from "../Http.ts"
import type { ServerInterceptor } from "../Interceptor.ts"
import { CurrentCall } from "../HandlerContext.ts"
import { appendField } from "../internal/headerList.ts"
import { isProtocolHeader } from "../internal/headers.ts"

/** A handler of any kind, untyped (the router checks kinds when routes are built). */
export type AnyHandler = (input: any, context: HandlerContext) => any

/**
 * One method route: descriptor, handler (undefined → unimplemented; already wrapped in the
 * message-level sides of its interceptors), and the interceptors with an `intercept` side,
 * outermost first.
 */
export interface Route {
  readonly service: DescService
  readonly method: DescMethod
  readonly path: string
  readonly handler: AnyHandler | undefined
  readonly interceptors: ReadonlyArray<ServerInterceptor<any, any, any>>
  /** The context the handler's implementation captured when it was built (see `Router.captureContext`). */
  readonly context?: Context.Context<never> | undefined
}

/** Resolved server configuration shared by all protocols. */
export interface ServerConfig {
  readonly readMaxBytes: number
  readonly writeMaxBytes: number
  readonly compressMinBytes: number
  readonly compressions: ReadonlyArray<Compression>
  readonly proto: Codec
  readonly json: Codec
  readonly requireConnectProtocolHeader: boolean
}

const noDeadline = (): number | undefined => undefined

/**
 * The context of one call. Response headers and trailers are created when a handler or an
 * interceptor first reads them (most calls never do): {@link sentHeaders} and
 * {@link sentTrailers} give the protocols what was set without creating them.
 */
class CallContext implements HandlerContext {
  readonly method: DescMethod
  readonly protocol: ProtocolName
  readonly httpMethod: string
  readonly url: string
  readonly request: ServerRequest
  readonly timeoutMs: number | undefined
  readonly timeRemaining: () => number | undefined
  headers_: Headers | undefined = undefined
  trailers_: Headers | undefined = undefined
  /** The clock deadlines are read from: the call's fiber's `Clock` once {@link around} runs it. */
  clock: Clock.Clock | undefined = undefined
  started: number
  constructor(method: DescMethod, protocol: ProtocolName, request: ServerRequest, timeoutMs: number | undefined) {
    this.method = method
    this.protocol = protocol
    this.httpMethod = request.method
    this.url = request.url
    this.request = request
    this.timeoutMs = timeoutMs
    this.started = timeoutMs === undefined ? 0 : Date.now()
    this.timeRemaining = timeoutMs === undefined ? noDeadline : () => Math.max(0, this.started + timeoutMs - this.now())
  }
  /** Absolute deadline in epoch milliseconds of the call's clock, or `undefined`. */
  get deadline(): number | undefined {
    return this.timeoutMs === undefined ? undefined : this.started + this.timeoutMs
  }
  now(): number {
    return this.clock === undefined ? Date.now() : this.clock.currentTimeMillisUnsafe()
  }
  /** Counts the deadline on `clock` (a `TestClock` in tests), from now. */
  anchor(clock: Clock.Clock): void {
    this.clock = clock
    this.started = clock.currentTimeMillisUnsafe()
  }
  get requestHeaders(): Headers {
    return this.request.headers
  }
  get peer(): Peer | undefined {
    return this.request.peer?.()
  }
  get responseHeaders(): Headers {
    return (this.headers_ ??= new Headers())
  }
  get responseTrailers(): Headers {
    return (this.trailers_ ??= new Headers())
  }
}

/** One request header by lower-case name, without building the request's `Headers` when the adapter can. */
export const requestHeader = (request: ServerRequest, name: string): string | null =>
  request.header !== undefined ? request.header(name) : request.headers.get(name)

/** Makes the handler context of a call. */
export const makeContext = (
  method: DescMethod,
  protocol: ProtocolName,
  request: ServerRequest,
  timeoutMs: number | undefined
): HandlerContext => new CallContext(method, protocol, request, timeoutMs)

/** The response headers set on a call so far (`undefined` when none were ever asked for). */
export const sentHeaders = (ctx: HandlerContext | undefined): Headers | undefined =>
  ctx === undefined ? undefined : ctx instanceof CallContext ? ctx.headers_ : ctx.responseHeaders

/** The response trailers set on a call so far (`undefined` when none were ever asked for). */
export const sentTrailers = (ctx: HandlerContext | undefined): Headers | undefined =>
  ctx === undefined ? undefined : ctx instanceof CallContext ? ctx.trailers_ : ctx.responseTrailers

/** Converts the failure cause of a handler into the ConnectError to send. */
export const errorFromCause = (cause: Cause.Cause<unknown>): ConnectError.ConnectError => {
  const found = Cause.findError(cause)
  if (found._tag === "Success") {
    return isDomainError(found.success) ? toConnectError(found.success) : ConnectError.from(found.success, "unknown")
  }
  if (Cause.hasInterruptsOnly(cause)) return ConnectError.make("canceled", "the call was canceled")
  const defect = Cause.findDefect(cause)
  if (defect._tag === "Success") return ConnectError.from(defect.success, "internal")
  return ConnectError.make("internal", "the handler failed")
}

/**
 * Sends the ConnectError of a failed call ({@link errorFromCause}), logging the cause first with
 * Effect's logger when it holds a defect (typed failures and interruptions are not logged:
 * they are the client's business). What is sent does not change.
 */
export const sendFailure = <R>(
  cause: Cause.Cause<unknown>,
  method: DescMethod,
  send: (error: ConnectError.ConnectError) => Effect.Effect<void, never, R>
): Effect.Effect<void, never, R> => {
  const error = errorFromCause(cause)
  if (!Cause.hasDies(cause)) return send(error)
  return Effect.andThen(
    Effect.logError("handler defect, answered internal", cause).pipe(
      Effect.annotateLogs({ "rpc.service": method.parent.typeName, "rpc.method": method.name })
    ),
    send(error)
  )
}

/**
 * Applies interceptors (outermost first), provides the current call, and enforces the
 * deadline by interrupting the work (→ `deadline_exceeded`).
 */
export const around = <A>(
  route: Route,
  ctx: HandlerContext,
  timeoutMs: number | undefined,
  work: Effect.Effect<A, ConnectError.ConnectError, any>
): Effect.Effect<A, ConnectError.ConnectError, any> => {
  let eff: Effect.Effect<A, ConnectError.ConnectError, any>
  if (route.interceptors.length === 0 && route.context !== undefined) {
    // nothing runs between the two: one context update instead of two (each keeps a frame,
    // closures and a context on the fiber of an open call)
    const update = beneath(route.context)
    eff = Effect.updateContext(work, (serving: Context.Context<never>) => Context.add(update(serving), CurrentCall, ctx))
  } else {
    eff = Effect.provideService(work, CurrentCall, ctx)
    for (let i = route.interceptors.length - 1; i >= 0; i--) eff = route.interceptors[i]!.intercept!(eff, ctx)
    if (route.context !== undefined) eff = Effect.updateContext(eff, beneath(route.context))
  }
  if (timeoutMs !== undefined) {
    const bounded = Effect.timeoutOrElse(eff, {
      duration: timeoutMs,
      orElse: () => Effect.fail(ConnectError.make("deadline_exceeded", `the call exceeded its deadline of ${timeoutMs}ms`))
    })
    // the deadline the handler reads counts on the same clock that enforces it
    eff = ctx instanceof CallContext
      ? Effect.withFiber((fiber) => {
        ctx.anchor(fiber.getRef(Clock.Clock))
        return bounded
      })
      : bounded
  }
  return eff
}

type ContextUpdate = (serving: Context.Context<never>) => Context.Context<any>

const beneathCache = new WeakMap<Context.Context<never>, ContextUpdate>()

/**
 * Puts a captured context beneath the serving one (whose services win; per-call services are
 * added inside). The merge is cached per serving context, which adapters keep for the server's
 * lifetime, so a call pays a lookup, not a copy.
 */
const beneath = (captured: Context.Context<never>): ContextUpdate => {
  const cached = beneathCache.get(captured)
  if (cached !== undefined) return cached
  const merged = new WeakMap<Context.Context<never>, Context.Context<any>>()
  const update: ContextUpdate = (serving) => {
    let m = merged.get(serving)
    if (m === undefined) {
      m = Context.merge(captured, serving) as Context.Context<any>
      merged.set(serving, m)
    }
    return m
  }
  beneathCache.set(captured, update)
  return update
}

/** The unimplemented error for a method with no handler. */
export const unimplemented = (route: Route) =>
  ConnectError.make("unimplemented", `${route.service.typeName}.${route.method.name} is not implemented`)

/** Copies user headers (not protocol ones) from `source` onto `target`. */
export const addUserHeaders = (target: Headers, source: Headers | undefined): void => {
  if (source === undefined) return
  source.forEach((value, key) => {
    if (!isProtocolHeader(key)) appendField(target, key, value)
  })
}

/**
 * The one message a stream must carry where an interceptor's `stream` side stands in for a single
 * message: the request of a server-streaming handler, the response of a client-streaming one.
 */
const exactlyOne = <A>(stream: Stream.Stream<A, ConnectError.ConnectError>, what: string): Effect.Effect<A, ConnectError.ConnectError> =>
  Effect.flatMap(Stream.runCollect(Stream.take(stream, 2)), (all) =>
    all.length === 1
      ? Effect.succeed(all[0]!)
      : Effect.fail(ConnectError.make("internal", `an interceptor left ${all.length === 0 ? "no" : "more than one"} ${what}`)))

/** Whether two descriptors describe the same method (generated descriptors are shared, copies are not). */
const sameMethod = (a: DescMethod, b: DescMethod): boolean =>
  a === b || (a.name === b.name && a.parent.typeName === b.parent.typeName)

/**
 * Wraps a handler in the message-level sides (`unary`, `stream`) of an interceptor; the handler
 * is returned as it is when the interceptor has none for its kind, or is scoped to another method.
 */
export const wrapHandler = (
  method: DescMethod,
  handler: AnyHandler,
  interceptor: ServerInterceptor<any, any, any>
): AnyHandler => {
  const { stream, unary } = interceptor
  // an interceptor scoped to another method leaves this handler as it is
  if (interceptor.method !== undefined && !sameMethod(interceptor.method, method)) return handler
  switch (method.methodKind) {
    case "unary":
      return unary === undefined ? handler : (request, ctx) => unary((r) => handler(r, ctx), request, ctx)
    case "server_streaming":
      return stream === undefined ? handler : (request, ctx) =>
        stream(
          (requests) => Stream.unwrap(Effect.map(exactlyOne(requests, "request message"), (r) => handler(r, ctx))),
          Stream.succeed(request),
          ctx
        )
    case "client_streaming":
      return stream === undefined ? handler : (requests, ctx) =>
        exactlyOne(
          stream((rs) => Stream.fromEffect(handler(rs, ctx)), requests, ctx) as Stream.Stream<unknown, ConnectError.ConnectError>,
          "response message"
        )
    case "bidi_streaming":
      return stream === undefined ? handler : (requests, ctx) => stream((rs) => handler(rs, ctx), requests, ctx)
  }
}
