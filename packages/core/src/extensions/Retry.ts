/**
 * Retries of client calls, driven by an Effect `Schedule`, only where a retry is safe:
 *
 * - the error's code is retryable (default: `unavailable`);
 * - the method is idempotent (`idempotency_level` `NO_SIDE_EFFECTS` or `IDEMPOTENT` in its proto
 *   options), or the call provably never reached the server — the transport marked the error
 *   with `ConnectError.notSent` (connection refused, DNS failure, HTTP/2 REFUSED_STREAM, a
 *   stream the server's GOAWAY did not cover);
 * - no response message was delivered yet, and the request can be sent again: unary and
 *   server-streaming requests are one message kept in memory; client-streaming and bidi calls
 *   are retried only while none of the caller's request messages was taken;
 * - the call's deadline leaves room: the next attempt must start before it, and each attempt
 *   gets what is left of it (`timeout`/`timeoutMs` of the call, the client's default, or the deadline
 *   inherited from the server call being handled).
 *
 * A server's pushback is honoured: `grpc-retry-pushback-ms` (a negative or malformed value
 * means "do not retry") and `retry-after` (seconds or an HTTP date) replace the schedule's
 * delay for that attempt. Provide {@link layer} between a generated client and its transport.
 *
 * @since 0.1.0
 */
import type { DescMethod } from "@bufbuild/protobuf"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { CallOptions } from "../CallOptions.ts"
import type * as Code from "../Code.ts"
import * as ConnectError from "../ConnectError.ts"
import { effectiveTimeout } from "../protocol/client.ts"
import { Transport, type TransportShape } from "../Transport.ts"

/**
 * How calls are retried.
 *
 * @category options
 * @since 0.1.0
 */
export interface Policy {
  /**
   * The delays between attempts and when to give up; its input is the error of the attempt
   * that failed. Default: {@link defaultSchedule}.
   */
  readonly schedule?: Schedule.Schedule<unknown, ConnectError.ConnectError> | undefined
  /** The codes that may be retried (default `["unavailable"]`). */
  readonly codes?: ReadonlyArray<Code.Code> | undefined
  /** Honour `grpc-retry-pushback-ms` and `retry-after` from the server (default true). */
  readonly pushback?: boolean | undefined
  /** The longest pushback waited for; a longer one ends the retries (default 60 000 ms). */
  readonly maxPushbackMs?: number | undefined
}

/**
 * Exponential backoff from 100 ms (×2, jittered by ±20%), at most 3 retries.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultSchedule: Schedule.Schedule<unknown, ConnectError.ConnectError> = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.upTo({ times: 3 })
)

/**
 * True for a method whose proto options declare it free of side effects or idempotent.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isIdempotent = (method: DescMethod): boolean =>
  method.idempotency === 1 /* NO_SIDE_EFFECTS */ || method.idempotency === 2 /* IDEMPOTENT */

/**
 * The server's pushback in milliseconds: `"stop"` when it asks not to retry, `undefined` when
 * it says nothing (or nothing readable).
 *
 * @category getters
 * @since 0.1.0
 */
export const pushbackOf = (error: ConnectError.ConnectError): number | "stop" | undefined => {
  const metadata = error.metadata
  if (metadata === undefined) return undefined
  const grpc = metadata.get("grpc-retry-pushback-ms")
  if (grpc !== null) return /^\d+$/.test(grpc.trim()) ? Number(grpc.trim()) : "stop"
  const retryAfter = metadata.get("retry-after")
  if (retryAfter === null) return undefined
  const value = retryAfter.trim()
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

/** The first `ConnectError` of a failure cause. */
const connectErrorOf = (cause: Cause.Cause<unknown>): ConnectError.ConnectError | undefined => {
  const found = Cause.findError(cause)
  return found._tag === "Success" && ConnectError.isConnectError(found.success) ? found.success : undefined
}

/**
 * Wraps a transport so that its calls are retried by `policy`. Retries happen below the
 * decorators wrapped around the result: put `Telemetry.client` inside to trace each attempt,
 * outside to trace the call as a whole.
 *
 * @category combinators
 * @since 0.1.0
 */
export const transport = (inner: TransportShape, policy: Policy = {}): TransportShape => {
  const codes: ReadonlySet<string> = new Set(policy.codes ?? ["unavailable"])
  const schedule = policy.schedule ?? defaultSchedule
  const honourPushback = policy.pushback ?? true
  const maxPushbackMs = policy.maxPushbackMs ?? 60_000
  const defaultTimeoutMs = inner.info?.timeoutMs

  const retryable = (method: DescMethod, error: ConnectError.ConnectError): boolean =>
    codes.has(error.code) && (isIdempotent(method) || ConnectError.isNotSent(error))

  /** The absolute deadline of the call (epoch ms), computed the way the protocols compute its timeout. */
  const deadlineOf = (options: CallOptions | undefined): Effect.Effect<number | undefined> =>
    Effect.map(effectiveTimeout(defaultTimeoutMs, options), (timeoutMs) =>
      timeoutMs === undefined ? undefined : Date.now() + timeoutMs)

  /** The options of a later attempt: what is left of the deadline. */
  const remaining = (options: CallOptions | undefined, deadline: number | undefined): CallOptions | undefined =>
    deadline === undefined ? options : { ...options, timeout: undefined, timeoutMs: Math.max(1, deadline - Date.now()) }

  /**
   * The delay before the next attempt in milliseconds, or `undefined` to give up. The schedule
   * is started on the first failure only, so that calls that succeed pay nothing for it.
   */
  const makeNext = (deadline: number | undefined) => {
    let step:
      | ((now: number, input: ConnectError.ConnectError) => Pull.Pull<[unknown, Duration.Duration], never, unknown>)
      | undefined
    const decide = (delay: Duration.Duration, error: ConnectError.ConnectError): number | undefined => {
      let ms = Duration.toMillis(delay)
      if (honourPushback) {
        const pushback = pushbackOf(error)
        if (pushback === "stop") return undefined
        if (pushback !== undefined) {
          if (pushback > maxPushbackMs) return undefined
          ms = pushback
        }
      }
      // no attempt that could not start before the deadline
      if (deadline !== undefined && Date.now() + ms >= deadline) return undefined
      return ms
    }
    return (error: ConnectError.ConnectError): Effect.Effect<number | undefined> =>
      Effect.flatMap(
        step === undefined ? Effect.map(Schedule.toStep(schedule), (s) => (step = s)) : Effect.succeed(step),
        (s) =>
          Pull.matchEffect(s(Date.now(), error), {
            onSuccess: ([, delay]) => Effect.succeed(decide(delay, error)),
            onFailure: (cause) => Effect.failCause(cause),
            onDone: () => Effect.succeed(undefined)
          })
      )
  }

  const unary: TransportShape["unary"] = (method, request, options) =>
    Effect.flatMap(deadlineOf(options), (deadline) => {
      let next: ReturnType<typeof makeNext> | undefined
      const attempt = (attemptOptions: CallOptions | undefined): Effect.Effect<unknown, ConnectError.ConnectError> =>
        Effect.catch(inner.unary(method, request, attemptOptions), (error) => {
          if (!retryable(method, error)) return Effect.fail(error)
          next ??= makeNext(deadline)
          return Effect.flatMap(next(error), (ms) =>
            ms === undefined
              ? Effect.fail(error)
              : Effect.andThen(Effect.sleep(ms), Effect.suspend(() => attempt(remaining(options, deadline)))))
        })
      return attempt(options)
    })

  const stream = <E>(
    method: DescMethod,
    requests: Stream.Stream<unknown, E>,
    options: CallOptions | undefined
  ): Stream.Stream<unknown, ConnectError.ConnectError | E> =>
    Stream.unwrap(Effect.map(deadlineOf(options), (deadline) => {
      let next: ReturnType<typeof makeNext> | undefined
      /** `replayable`: the requests may be run again (a message kept in memory). */
      const run = (
        source: Stream.Stream<unknown, E>,
        replayable: boolean,
        attemptOptions: CallOptions | undefined
      ): Stream.Stream<unknown, ConnectError.ConnectError | E> => {
        let emitted = false
        let taken = false
        const sent = replayable ? source : source.pipe(
          Stream.mapArray((messages) => {
            taken = true
            return messages
          }),
          Stream.mapError((error) => {
            taken = true
            return error
          })
        )
        return inner.stream(method, sent, attemptOptions).pipe(
          Stream.mapArray((messages) => {
            emitted = true
            return messages
          }),
          Stream.catchCause((cause): Stream.Stream<unknown, ConnectError.ConnectError | E> => {
            if (emitted || taken) return Stream.failCause(cause)
            const error = connectErrorOf(cause)
            if (error === undefined || !retryable(method, error)) return Stream.failCause(cause)
            next ??= makeNext(deadline)
            return Stream.unwrap(Effect.map(next(error), (ms) =>
              ms === undefined
                ? Stream.failCause(cause)
                : Stream.unwrap(Effect.as(Effect.sleep(ms), Stream.suspend(() => run(source, replayable, remaining(options, deadline)))))))
          })
        )
      }
      if (method.methodKind === "server_streaming") {
        // one request message: keep it, so that every attempt sends it again
        return Stream.unwrap(Effect.map(Stream.runCollect(requests), (messages) => run(Stream.fromIterable(messages), true, options)))
      }
      return run(requests, false, options)
    }))

  const retrying: TransportShape = { unary, stream }
  return inner.info === undefined ? retrying : { ...retrying, info: inner.info }
}

/**
 * Retries the calls of the `Transport` below it by `policy`: provide it between a generated
 * client and its transport layer.
 *
 * ```ts
 * ElizaClient.layer.pipe(
 *   Layer.provide(Retry.layer({ codes: ["unavailable", "resource_exhausted"] })),
 *   Layer.provide(NodeTransport.layerConnect({ baseUrl, timeoutMs: 5_000 }))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (policy: Policy = {}): Layer.Layer<Transport, never, Transport> =>
  Layer.effect(Transport, Effect.map(Effect.service(Transport), (t) => transport(t, policy)))
