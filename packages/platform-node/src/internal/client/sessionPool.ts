/**
 * The HTTP/2 client's sessions: one per origin, created on demand and reused, kept alive by
 * PINGs, closed when idle, and retired after an error, a close or a GOAWAY (the next call then
 * opens a new one).
 *
 * @internal
 */
import * as http2 from "node:http2"
import type * as tls from "node:tls"

/** Settings of a pool (defaults resolved). */
export interface Config {
  /** Sends a PING this often on every session; `0` disables keepalive pings. */
  readonly pingIntervalMs: number
  /** A session whose PING is not acknowledged within this time is closed. */
  readonly pingTimeoutMs: number
  /** A session without open streams for this long is closed. */
  readonly idleTimeoutMs: number
  /** HTTP/2 settings sent to servers (merged over `enablePush: false`). */
  readonly settings: http2.Settings | undefined
  /** TLS settings for `https:` origins. */
  readonly tls: tls.ConnectionOptions
  /** Called with every new session. */
  readonly onSession: ((session: http2.ClientHttp2Session) => void) | undefined
}

/** One pooled HTTP/2 session. */
export interface Session {
  readonly origin: string
  readonly session: http2.ClientHttp2Session
  active: number
  dead: boolean
  /** Last stream id the server promised to process, once it sent GOAWAY. */
  goawayLastStreamId: number | undefined
  idleTimer: ReturnType<typeof setTimeout> | undefined
  pingTimer: ReturnType<typeof setInterval> | undefined
}

/** Sessions by origin: created on demand, reused, dropped once closed, errored or sent GOAWAY. */
export class SessionPool {
  readonly config: Config
  readonly sessions = new Map<string, Session>()
  readonly all = new Set<Session>()
  closed = false

  constructor(config: Config) {
    this.config = config
  }

  /** The session of `origin`: the pooled one while it is usable, else a new one. */
  get(origin: string): Session {
    const existing = this.sessions.get(origin)
    if (existing !== undefined && !existing.dead && !existing.session.closed && !existing.session.destroyed) {
      return existing
    }
    return this.connect(origin)
  }

  private connect(origin: string): Session {
    const session = http2.connect(origin, {
      ...this.config.tls,
      ALPNProtocols: ["h2"],
      settings: { enablePush: false, ...this.config.settings }
    })
    const entry: Session = {
      origin,
      session,
      active: 0,
      dead: false,
      goawayLastStreamId: undefined,
      idleTimer: undefined,
      pingTimer: undefined
    }
    this.sessions.set(origin, entry)
    this.all.add(entry)
    const retire = () => this.retire(entry)
    session.on("error", retire)
    session.on("goaway", (_code: number, lastStreamId: number) => {
      entry.goawayLastStreamId = lastStreamId
      retire()
    })
    session.once("close", () => {
      retire()
      this.all.delete(entry)
    })
    const pingIntervalMs = this.config.pingIntervalMs
    if (pingIntervalMs > 0) {
      const pingTimeoutMs = this.config.pingTimeoutMs
      let pinging = false
      entry.pingTimer = setInterval(() => {
        // one PING at a time: an unanswered one is judged by its own timeout
        // a draining session (GOAWAY received) keeps pinging while its streams finish
        if (pinging || session.destroyed || session.connecting) return
        const timeout = setTimeout(() => {
          const error = Object.assign(new Error("http/2 keepalive ping timed out"), { code: "ERR_HTTP2_PING_CANCEL" })
          session.destroy(error)
        }, pingTimeoutMs)
        timeout.unref()
        pinging = true
        try {
          const sent = session.ping((error) => {
            pinging = false
            clearTimeout(timeout)
            if (error !== null && !session.destroyed) session.destroy(error)
          })
          if (!sent) {
            pinging = false
            clearTimeout(timeout)
          }
        } catch {
          pinging = false
          clearTimeout(timeout)
        }
      }, pingIntervalMs)
      entry.pingTimer.unref()
    }
    this.config.onSession?.(session)
    return entry
  }

  private retire(entry: Session): void {
    if (!entry.dead) {
      entry.dead = true
      if (this.sessions.get(entry.origin) === entry) this.sessions.delete(entry.origin)
    }
    if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer)
    entry.idleTimer = undefined
    if (entry.active === 0 || entry.session.destroyed) this.stopPing(entry)
    if (entry.active === 0 && !entry.session.closed && !entry.session.destroyed) entry.session.close()
  }

  private stopPing(entry: Session): void {
    if (entry.pingTimer !== undefined) clearInterval(entry.pingTimer)
    entry.pingTimer = undefined
  }

  /** A stream is opened on the session. */
  acquire(entry: Session): void {
    if (entry.active++ === 0) {
      if (entry.idleTimer !== undefined) {
        clearTimeout(entry.idleTimer)
        entry.idleTimer = undefined
      }
      entry.session.ref()
    }
  }

  /** A stream of the session closed. */
  release(entry: Session): void {
    if (--entry.active > 0) return
    if (entry.dead) {
      this.stopPing(entry)
      if (!entry.session.closed && !entry.session.destroyed) entry.session.close()
      return
    }
    entry.session.unref()
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = undefined
      if (entry.active === 0) this.retire(entry)
    }, this.config.idleTimeoutMs)
    entry.idleTimer.unref()
  }

  /** Destroys every session (layer release). */
  destroyAll(): void {
    this.closed = true
    for (const entry of this.all) {
      this.retire(entry)
      entry.session.destroy()
    }
    this.all.clear()
    this.sessions.clear()
  }
}
