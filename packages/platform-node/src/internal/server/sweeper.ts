/**
 * Deadlines of many entries kept by one interval per server instead of a Node timer per entry
 * (a timer per request costs more than the rest of a small call's bookkeeping). The interval
 * runs only while some entry is armed, every 1/8 of the timeout (at most 1 s), so an entry is
 * seen at most two sweep periods late. Deadlines are counted in sweeps (small integers: a
 * Date.now() stored per exchange made V8 box a double on every request object and kept
 * short-lived garbage alive longer).
 *
 * @internal
 */

/**
 * An entry's place among a sweeper's armed entries: the list runs through the entries
 * themselves, and an entry taken out has its links cleared at once. A `Set` of per-call entries
 * on a server-lifetime object is what it replaces: V8 rehashes a set's table as entries come and
 * go, and a table it replaced points to its successor and still holds the entries it had, so
 * once one table sat in the old generation (after any full collection) every later table and
 * the entries they held survived each scavenge through it and were promoted, ≈ 1.5 MB per
 * scavenge at 10,000 calls/s over HTTP/2, six times the pause. A list leaves nothing behind.
 */
export interface Entry {
  sweepPrev: Entry | undefined
  sweepNext: Entry | undefined
  armed: boolean
}

/** The sweep period of a timeout: 1/8 of it, between 10 ms and 1 s. */
export const periodOf = (timeoutMs: number): number => Math.min(1000, Math.max(10, Math.floor(timeoutMs / 8)))

/** One timeout's armed entries and the interval that sweeps them. */
export class Sweeper<A extends Entry> {
  /** The timeout (0: off). */
  readonly timeoutMs: number
  readonly periodMs: number
  /** Sweeps after which an entry armed now has certainly waited `timeoutMs`. */
  readonly sweepsPerTimeout: number
  /** Checks the armed entries at sweep `n`, disarming those done with. */
  readonly check: (sweeper: Sweeper<A>, n: number) => void
  /** The armed entries, in the order they were armed (see {@link Entry}). */
  first: A | undefined = undefined
  last: A | undefined = undefined
  /** Sweeps so far: the clock deadlines are counted in. */
  sweeps = 0
  /** The interval that sweeps `armed`, while it is not empty. */
  interval: ReturnType<typeof setInterval> | undefined = undefined

  constructor(timeoutMs: number, check: (sweeper: Sweeper<A>, n: number) => void) {
    this.timeoutMs = timeoutMs
    this.periodMs = periodOf(timeoutMs)
    this.sweepsPerTimeout = Math.ceil(timeoutMs / this.periodMs) + 1
    this.check = check
  }

  /** Arms `entry` (one already armed keeps its place) and returns the sweep at which it is due. */
  arm(entry: A): number {
    if (!entry.armed) {
      entry.armed = true
      entry.sweepPrev = this.last
      if (this.last === undefined) this.first = entry
      else this.last.sweepNext = entry
      this.last = entry
    }
    if (this.interval === undefined) this.interval = setInterval(this.sweep, this.periodMs).unref()
    return this.sweeps + this.sweepsPerTimeout
  }

  /** Takes `entry` out of the armed entries (nothing when it is not armed). */
  disarm(entry: A): void {
    if (!entry.armed) return
    const prev = entry.sweepPrev as A | undefined
    const next = entry.sweepNext as A | undefined
    if (prev === undefined) this.first = next
    else prev.sweepNext = next
    if (next === undefined) this.last = prev
    else next.sweepPrev = prev
    entry.sweepPrev = entry.sweepNext = undefined
    entry.armed = false
  }

  /** The armed entries, oldest first; the one just returned may be disarmed. */
  *entries(): Generator<A> {
    for (let entry = this.first; entry !== undefined;) {
      const next = entry.sweepNext as A | undefined
      yield entry
      entry = next
    }
  }

  private readonly sweep = (): void => {
    this.check(this, ++this.sweeps)
    if (this.first === undefined && this.interval !== undefined) {
      clearInterval(this.interval)
      this.interval = undefined
    }
  }
}
