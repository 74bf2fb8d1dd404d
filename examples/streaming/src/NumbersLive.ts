/**
 * The NumbersService: one handler per RPC kind, each a few lines of Effect.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { NumbersService } from "../gen/streaming/v1/numbers_connect.ts"

export const NumbersLive = NumbersService.layer(Effect.succeed({
  // unary: Effect in, Effect out
  square: (request) => Effect.succeed({ square: request.number * request.number }),

  // server streaming: a Stream out. `upTo: 0` never ends: the client decides when to stop, and
  // when it does (or goes away) the stream is interrupted and its finalizer runs.
  count: (request) => {
    let sent = 0
    const numbers = Stream.iterate(1, (n) => n + 1).pipe(
      request.upTo > 0 ? Stream.take(request.upTo) : (s) => s,
      Stream.tap(() => request.delayMs > 0 ? Effect.sleep(request.delayMs) : Effect.void),
      Stream.map((number) => {
        sent++
        return { number }
      })
    )
    return Stream.ensuring(numbers, Effect.suspend(() => Console.log(`server: Count stopped after ${sent} numbers`)))
  },

  // client streaming: a Stream in, one Effect out (runs when the client ends its stream)
  sum: (requests) =>
    Stream.runFold(requests, () => ({ sum: 0, count: 0 }), (acc, r) => ({ sum: acc.sum + r.number, count: acc.count + 1 })),

  // bidi: a Stream in, a Stream out; each answer goes out as soon as its request came in
  echo: (requests) => Stream.map(requests, (r) => ({ text: `echo: ${r.text}` }))
}))
