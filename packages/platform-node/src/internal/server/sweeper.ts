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

/** The sweep period of a timeout: 1/8 of it, between 10 ms and 1 s. */
export const periodOf = (timeoutMs: number): number => Math.min(1000, Math.max(10, Math.floor(timeoutMs / 8)))

/** One timeout's armed entries and the interval that sweeps them. */
export class Sweeper<A> {
  /** The timeout (0: off). */
  readonly timeoutMs: number
  readonly periodMs: number
  /** Sweeps after which an entry armed now has certainly waited `timeoutMs`. */
  readonly sweepsPerTimeout: number
  /** Checks the armed entries at sweep `n`, deleting those done with. */
  readonly check: (armed: Set<A>, n: number) => void
  /** Armed entries, in the order they were armed. */
  readonly armed = new Set<A>()
  /** Sweeps so far: the clock deadlines are counted in. */
  sweeps = 0
  /** The interval that sweeps `armed`, while it is not empty. */
  interval: ReturnType<typeof setInterval> | undefined = undefined

  constructor(timeoutMs: number, check: (armed: Set<A>, n: number) => void) {
    this.timeoutMs = timeoutMs
    this.periodMs = periodOf(timeoutMs)
    this.sweepsPerTimeout = Math.ceil(timeoutMs / this.periodMs) + 1
    this.check = check
  }

  /** Arms `entry` (one already armed keeps its place) and returns the sweep at which it is due. */
  arm(entry: A): number {
    this.armed.add(entry)
    if (this.interval === undefined) this.interval = setInterval(this.sweep, this.periodMs).unref()
    return this.sweeps + this.sweepsPerTimeout
  }

  private readonly sweep = (): void => {
    this.check(this.armed, ++this.sweeps)
    if (this.armed.size === 0 && this.interval !== undefined) {
      clearInterval(this.interval)
      this.interval = undefined
    }
  }
}
