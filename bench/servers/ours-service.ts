/** PingService implemented with connect-effect (shared by the Node and Bun servers). */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import { PingService } from "../gen/bench/v1/ping_connect.ts"

export const PingLive = PingService.layer(Effect.succeed({
  ping: (request) =>
    request.number < 0n
      ? Effect.fail(ConnectError.make("invalid_argument", "number must not be negative"))
      : Effect.succeed({ number: request.number, text: request.text }),
  sum: (requests) =>
    Effect.map(
      Stream.runFold(requests, () => 0n, (sum, r) => sum + r.number),
      (number) => ({ number })
    ),
  countUp: (request) =>
    Stream.map(Stream.range(1, Number(request.number)), (i) => ({ number: BigInt(i), text: request.text })),
  cumSum: (requests) =>
    Stream.mapAccum(requests, () => 0n, (sum, r) => {
      const next = sum + r.number
      return [next, [{ number: next, text: r.text }]] as const
    })
}))
