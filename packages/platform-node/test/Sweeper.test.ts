/**
 * The server's per-call bookkeeping lists (armed timeouts, running exchanges): the order they
 * keep, and that an entry taken out is unlinked from its neighbours and they from it, so that
 * a dead entry keeps nothing alive.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Exchange, Running } from "../src/internal/server/exchange.ts"
import { type Entry, Sweeper } from "../src/internal/server/sweeper.ts"

interface Item extends Entry {
  readonly id: number
}

const item = (id: number): Item => ({ id, sweepPrev: undefined, sweepNext: undefined, armed: false })

const ids = (s: Sweeper<Item>) => Array.from(s.entries(), (e) => e.id)

describe("Sweeper armed entries", () => {
  it("agree with an insertion-ordered set over any sequence of arm and disarm", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 7 })), { maxLength: 60 }), (ops) => {
        const sweeper = new Sweeper<Item>(0, () => {})
        const items = Array.from({ length: 8 }, (_, i) => item(i))
        const model = new Set<number>()
        for (const [arm, i] of ops) {
          if (arm) {
            sweeper.arm(items[i]!)
            model.add(i)
          } else {
            sweeper.disarm(items[i]!)
            model.delete(i)
          }
          expect(ids(sweeper)).toEqual([...model])
          expect(items.filter((x) => x.armed).map((x) => x.id).sort()).toEqual([...model].sort())
        }
        for (const x of items) {
          if (!x.armed) expect([x.sweepPrev, x.sweepNext]).toEqual([undefined, undefined])
        }
        if (sweeper.interval !== undefined) clearInterval(sweeper.interval)
      }),
      { numRuns: 500 }
    )
  })

  it("lets a check disarm the entry it is looking at and go on", () => {
    const sweeper = new Sweeper<Item>(0, () => {})
    const items = [1, 2, 3, 4].map(item)
    for (const x of items) sweeper.arm(x)
    const seen: Array<number> = []
    for (const x of sweeper.entries()) {
      seen.push(x.id)
      if (x.id % 2 === 1) sweeper.disarm(x)
    }
    expect(seen).toEqual([1, 2, 3, 4])
    expect(ids(sweeper)).toEqual([2, 4])
    if (sweeper.interval !== undefined) clearInterval(sweeper.interval)
  })

  it("sweeps on its interval and stops it once nothing is armed", async () => {
    const swept: Array<number> = []
    const sweeper = new Sweeper<Item>(80, (s, n) => {
      swept.push(n)
      for (const x of s.entries()) s.disarm(x)
    })
    sweeper.arm(item(1))
    expect(sweeper.interval).toBeDefined()
    await new Promise((r) => setTimeout(r, 60))
    expect(swept).toEqual([1])
    expect(sweeper.first).toBeUndefined()
    expect(sweeper.interval).toBeUndefined()
  })
})

describe("Running exchanges", () => {
  it("hold the fibers of the exchanges added and not deleted, and unlink the deleted", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5 })), { maxLength: 40 }), (ops) => {
        const running = new Running()
        const exchanges = Array.from({ length: 6 }, () => new Exchange())
        exchanges.forEach((ex, i) => (ex.fiber = { id: i } as never))
        const model = new Set<number>()
        for (const [add, i] of ops) {
          const ex = exchanges[i]!
          if (add) {
            if (model.has(i)) continue // an exchange runs one fiber, added once
            running.add(ex)
            model.add(i)
          } else {
            running.delete(ex)
            model.delete(i)
          }
          const now = running.fibers().map((f) => (f as unknown as { id: number }).id)
          expect(now.sort()).toEqual([...model].sort())
        }
        exchanges.forEach((ex, i) => {
          if (!model.has(i)) expect([ex.runPrev, ex.runNext]).toEqual([undefined, undefined])
        })
      }),
      { numRuns: 500 }
    )
  })
})
