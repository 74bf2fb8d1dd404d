/**
 * Metrics: a count and a duration of every RPC, on the server and on the client, through
 * Effect's own `Metric` module (export them with `@effect/opentelemetry`, read them with
 * `Metric.value` or `Metric.snapshot`), with attributes following the OpenTelemetry RPC semantic
 * conventions: `rpc.system`, `rpc.service`, `rpc.method`, and the outcome as
 * `rpc.connect_rpc.error_code` (the Connect code, or `ok`) — plus `rpc.grpc.status_code` for
 * gRPC and gRPC-Web calls.
 *
 * Opt-in: add {@link server} to a router with `Router.intercept`, and {@link client} to the
 * `interceptors` of a client transport. Calls that go through neither pay nothing.
 *
 * @since 0.1.0
 */
import type { DescMethod } from "@bufbuild/protobuf"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Stream from "effect/Stream"
import * as Code from "../Code.ts"
import * as ConnectError from "../ConnectError.ts"
import type { HandlerContext } from "../HandlerContext.ts"
import type { ProtocolName } from "../Http.ts"
import * as Interceptor from "../Interceptor.ts"

// ---------------------------------------------------------------------------------------------
// Metric definitions
// ---------------------------------------------------------------------------------------------

/**
 * The bucket boundaries of the duration histograms, in milliseconds: OpenTelemetry's default
 * explicit buckets (0 ms to 10 s).
 *
 * @category constants
 * @since 0.1.0
 */
export const durationBoundaries: ReadonlyArray<number> = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]

/**
 * Calls served, by `rpc.system`, `rpc.service`, `rpc.method` and `rpc.connect_rpc.error_code`
 * (and `rpc.grpc.status_code` for gRPC and gRPC-Web), counted when a call ends.
 *
 * @category metrics
 * @since 0.1.0
 */
export const serverCalls: Metric.Counter<number> = Metric.counter("rpc.server.calls", {
  description: "Number of RPCs served",
  incremental: true
})

/**
 * Duration of the calls served in milliseconds, from the start of the call to its end (for
 * streaming responses, the end of the response stream), with the attributes of {@link serverCalls}.
 *
 * @category metrics
 * @since 0.1.0
 */
export const serverDuration: Metric.Histogram<number> = Metric.histogram("rpc.server.duration", {
  description: "Duration of RPCs served, in milliseconds",
  boundaries: durationBoundaries
})

/**
 * Calls made, by `rpc.system`, `rpc.service`, `rpc.method` and `rpc.connect_rpc.error_code`
 * (and `rpc.grpc.status_code` for gRPC and gRPC-Web), counted when a call ends.
 *
 * @category metrics
 * @since 0.1.0
 */
export const clientCalls: Metric.Counter<number> = Metric.counter("rpc.client.calls", {
  description: "Number of RPCs made",
  incremental: true
})

/**
 * Duration of the calls made in milliseconds, from the request to the response message (unary)
 * or to the end of the response stream, with the attributes of {@link clientCalls}.
 *
 * @category metrics
 * @since 0.1.0
 */
export const clientDuration: Metric.Histogram<number> = Metric.histogram("rpc.client.duration", {
  description: "Duration of RPCs made, in milliseconds",
  boundaries: durationBoundaries
})

// ---------------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------------

/**
 * The attributes of a call: `rpc.system` (`connect_rpc` for Connect, `grpc` for gRPC and
 * gRPC-Web), `rpc.service`, `rpc.method`, `rpc.connect_rpc.error_code` (the code, or `ok`), and
 * `rpc.grpc.status_code` (its number) for gRPC and gRPC-Web.
 *
 * @category getters
 * @since 0.1.0
 */
export const attributes = (
  protocol: ProtocolName,
  method: DescMethod,
  code: Code.Code | undefined
): Record<string, string> => {
  const out: Record<string, string> = {
    "rpc.system": protocol === "connect" ? "connect_rpc" : "grpc",
    "rpc.service": method.parent.typeName,
    "rpc.method": method.name,
    "rpc.connect_rpc.error_code": code ?? "ok"
  }
  if (protocol !== "connect") out["rpc.grpc.status_code"] = String(code === undefined ? 0 : Code.toGrpcNumber(code))
  return out
}

/** The Connect code an exit ends a call with (`undefined`: ok). */
const codeOf = (exit: Exit.Exit<unknown, unknown>, deadlinePassed: () => boolean): Code.Code | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const found = Cause.findError(exit.cause)
  if (found._tag === "Success") return ConnectError.isConnectError(found.success) ? found.success.code : "unknown"
  if (Cause.hasInterruptsOnly(exit.cause)) return deadlinePassed() ? "deadline_exceeded" : "canceled"
  // a defect is answered as `internal`
  return "internal"
}

const never = () => false

/** Adds one call to `calls` and its duration since `startNanos` to `duration`. */
const record = (
  calls: Metric.Counter<number>,
  duration: Metric.Histogram<number>,
  startNanos: bigint,
  attributes: Record<string, string>
): Effect.Effect<void> =>
  Clock.clockWith((clock) => {
    const ms = Number(clock.currentTimeNanosUnsafe() - startNanos) / 1e6
    return Effect.andThen(
      Metric.update(Metric.withAttributes(calls, attributes), 1),
      Metric.update(Metric.withAttributes(duration, attributes), ms)
    )
  })

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
  /** Extra attributes of every call (keep their values few: each combination is a series). */
  readonly attributes?: ((call: HandlerContext) => Record<string, string>) | undefined
}

/**
 * A server interceptor that counts every call in {@link serverCalls} and records its duration
 * in {@link serverDuration} when it ends — for streaming responses, when the response stream
 * ends. A call interrupted by its deadline counts as `deadline_exceeded`, one canceled by the
 * client as `canceled`, a defect as `internal`. Add it last (`Router.intercept` wraps the
 * interceptors added before) to measure them too.
 *
 * @category interceptors
 * @since 0.1.0
 */
export const server = (options: ServerOptions = {}): Interceptor.ServerInterceptor<never, never, never> => ({
  intercept: (next, call) =>
    Clock.clockWith((clock) => {
      const start = clock.currentTimeNanosUnsafe()
      const deadlinePassed = () => (call.timeRemaining() ?? Infinity) <= 1
      return Effect.onExit(next, (exit) => {
        const attrs = attributes(call.protocol, call.method, codeOf(exit, deadlinePassed))
        if (options.attributes !== undefined) Object.assign(attrs, options.attributes(call))
        return record(serverCalls, serverDuration, start, attrs)
      })
    })
})

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/**
 * Options of {@link client}.
 *
 * @category options
 * @since 0.1.0
 */
export interface ClientOptions {
  /**
   * The protocol of the transport the interceptor is added to, for `rpc.system` (default
   * `"connect"`; interceptors do not see the transport).
   */
  readonly protocol?: ProtocolName | undefined
  /** Extra attributes of every call (keep their values few: each combination is a series). */
  readonly attributes?: ((method: DescMethod) => Record<string, string>) | undefined
}

/**
 * A client interceptor that counts every call in {@link clientCalls} and records its duration
 * in {@link clientDuration}: a unary call when its response arrives or it fails, a streaming call
 * when its response stream ends, fails or is interrupted. Add it to the `interceptors` of a
 * transport (first, to measure the other interceptors too).
 *
 * @example
 * ```ts
 * import * as Metrics from "@connect-effect/core/Metrics"
 * import * as Transport from "@connect-effect/core/Transport"
 *
 * const transport = Transport.layerGrpc({
 *   baseUrl: "http://localhost:8080",
 *   interceptors: [Metrics.client({ protocol: "grpc" })]
 * })
 * ```
 *
 * @category interceptors
 * @since 0.1.0
 */
export const client = (options: ClientOptions = {}): Interceptor.ClientInterceptor<never> => {
  const protocol = options.protocol ?? "connect"
  const attrs = (method: DescMethod, exit: Exit.Exit<unknown, unknown>) => {
    const out = attributes(protocol, method, codeOf(exit, never))
    if (options.attributes !== undefined) Object.assign(out, options.attributes(method))
    return out
  }
  return Interceptor.clientCall({
    unary: (next, request) =>
      Clock.clockWith((clock) => {
        const start = clock.currentTimeNanosUnsafe()
        return Effect.onExit(next(request), (exit) => record(clientCalls, clientDuration, start, attrs(request.method, exit)))
      }),
    stream: (next, request) =>
      Clock.clockWith((clock) => {
        const start = clock.currentTimeNanosUnsafe()
        return next(request).pipe(
          Effect.onExit((exit) =>
            Exit.isFailure(exit) ? record(clientCalls, clientDuration, start, attrs(request.method, exit)) : Effect.void
          ),
          Effect.map((response) => ({
            ...response,
            messages: Stream.onExit(
              response.messages,
              (exit) => record(clientCalls, clientDuration, start, attrs(request.method, exit))
            )
          }))
        )
      })
  })
}
