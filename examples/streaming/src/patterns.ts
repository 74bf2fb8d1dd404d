/**
 * Client-side streaming patterns with a generated client: every call is an `Effect` or a
 * `Stream`, so collecting, cancelling, feeding and ping-pong are ordinary Stream code.
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { NumbersClient } from "../gen/streaming/v1/numbers_connect.ts"

/** Server stream → all of it: `Stream.runCollect` (or `runFold`, `runForEach`). */
export const collectServerStream = Effect.gen(function*() {
  const numbers = yield* NumbersClient
  const all = yield* Stream.runCollect(numbers.count({ upTo: 5 }))
  return all.map((r) => r.number)
})

/**
 * Server stream → the first few: `Stream.take` ends the call after 3 messages. The server's
 * stream never ends by itself; taking fewer cancels the RPC, and the handler is interrupted.
 */
export const takeFromEndlessStream = Effect.gen(function*() {
  const numbers = yield* NumbersClient
  const first = yield* numbers.count({ upTo: 0, delayMs: 5 }).pipe(Stream.take(3), Stream.runCollect)
  return first.map((r) => r.number)
})

/** Server stream with a deadline: the call fails with `deadline_exceeded`, a typed error. */
export const streamWithDeadline = Effect.gen(function*() {
  const numbers = yield* NumbersClient
  return yield* numbers.count({ upTo: 0, delayMs: 10 }, { timeoutMs: 100 }).pipe(
    Stream.runDrain,
    Effect.as("completed"),
    Effect.catchTag("ConnectError", (error) => Effect.succeed(error.code))
  )
})

/** Client stream ← any Stream: here 1..100, produced lazily as the transport asks for more. */
export const feedClientStream = Effect.gen(function*() {
  const numbers = yield* NumbersClient
  return yield* numbers.sum(Stream.range(1, 100).pipe(Stream.map((number) => ({ number }))))
})

/** Bidi with a known list of requests: send them all, read the answers as they come. */
export const bidiFromList = Effect.gen(function*() {
  const numbers = yield* NumbersClient
  const answers = yield* Stream.runCollect(numbers.echo(Stream.make({ text: "a" }, { text: "b" }, { text: "c" })))
  return answers.map((r) => r.text)
})

/**
 * Bidi ping-pong: each request is sent only after the answer to the previous one arrived. The
 * request stream reads from a Queue that the response handler feeds; ending the queue ends the
 * call. This needs a full-duplex transport (HTTP/2; over HTTP/1.1 the request body must end
 * before responses are read).
 */
export const bidiPingPong = (rounds: number) =>
  Effect.gen(function*() {
    const numbers = yield* NumbersClient
    const outgoing = yield* Queue.unbounded<{ readonly text: string }, Cause.Done>()
    yield* Queue.offer(outgoing, { text: "ping 1" })
    const heard: Array<string> = []
    yield* numbers.echo(Stream.fromQueue(outgoing)).pipe(
      Stream.runForEach((answer) =>
        Effect.suspend(() => {
          heard.push(answer.text)
          return heard.length < rounds ? Queue.offer(outgoing, { text: `ping ${heard.length + 1}` }) : Queue.end(outgoing)
        })
      )
    )
    return heard
  })
