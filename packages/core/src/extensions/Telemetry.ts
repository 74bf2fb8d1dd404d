/**
 * Telemetry: a span around every RPC, on the server and on the client, through Effect's own
 * `Tracer` (export them with `@effect/opentelemetry` or any other tracer), following the
 * OpenTelemetry RPC semantic conventions, with W3C trace context (`traceparent`, `tracestate`)
 * carried in the request headers so that one trace spans client and server.
 *
 * Opt-in: add {@link server} to a router with `Router.intercept`, and provide {@link layerClient}
 * between a generated client and its transport. Calls that go through neither pay nothing.
 *
 * @since 0.1.0
 */
import type { DescMethod } from "@bufbuild/protobuf"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type { CallOptions } from "../CallOptions.ts"
import * as Code from "../Code.ts"
import * as ConnectError from "../ConnectError.ts"
import type { HandlerContext } from "../HandlerContext.ts"
import type { ServerInterceptor } from "../Interceptor.ts"
import { Transport, type TransportInfo, type TransportShape } from "../Transport.ts"

// ---------------------------------------------------------------------------------------------
// W3C trace context
// ---------------------------------------------------------------------------------------------

const HEX32 = /^[0-9a-f]{32}$/
const HEX16 = /^[0-9a-f]{16}$/
const ZERO32 = "0".repeat(32)
const ZERO16 = "0".repeat(16)

/**
 * Parses a W3C `traceparent` header (`00-<trace-id>-<parent-id>-<flags>`) into an external span
 * that Effect spans can use as their parent; `undefined` when it is missing or malformed (the
 * specification says to ignore it then).
 *
 * @category decoding
 * @since 0.1.0
 */
export const parseTraceparent = (value: string | null | undefined): Tracer.ExternalSpan | undefined => {
  if (value === null || value === undefined) return undefined
  const v = value.trim().toLowerCase()
  if (v.length < 55 || v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return undefined
  const version = v.slice(0, 2)
  if (!/^[0-9a-f]{2}$/.test(version) || version === "ff") return undefined
  // version 00 has exactly four fields; later versions may append more after a dash
  if (version === "00" ? v.length !== 55 : v.length > 55 && v.charCodeAt(55) !== 45) return undefined
  const traceId = v.slice(3, 35)
  const spanId = v.slice(36, 52)
  const flags = v.slice(53, 55)
  if (!HEX32.test(traceId) || traceId === ZERO32 || !HEX16.test(spanId) || spanId === ZERO16) return undefined
  if (!/^[0-9a-f]{2}$/.test(flags)) return undefined
  return Tracer.externalSpan({ traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 })
}

/**
 * Formats a span as a W3C `traceparent` header value; `undefined` for a span without valid W3C
 * ids (for example the no-op span of a fiber with tracing disabled).
 *
 * @category encoding
 * @since 0.1.0
 */
export const formatTraceparent = (span: Tracer.AnySpan): string | undefined =>
  HEX32.test(span.traceId) && HEX16.test(span.spanId) && span.traceId !== ZERO32 && span.spanId !== ZERO16
    ? `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`
    : undefined

/**
 * The W3C `tracestate` of the incoming call, provided to handlers by {@link server} when the
 * caller sent one, and forwarded by {@link layerClient} on the calls they make.
 *
 * @category references
 * @since 0.1.0
 */
export const TraceState = Context.Reference<string | undefined>("@connect-effect/core/Telemetry/TraceState", {
  defaultValue: () => undefined
})

// ---------------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------------

/**
 * The span name of a method: `package.Service/Method`.
 *
 * @category getters
 * @since 0.1.0
 */
export const spanName = (method: DescMethod): string => `${method.parent.typeName}/${method.name}`

/** `rpc.system` for a protocol: `connect_rpc` for Connect, `grpc` for gRPC and gRPC-Web. */
const rpcSystem = (protocol: string): string => (protocol === "connect" ? "connect_rpc" : "grpc")

/** Codes that mark a server span as failed (the server's fault); other codes are the caller's. */
const serverErrorCodes: ReadonlySet<Code.Code> = new Set<Code.Code>([
  "unknown",
  "deadline_exceeded",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss"
])

/** Sets the status attribute of the call: the gRPC status number, or the Connect error code on failure. */
const setCode = (span: Tracer.Span, grpc: boolean, code: Code.Code | undefined) => {
  if (grpc) span.attribute("rpc.grpc.status_code", code === undefined ? 0 : Code.toGrpcNumber(code))
  else if (code !== undefined) span.attribute("rpc.connect_rpc.error_code", code)
}

/** The `ConnectError` a failure cause carries, if any. */
const errorOf = (cause: Cause.Cause<unknown>): ConnectError.ConnectError | undefined => {
  const found = Cause.findError(cause)
  if (found._tag === "Success") return ConnectError.isConnectError(found.success) ? found.success : undefined
  return undefined
}

/** `host[:port]` (an IPv6 host in brackets) as `server.address` / `server.port`. */
const addressAttributes = (
  host: string,
  defaultPort: number | undefined,
  out: Record<string, unknown>
): void => {
  let address = host
  let port: number | undefined = defaultPort
  if (host.startsWith("[")) {
    const end = host.indexOf("]")
    if (end === -1) return
    address = host.slice(1, end)
    if (host.charCodeAt(end + 1) === 58) port = Number(host.slice(end + 2))
  } else {
    const colon = host.lastIndexOf(":")
    if (colon !== -1 && host.indexOf(":") === colon) {
      address = host.slice(0, colon)
      port = Number(host.slice(colon + 1))
    }
  }
  if (address === "") return
  out["server.address"] = address
  if (port !== undefined && Number.isInteger(port) && port > 0) out["server.port"] = port
}

const endNow = (span: Tracer.Span, exit: Exit.Exit<unknown, unknown>) =>
  Clock.clockWith((clock) =>
    Effect.sync(() => {
      if (span.status._tag === "Ended") return
      span.end(clock.currentTimeNanosUnsafe(), exit)
    })
  )

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

/**
 * Options of {@link server}.
 *
 * @category options
 * @since 0.1.0
 */
export interface ServerOptions {
  /**
   * Continue the caller's trace when the request carries a valid `traceparent` (default true).
   * Set false at a trust boundary (a public endpoint): each call then starts a new trace, with a
   * link to the caller's span.
   */
  readonly trustRemoteParent?: boolean | undefined
  /** Extra attributes of every server span. */
  readonly attributes?: ((call: HandlerContext) => Record<string, unknown>) | undefined
}

/** The attributes a server span starts with. */
const serverAttributes = (call: HandlerContext, options: ServerOptions): Record<string, unknown> => {
  const out: Record<string, unknown> = {
    "rpc.system": rpcSystem(call.protocol),
    "rpc.service": call.method.parent.typeName,
    "rpc.method": call.method.name
  }
  const host = call.requestHeaders.get("host")
  if (host !== null) addressAttributes(host, undefined, out)
  const peer = call.peer
  if (peer !== undefined) {
    // the socket's other end: the client, or the last proxy before it
    out["client.address"] = peer.address
    out["network.peer.address"] = peer.address
    if (peer.port !== undefined) {
      out["client.port"] = peer.port
      out["network.peer.port"] = peer.port
    }
  }
  if (options.attributes !== undefined) Object.assign(out, options.attributes(call))
  return out
}

/**
 * Ends a server span: the code attribute, and the status by the conventions — `unknown`,
 * `deadline_exceeded`, `unimplemented`, `internal`, `unavailable` and `data_loss` are errors of
 * the server; other codes are the caller's and leave the span successful.
 */
const endServer = (span: Tracer.Span, call: HandlerContext, exit: Exit.Exit<unknown, unknown>) => {
  const grpc = call.protocol !== "connect"
  if (Exit.isSuccess(exit)) {
    setCode(span, grpc, undefined)
    return endNow(span, exit)
  }
  const error = errorOf(exit.cause)
  if (error !== undefined) {
    setCode(span, grpc, error.code)
    return endNow(span, serverErrorCodes.has(error.code) ? exit : Exit.void)
  }
  if (Cause.hasInterruptsOnly(exit.cause)) {
    // the router enforces the deadline by interrupting the handler: tell that from a cancel
    if ((call.timeRemaining() ?? Infinity) <= 1) {
      setCode(span, grpc, "deadline_exceeded")
      return endNow(span, Exit.fail(ConnectError.make("deadline_exceeded", "the call exceeded its deadline")))
    }
    setCode(span, grpc, "canceled")
    return endNow(span, exit)
  }
  // a defect is answered as `internal`
  setCode(span, grpc, "internal")
  return endNow(span, exit)
}

/**
 * A server interceptor that runs each call in a server span named `package.Service/Method`
 * (for streaming responses the span covers the whole stream), parented by the caller's
 * `traceparent` when there is one. Add it last (`Router.intercept` wraps the interceptors added
 * before), so that its span covers them too. Handlers and the client calls they make run inside
 * the span, so outgoing calls traced by {@link layerClient} join the same trace.
 *
 * @category interceptors
 * @since 0.1.0
 */
export const server = (options: ServerOptions = {}): ServerInterceptor<never, never, never> => {
  const trust = options.trustRemoteParent ?? true
  return {
    intercept: (next, call) => {
      const remote = parseTraceparent(call.requestHeaders.get("traceparent"))
      const attributes = serverAttributes(call, options)
      const spanOptions: Tracer.SpanOptionsNoTrace = remote === undefined
        ? { kind: "server", attributes }
        : trust
        ? { kind: "server", attributes, parent: remote }
        : { kind: "server", attributes, root: true, links: [{ span: remote, attributes: {} }] }
      const traceState = remote !== undefined && trust ? call.requestHeaders.get("tracestate") : null
      const inner = traceState !== null && traceState !== "" ? Effect.provideService(next, TraceState, traceState) : next
      return Effect.useSpan(spanName(call.method), spanOptions, (span) =>
        Effect.onExit(Effect.withParentSpan(inner, span), (exit) => endServer(span, call, exit)))
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/**
 * Options of {@link client} and {@link layerClient}.
 *
 * @category options
 * @since 0.1.0
 */
export interface ClientOptions {
  /** Send `traceparent` (and the current `tracestate`) with every call (default true). */
  readonly propagate?: boolean | undefined
  /** Extra attributes of every client span. */
  readonly attributes?: ((method: DescMethod) => Record<string, unknown>) | undefined
}

const baseClientAttributes = (info: TransportInfo | undefined): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  if (info === undefined) return out
  out["rpc.system"] = rpcSystem(info.protocol)
  try {
    const url = new URL(info.baseUrl)
    addressAttributes(url.host, url.port === "" ? (url.protocol === "https:" ? 443 : 80) : undefined, out)
  } catch {
    // no address attributes for a base URL that does not parse
  }
  return out
}

/**
 * The call's headers with `traceparent` set to the client span, and `tracestate` (the caller's
 * own value wins over the one of the incoming call).
 */
const inject = (headers: Headers, span: Tracer.Span, traceState: string | undefined): Headers => {
  const traceparent = formatTraceparent(span)
  if (traceparent === undefined) return headers
  headers.set("traceparent", traceparent)
  if (traceState !== undefined && !headers.has("tracestate")) headers.set("tracestate", traceState)
  return headers
}

/** Sets the status attribute of a client span from the call's exit (the exit sets the span status). */
const recordClientExit = (span: Tracer.Span, grpc: boolean, exit: Exit.Exit<unknown, unknown>) => {
  if (Exit.isSuccess(exit)) return setCode(span, grpc, undefined)
  const error = errorOf(exit.cause)
  if (error !== undefined) setCode(span, grpc, error.code)
  else if (Cause.hasInterruptsOnly(exit.cause)) setCode(span, grpc, "canceled")
}

/**
 * Wraps a transport so that every call runs in a client span named `package.Service/Method`
 * (for streaming calls the span covers the whole stream, until it ends, fails or is
 * interrupted) and sends the span as `traceparent`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const client = (transport: TransportShape, options: ClientOptions = {}): TransportShape => {
  const info = transport.info
  const grpc = info !== undefined && info.protocol !== "connect"
  const base = baseClientAttributes(info)
  const propagate = options.propagate ?? true
  const spanOptions = (method: DescMethod, parent: Tracer.ExternalSpan | undefined): Tracer.SpanOptionsNoTrace => {
    const attributes: Record<string, unknown> = {
      ...base,
      "rpc.service": method.parent.typeName,
      "rpc.method": method.name
    }
    if (options.attributes !== undefined) Object.assign(attributes, options.attributes(method))
    return parent === undefined ? { kind: "client", attributes } : { kind: "client", attributes, parent }
  }
  /** Runs `f` with the call's span and options: a `traceparent` the caller set is the span's parent. */
  const prepare = <A>(
    method: DescMethod,
    callOptions: CallOptions | undefined,
    f: (span: Tracer.Span, callOptions: CallOptions | undefined) => A
  ) =>
    Effect.withFiber((fiber) => {
      if (!propagate) return Effect.map(Effect.makeSpan(spanName(method), spanOptions(method, undefined)), (span) => f(span, callOptions))
      const headers = new Headers(callOptions?.headers)
      const parent = parseTraceparent(headers.get("traceparent"))
      return Effect.map(Effect.makeSpan(spanName(method), spanOptions(method, parent)), (span) =>
        f(span, { ...callOptions, headers: inject(headers, span, fiber.getRef(TraceState)) }))
    })
  const traced: TransportShape = {
    unary: (method, request, callOptions) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          prepare(method, callOptions, (span, o) => [span, o] as const),
          ([span, o]) =>
            Effect.onExit(
              restore(Effect.withParentSpan(transport.unary(method, request, o), span)),
              (exit) => Effect.andThen(Effect.sync(() => recordClientExit(span, grpc, exit)), endNow(span, exit))
            )
        )
      ),
    stream: (method, requests, callOptions) =>
      Stream.unwrap(
        Effect.map(
          Effect.acquireRelease(
            prepare(method, callOptions, (span, o) => [span, o] as const),
            ([span], exit) => Effect.andThen(Effect.sync(() => recordClientExit(span, grpc, exit)), endNow(span, exit))
          ),
          ([span, o]) => Stream.provideService(transport.stream(method, requests, o), Tracer.ParentSpan, span)
        )
      )
  }
  return info === undefined ? traced : { ...traced, info }
}

/**
 * Traces the calls of the `Transport` below it: provide it between a generated client and its
 * transport layer.
 *
 * ```ts
 * ElizaClient.layer.pipe(
 *   Layer.provide(Telemetry.layerClient()),
 *   Layer.provide(NodeTransport.layerConnect({ baseUrl }))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient = (options: ClientOptions = {}): Layer.Layer<Transport, never, Transport> =>
  Layer.effect(Transport, Effect.map(Effect.service(Transport), (transport) => client(transport, options)))
