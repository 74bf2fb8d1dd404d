/**
 * The request (body) timeout of a server's exchanges, kept by one {@link Sweeper.Sweeper} per server.
 *
 * @internal
 */
import type { Readable } from "node:stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as Sweeper from "./sweeper.ts"

/** What the sweeper reads and writes on one exchange. */
export interface Timed extends Sweeper.Entry {
  /** Answered exchanges cannot time out any more. */
  readonly headSent: boolean
  readonly closed: boolean
  /** The sweep at which the request (body) timeout expires (while armed). */
  expireAtSweep: number
  /** The request body the timeout watches. */
  timedReadable: Readable | undefined
  /** Runs when the request timeout expired (the body still incomplete, nothing answered). */
  expire: (() => void) | undefined
}

/** Exchanges whose request timeout is armed. */
export type RequestTimeouts = Sweeper.Sweeper<Timed>

const check = (timed: RequestTimeouts, n: number): void => {
  for (const ex of timed.entries()) {
    // answered exchanges cannot time out any more: drop them early
    if (ex.headSent) timed.disarm(ex)
    else if (ex.expireAtSweep <= n) {
      timed.disarm(ex)
      if (!ex.closed && ex.timedReadable?.readableEnded === false) ex.expire?.()
    }
  }
}

/** The request timeouts of a server (`requestTimeoutMs` 0: off). */
export const make = (requestTimeoutMs: number): RequestTimeouts => new Sweeper.Sweeper(requestTimeoutMs, check)

/**
 * Arms the request (body) timeout of one exchange; `expire` runs when the body is still
 * incomplete once the timeout passed (up to two sweeps late), unless the exchange was
 * answered or closed first.
 */
export const arm = (timeouts: RequestTimeouts, readable: Readable, ex: Timed, expire: () => void): void => {
  if (timeouts.timeoutMs <= 0 || readable.readableEnded) return
  ex.timedReadable = readable
  ex.expire = expire
  ex.expireAtSweep = timeouts.arm(ex)
}

/** The error a request body fails with when its timeout expired. */
export const requestTimeout = (ms: number) =>
  ConnectError.make("deadline_exceeded", `request not received within ${ms} ms (requestTimeoutMs)`)

/** After a request timeout, the handler's time to answer before the exchange is cut. */
export const CUT_AFTER_MS = 1000
