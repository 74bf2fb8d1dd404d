/**
 * Load (CI sample): 2,000 concurrent server-streaming calls held on one server over h2c, spread
 * over 4 HTTP/2 sessions (Connect, gRPC, gRPC-Web). The server runs in its own process
 * (fixtures/load.ts starts fixtures/server.ts); its heap is measured with every stream held.
 * `npm run load` holds 10,000 (set `LOAD_REPORT=1` to print the figures here).
 */
import { describe, expect, it } from "vitest"
import type { LoadReport } from "./fixtures/load.ts"
import { runScript } from "./fixtures/reliability.ts"

const STREAMS = 2000
/** Server heap per held stream (measured about 20 KiB). */
const HEAP_PER_STREAM_BOUND = 64 * 1024

describe("load: concurrent streams on one server (h2c)", () => {
  it(`holds ${STREAMS} streams with bounded, steady heap; every stream completes after release`, async () => {
    const r = await runScript<LoadReport>("load.ts", [String(STREAMS), "4", "600"], 90_000)
    if (process.env.LOAD_REPORT !== undefined) console.log(JSON.stringify(r, null, 2))
    // every stream was held at the same time, by the server's own count, on 4 connections
    expect(r.serverHeld).toBe(STREAMS)
    expect(r.serverConnections).toBe(4)
    // bounded heap per stream, steady while held (samples within 10 % of the growth)
    expect(r.heapPerStream).toBeGreaterThan(0)
    expect(r.heapPerStream).toBeLessThan(HEAP_PER_STREAM_BOUND)
    expect(r.holdDrift).toBeLessThan(0.1)
    // released: every stream ends with both messages, and the heap goes back near the baseline
    expect(r.completed).toBe(STREAMS)
    expect(r.bad).toEqual({})
    expect(r.after.held).toBe(0)
    expect(r.after.active).toBe(0)
    expect(r.heapLeftAfter).toBeLessThan((r.heapPerStream * STREAMS) / 4)
  }, 100_000)
})
