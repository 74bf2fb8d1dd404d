/**
 * Soak (CI sample): 30 seconds of the mixed workload of fixtures/soak.ts (unary, errors, deadlines,
 * server / client / bidi streams, Connect / gRPC / gRPC-Web over HTTP/1.1 and HTTP/2) at half of
 * the measured maximum rate, against a server in its own process. The server's RSS after a forced
 * GC grows by less than 5 % after a 10 s warm-up, and every call gets the expected answer.
 * `npm run soak` runs 10 minutes and draws docs/soak-rss.svg (`SOAK_REPORT=1` prints the figures).
 */
import { describe, expect, it } from "vitest"
import { runScript } from "./fixtures/reliability.ts"
import type { SoakOptions, SoakReport } from "./fixtures/soak.ts"

const options: SoakOptions = { durationSec: 30, intervalSec: 2, warmupSec: 10, calibrateSec: 3 }

describe("soak: mixed workload at half of max throughput", () => {
  it("RSS grows by less than 5 % after warm-up; every call answers as expected", async () => {
    const r = await runScript<SoakReport>("soak.ts", [JSON.stringify(options)], 80_000)
    if (process.env.SOAK_REPORT !== undefined) console.log(JSON.stringify(r, null, 2))
    expect(r.wrongExamples).toEqual([])
    expect(r.wrong).toBe(0)
    expect(r.skipped).toBe(0)
    // the open loop kept its rate (within 10 %)
    expect(r.achievedRate).toBeGreaterThan(r.targetRate * 0.9)
    expect(r.samples.length).toBeGreaterThanOrEqual(14)
    expect(r.growthPct).toBeLessThan(5)
    expect(r.maxGrowthPct).toBeLessThan(5)
  }, 90_000)
})
