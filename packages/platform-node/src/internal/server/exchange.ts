/**
 * One request/response exchange of the server, the same for HTTP/1.1 and HTTP/2: its state, the
 * handler's fiber that answers it, and the server-wide bookkeeping of exchanges in flight.
 *
 * @internal
 */
import type { Readable } from "node:stream"
import * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type { ResponseWriter, ServerRequest } from "@connect-effect/core/Http"
import type * as RequestTimeouts from "./requestTimeouts.ts"

/** What the server runs for every request (its requirements already provided). */
export type Handler = (request: ServerRequest, writer: ResponseWriter) => Effect.Effect<void, never, any>

/** Shared bookkeeping of a running server. */
export interface State {
  closing: boolean
  inflight: number
  /** The exchanges whose handler runs (shutdown interrupts them). */
  readonly running: Running
  readonly runFork: (effect: Effect.Effect<void, never, any>) => Fiber.Fiber<void>
  readonly onDefect: (cause: Cause.Cause<unknown>) => void
  onIdle: (() => void) | undefined
  /** Shutdown gave up waiting and destroyed the connections: exchanges are not answered any more. */
  killed: boolean
  /** Exchanges whose request (body) timeout is armed. */
  readonly requestTimeouts: RequestTimeouts.RequestTimeouts
}

/** Per-request state shared by both protocols. */
export class Exchange implements RequestTimeouts.Timed {
  /** Links among the server's running exchanges (see {@link Running}). */
  runPrev: Exchange | undefined = undefined
  runNext: Exchange | undefined = undefined
  /** Links among the armed request timeouts (see `Sweeper.Entry`). */
  sweepPrev: RequestTimeouts.Timed | undefined = undefined
  sweepNext: RequestTimeouts.Timed | undefined = undefined
  armed = false
  headSent = false
  ended = false
  closed = false
  fiberDone = false
  fiber: Fiber.Fiber<void> | undefined = undefined
  peerClose: Array<() => void> | undefined = undefined
  /** The sweep at which the request (body) timeout expires (armed while in `State.requestTimeouts`). */
  expireAtSweep = 0
  /** The request body the timeout watches. */
  timedReadable: Readable | undefined = undefined
  /** Runs when the request timeout expired (the body still incomplete, nothing answered). */
  expire: (() => void) | undefined = undefined
  /** `finish` and `abort` as closures (HTTP/1.1), or as methods of a subclass (HTTP/2). */
  constructor(finish?: () => void, abort?: () => void) {
    if (finish !== undefined) this.finish = finish
    if (abort !== undefined) this.abort = abort
  }
  /** Ends a response the handler left open after succeeding. */
  finish(): void {}
  /** Responds 500 when nothing was sent yet, else resets the exchange. */
  abort(): void {}
}

/**
 * The exchanges whose handler fiber runs, as a list through the exchanges themselves, for the
 * same reason as the sweepers' lists (`Sweeper.Entry`): a `Set` of per-call fibers on the
 * server's state kept every fiber it had held alive into the old generation once one of its
 * tables had been promoted.
 */
export class Running {
  first: Exchange | undefined = undefined

  add(ex: Exchange): void {
    ex.runNext = this.first
    if (this.first !== undefined) this.first.runPrev = ex
    this.first = ex
  }

  delete(ex: Exchange): void {
    const prev = ex.runPrev
    const next = ex.runNext
    if (prev === undefined) {
      if (this.first === ex) this.first = next
    } else prev.runNext = next
    if (next !== undefined) next.runPrev = prev
    ex.runPrev = ex.runNext = undefined
  }

  /** The fibers running now (a copy: interrupting one may end its exchange). */
  fibers(): Array<Fiber.Fiber<void>> {
    const out: Array<Fiber.Fiber<void>> = []
    for (let ex = this.first; ex !== undefined; ex = ex.runNext) if (ex.fiber !== undefined) out.push(ex.fiber)
    return out
  }
}

const exchangeDone = (state: State): void => {
  state.inflight--
  if (state.inflight === 0 && state.onIdle !== undefined) state.onIdle()
}

/** Runs the handler's fiber for one exchange and wires peer-close and exit handling. */
export const run = (
  state: State,
  effect: Effect.Effect<void, never, any>,
  ex: Exchange
): void => {
  state.inflight++
  const fiber = state.runFork(effect)
  ex.fiber = fiber
  state.running.add(ex)
  fiber.addObserver((exit) => {
    state.running.delete(ex)
    ex.fiberDone = true
    if (!ex.ended && !ex.closed && !state.killed) {
      if (Exit.isSuccess(exit)) {
        ex.finish()
      } else {
        if (!Cause.hasInterruptsOnly(exit.cause)) state.onDefect(exit.cause)
        ex.abort()
      }
    }
    if (ex.closed) exchangeDone(state)
  })
}

/** The exchange's response or stream closed (completed or cut by the peer). */
export const onClose = (state: State, ex: Exchange): void => {
  if (ex.closed) return
  ex.closed = true
  if (ex.expire !== undefined) {
    state.requestTimeouts.disarm(ex)
    ex.expire = undefined
  }
  if (!ex.ended) {
    const callbacks = ex.peerClose
    if (callbacks !== undefined) {
      ex.peerClose = undefined
      for (const f of callbacks) f()
    }
    if (!ex.fiberDone) ex.fiber?.interruptUnsafe()
  }
  if (ex.fiberDone) exchangeDone(state)
}
