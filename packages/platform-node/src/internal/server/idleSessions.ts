/**
 * The idle timeout of HTTP/2 server sessions: a session without an open stream is closed with
 * GOAWAY(NO_ERROR) after `http2IdleTimeoutMs`, kept by one {@link Sweeper.Sweeper} per server.
 *
 * @internal
 */
import type * as http2 from "node:http2"
import * as Sweeper from "./sweeper.ts"

/** Streams open on one HTTP/2 session, for its idle timeout. */
export interface SessionActivity extends Sweeper.Entry {
  readonly session: http2.ServerHttp2Session
  /** Open streams: the session is idle at 0. */
  streams: number
  /** The idle sweep at which the session, still without a stream, is closed. */
  closeAtSweep: number
}

/** HTTP/2 sessions without open streams, oldest idle first. */
export type IdleSessions = Sweeper.Sweeper<SessionActivity>

/** Closes the sessions that are due; stops at the first one not yet due, as they are in the order they became idle. */
const check = (idle: IdleSessions, n: number): void => {
  for (const activity of idle.entries()) {
    if (activity.closeAtSweep > n) break
    idle.disarm(activity)
    const session = activity.session
    if (!session.closed && !session.destroyed) session.close()
  }
}

/** The idle sessions of a server (`http2IdleTimeoutMs` 0: idle sessions stay open). */
export const make = (http2IdleTimeoutMs: number): IdleSessions => new Sweeper.Sweeper(http2IdleTimeoutMs, check)

/** Where a session keeps its {@link SessionActivity} (absent when the idle timeout is off). */
const ACTIVITY = Symbol("activity")

/** Starts the idle clock of a new session; its activity is to be disarmed on close. */
export const watch = (idle: IdleSessions, session: http2.ServerHttp2Session): SessionActivity => {
  const activity: SessionActivity = { session, streams: 0, closeAtSweep: 0, sweepPrev: undefined, sweepNext: undefined, armed: false }
  ;(session as { [ACTIVITY]?: SessionActivity })[ACTIVITY] = activity
  sessionIdle(idle, activity)
  return activity
}

/** The session of `stream` opened it: not idle any more. */
export const streamOpened = (idle: IdleSessions, stream: http2.ServerHttp2Stream): SessionActivity | undefined => {
  const activity = (stream.session as { [ACTIVITY]?: SessionActivity } | undefined)?.[ACTIVITY]
  if (activity !== undefined && activity.streams++ === 0) idle.disarm(activity)
  return activity
}

/** A stream counted by {@link streamOpened} closed. */
export const streamClosed = (idle: IdleSessions, activity: SessionActivity): void => {
  if (--activity.streams === 0 && !activity.session.closed) sessionIdle(idle, activity)
}

/**
 * A session has no open stream: it is closed with GOAWAY(NO_ERROR) unless a stream opens within
 * `http2IdleTimeoutMs`. Counted in streams, not socket activity: Node's `session.setTimeout`
 * would close a session holding a quiet long-lived stream and spare one kept up by PINGs.
 */
const sessionIdle = (idle: IdleSessions, activity: SessionActivity): void => {
  activity.closeAtSweep = idle.arm(activity)
}
