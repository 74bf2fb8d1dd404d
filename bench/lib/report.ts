/** Writes results/latest.json, RESULTS.md (targets, tables, notes) and results/chart.svg. */
import * as fs from "node:fs"
import * as path from "node:path"
import type { MemoryResult } from "./memory.ts"
import type { SetupNote } from "./setup.ts"
import { SPECS, type Impl } from "./servers.ts"
import { ratioPerRep, type Summary } from "./stats.ts"

export interface Sample {
  rep: number
  value?: number
  reqPerSec?: number
  cpuUsPerCall?: number
  /** Server time in garbage collection per call, and mark-compacts in the run (Node servers with the admin hook). */
  gcUsPerCall?: number
  majorGcs?: number
  /** CPU of the server's threads other than the main one, per call (V8's concurrent GC, libuv's pool). */
  helperCpuUsPerCall?: number
  /** V8's new space and used old space when the run started (Node servers with the admin hook), MiB. */
  newSpaceMiB?: number
  oldSpaceMiB?: number
  p50Us?: number
  p99Us?: number
  rss?: number
  error?: string
}

export interface Row {
  readonly id: string
  readonly workload: string
  readonly workloadTitle: string
  readonly protocol: string
  readonly codec: string
  readonly compression: string
  readonly transport: string
  readonly impl: Impl
  readonly unit: "req/s" | "msgs/s"
  value?: Summary
  reqPerSec?: Summary
  cpuUsPerCall?: Summary
  gcUsPerCall?: Summary
  majorGcs?: Summary
  helperCpuUsPerCall?: Summary
  p50Us?: Summary
  p99Us?: Summary
  rssBytes?: Summary
  samples: Array<Sample>
  note?: string
}

export interface ClientRow {
  readonly client: string
  readonly protocol: "connect" | "grpc"
  readonly http: "1.1" | "2"
  samples: Array<{ rep: number; cpuUsPerCall?: number; callsPerSec?: number; error?: string }>
  cpuUsPerCall?: Summary
  callsPerSec?: Summary
  note?: string
}

export interface ServerStatus {
  readonly impl: Impl
  readonly ok: boolean
  readonly note: string
}

export interface Results {
  readonly meta: Record<string, unknown> & {
    readonly date: string
    readonly quick: boolean
    readonly reps: number
    readonly commit: string
    readonly machine: Record<string, string>
    readonly versions: Record<string, string>
    readonly loadavg: { before: string; after: string }
  }
  readonly setup: ReadonlyArray<SetupNote>
  readonly servers: ReadonlyArray<ServerStatus>
  readonly rows: ReadonlyArray<Row>
  readonly clients: ReadonlyArray<ClientRow>
  readonly memory: ReadonlyArray<MemoryResult>
  /** Servers that exited during the run (each was restarted when it could be). */
  readonly crashes: ReadonlyArray<{ readonly impl: Impl; readonly during: string; readonly log: string; readonly restarted: boolean }>
}

interface Ratio {
  readonly id: string
  readonly ours: Impl
  readonly peer: Impl
  /** Throughput ours / peer, per repetition. */
  readonly throughput?: Summary
  /** Server CPU per call ours / peer, per repetition (lower is better). */
  readonly cpu?: Summary
}

const perRep = (row: Row | undefined, f: (s: Sample) => number | undefined): Array<number | undefined> => {
  if (row === undefined) return []
  const out: Array<number | undefined> = []
  for (const s of row.samples) out[s.rep] = s.error === undefined ? f(s) : undefined
  return out
}

export const ratios = (rows: ReadonlyArray<Row>): Array<Ratio> => {
  const ids = [...new Set(rows.map((r) => r.id))]
  const out: Array<Ratio> = []
  for (const id of ids) {
    const group = rows.filter((r) => r.id === id)
    for (const ours of ["ours-node", "ours-bun"] as const) {
      const o = group.find((r) => r.impl === ours)
      if (o === undefined || o.value === undefined) continue
      for (const p of group) {
        // our other servers are not peers, except the baseline checkout of ours-node (--baseline)
        const abPair = ours === "ours-node" && p.impl === "ours-node-base"
        if (p.impl === ours || (p.impl.startsWith("ours-") && !abPair) || p.value === undefined) continue
        const throughput = ratioPerRep(perRep(o, (s) => s.value), perRep(p, (s) => s.value))
        const cpu = ratioPerRep(perRep(o, (s) => s.cpuUsPerCall), perRep(p, (s) => s.cpuUsPerCall))
        out.push({ id, ours, peer: p.impl, ...(throughput ? { throughput } : {}), ...(cpu ? { cpu } : {}) })
      }
    }
  }
  return out
}

/** ours-node / ours-node-base (`--baseline DIR`) of one workload row or one client row. */
interface BaselineRatio {
  readonly id: string
  readonly unit: string
  /** ours-node and ours-node-base medians (req/s, msgs/s or client calls/s). */
  readonly value: { readonly ours?: number; readonly base?: number }
  /** Server CPU µs per call (client rows: client CPU µs per call), medians. */
  readonly cpuUsPerCall: { readonly ours?: number; readonly base?: number }
  /** Throughput ours / base, per repetition (higher is better). */
  readonly throughput?: Summary
  /** CPU µs per call ours / base, per repetition (lower is better). */
  readonly cpu?: Summary
}

const baselineRatios = (res: Results, rs: ReadonlyArray<Ratio>): { rows: Array<BaselineRatio>; clients: Array<BaselineRatio> } => {
  const rows: Array<BaselineRatio> = []
  for (const id of new Set(res.rows.map((r) => r.id))) {
    const o = res.rows.find((r) => r.id === id && r.impl === "ours-node")
    const b = res.rows.find((r) => r.id === id && r.impl === "ours-node-base")
    if (o === undefined || b === undefined) continue
    const r = rs.find((x) => x.id === id && x.ours === "ours-node" && x.peer === "ours-node-base")
    rows.push({
      id, unit: o.unit, value: opt({ ours: o.value?.median, base: b.value?.median }),
      cpuUsPerCall: opt({ ours: o.cpuUsPerCall?.median, base: b.cpuUsPerCall?.median }),
      ...(r?.throughput ? { throughput: r.throughput } : {}), ...(r?.cpu ? { cpu: r.cpu } : {})
    })
  }
  const clients: Array<BaselineRatio> = []
  const byRep = (c: ClientRow, f: (s: ClientRow["samples"][number]) => number | undefined) => {
    const out: Array<number | undefined> = []
    for (const s of c.samples) out[s.rep] = s.error === undefined ? f(s) : undefined
    return out
  }
  for (const o of res.clients.filter((c) => c.client === "ours")) {
    const b = res.clients.find((c) => c.client === "ours-base" && c.protocol === o.protocol && c.http === o.http)
    if (b === undefined) continue
    const throughput = ratioPerRep(byRep(o, (s) => s.callsPerSec), byRep(b, (s) => s.callsPerSec))
    const cpu = ratioPerRep(byRep(o, (s) => s.cpuUsPerCall), byRep(b, (s) => s.cpuUsPerCall))
    clients.push({
      id: `client ${o.protocol} h${o.http}`, unit: "calls/s", value: opt({ ours: o.callsPerSec?.median, base: b.callsPerSec?.median }),
      cpuUsPerCall: opt({ ours: o.cpuUsPerCall?.median, base: b.cpuUsPerCall?.median }),
      ...(throughput ? { throughput } : {}), ...(cpu ? { cpu } : {})
    })
  }
  return { rows, clients }
}

/** Drops the undefined fields (exactOptionalPropertyTypes). */
const opt = (x: { ours: number | undefined; base: number | undefined }): { ours?: number; base?: number } => ({
  ...(x.ours !== undefined ? { ours: x.ours } : {}), ...(x.base !== undefined ? { base: x.base } : {})
})

interface Target {
  readonly target: string
  readonly want: string
  readonly measured?: Summary
  readonly met?: boolean
  readonly detail: string
}

/** The TypeScript peers: every row of ours-node must be at least as fast as these. */
const TS_PEERS: ReadonlyArray<Impl> = ["connect-node", "grpc-js"]

/** The targets of issue #13 (performance, round 2). */
const targets = (res: Results, rs: ReadonlyArray<Ratio>): Array<Target> => {
  const ratio = (id: string, peer: Impl, want: number, target: string, what: string, ours: Impl = "ours-node"): Target => {
    const r = rs.find((x) => x.id === id && x.ours === ours && x.peer === peer)?.throughput
    return r === undefined
      ? { target, want: `≥ ${want.toFixed(2)}×`, detail: `${what}: not measured in this run` }
      : { target, want: `≥ ${want.toFixed(2)}×`, measured: r, met: r.median >= want, detail: `${what} (median of the per-repetition ratios)` }
  }
  /** ours-node / the faster TypeScript peer of each repetition. */
  const fastestTs = (id: string, target: string): Target => {
    const rows = res.rows.filter((r) => r.id === id)
    const ours = rows.find((r) => r.impl === "ours-node")
    const peers = rows.filter((r) => TS_PEERS.includes(r.impl))
    const best: Array<number | undefined> = []
    for (const p of peers) {
      perRep(p, (s) => s.value).forEach((v, i) => {
        if (v !== undefined) best[i] = Math.max(best[i] ?? 0, v)
      })
    }
    const r = ours === undefined || peers.length === 0 ? undefined : ratioPerRep(perRep(ours, (s) => s.value), best)
    const what = `req/s ours-node / the faster of ${peers.map((p) => label(p.impl)).join(", ") || "the TypeScript peers"} in each repetition`
    return r === undefined
      ? { target, want: "≥ 1.00×", detail: `${what}: not measured in this run` }
      : { target, want: "≥ 1.00×", measured: r, met: r.median >= 1, detail: `${what} (median)` }
  }
  const everyRow = ((): Target => {
    const target = "Every row: ours-node ≥ connect-node and grpc-js wherever they run"
    const pairs = rs.filter((x) => x.ours === "ours-node" && TS_PEERS.includes(x.peer) && x.throughput !== undefined)
    if (pairs.length === 0) return { target, want: "≥ 1.00×", detail: "not measured in this run" }
    const worst = pairs.reduce((a, b) => (b.throughput!.median < a.throughput!.median ? b : a))
    const below = pairs.filter((x) => x.throughput!.median < 1)
    return {
      target,
      want: "≥ 1.00×",
      measured: worst.throughput!,
      met: below.length === 0,
      detail: below.length === 0
        ? `all ${pairs.length} row/peer ratios ≥ 1.00× (lowest: ${worst.id} vs ${label(worst.peer)})`
        : `below 1.00×: ${below.map((x) => `${x.id} vs ${label(x.peer)} ${ratioText(x.throughput)}`).join("; ")}`
    }
  })()
  const out: Array<Target> = [
    everyRow,
    ratio("unary-small/connect/proto/h1", "raw-node", 0.8, "Connect unary small, HTTP/1.1 vs raw node echo", "req/s ours-node / raw-node"),
    ratio("unary-small/connect/proto/h2c", "raw-node", 0.8, "Connect unary small, h2c vs raw node echo", "req/s ours-node / raw-node"),
    ratio("unary-small/grpc/proto/h2c", "raw-node", 0.8, "gRPC unary small vs raw node echo", "req/s ours-node / raw-node"),
    ratio("unary-small/connect/proto/h2c", "connect-go", 1.0, "Connect unary small, h2c vs connect-go (GOMAXPROCS=1)", "req/s ours-node / connect-go"),
    ratio("unary-small/grpc/proto/h2c", "connect-go", 1.0, "gRPC unary small vs connect-go (GOMAXPROCS=1)", "req/s ours-node / connect-go"),
    ratio("unary-small/grpc/proto/h2c", "grpc-js", 1.2, "gRPC unary small vs grpc-js", "req/s ours-node / grpc-js"),
    ratio("unary-64k/connect/proto/h1", "raw-node", 0.7, "Unary 64 KiB vs raw echo (Connect, HTTP/1.1)", "req/s ours-node / raw-node"),
    ratio("unary-64k/connect/proto/h2c", "raw-node", 0.7, "Unary 64 KiB vs raw echo (Connect, h2c)", "req/s ours-node / raw-node"),
    fastestTs("unary-64k/connect/proto+gzip/h1", "Unary 64 KiB + gzip (Connect, HTTP/1.1) vs the fastest TypeScript peer"),
    fastestTs("unary-64k/grpc/proto+gzip/h2c", "Unary 64 KiB + gzip (gRPC, h2c) vs the fastest TypeScript peer"),
    ratio("client-stream/connect/proto/h1", "connect-go", 1.0, "Client stream msgs/s, HTTP/1.1 vs connect-go (GOMAXPROCS=1)", "msgs/s ours-node / connect-go"),
    ratio("client-stream/connect/proto/h2c", "connect-go", 1.0, "Client stream msgs/s, h2c vs connect-go (GOMAXPROCS=1)", "msgs/s ours-node / connect-go"),
    ratio("bidi/connect/proto/h2c", "connect-go", 1.0, "Bidi msgs/s, h2c vs connect-go (GOMAXPROCS=1)", "msgs/s ours-node / connect-go"),
    ratio("unary-small/connect/proto/h1", "raw-bun", 0.6, "Bun: Connect unary small vs raw Bun echo", "req/s ours-bun / raw-bun", "ours-bun")
  ]
  const m = res.memory.find((x) => x.impl === "ours-node")
  const gj = res.memory.find((x) => x.impl === "grpc-js")
  const heapTarget = "Heap per idle HTTP/2 stream (ours-node, after gc) vs grpc-js"
  const heapWant = "≤ grpc-js, no growth"
  if (m?.heapPerH2Stream !== undefined) {
    const growth = m.growth ?? 0
    const grows = growth > 64 * 1024
    const peer = gj?.heapPerH2Stream
    out.push({
      target: heapTarget,
      want: heapWant,
      measured: { median: m.heapPerH2Stream, min: m.heapPerH2Stream, max: m.heapPerH2Stream, n: 1 },
      ...(peer !== undefined ? { met: m.heapPerH2Stream <= peer && !grows } : {}),
      detail: `${fmt(m.heapPerH2Stream)} B/stream over ${m.h2Streams} streams (grpc-js ${peer === undefined ? "not measured" : `${fmt(peer)} B`}); heap after each of ${m.afterCycles.length} open/close cycles: ${m.afterCycles.map((x) => kb(x)).join(", ")} (growth since cycle ${(m.growthFrom ?? 0) + 1}: ${kb(growth)}${grows ? ", grows" : ""})`
    })
  } else {
    out.push({ target: heapTarget, want: heapWant, detail: `not measured${m?.note ? `: ${m.note}` : ""}` })
  }
  return out
}

const fmt = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? "–" : Math.abs(x) >= 1000 ? Math.round(x).toLocaleString("en-US") : Math.abs(x) >= 10 ? x.toFixed(0) : x.toFixed(2)
const kb = (b: number | undefined) => (b === undefined ? "–" : `${(b / 1024).toFixed(1)} KiB`)
const range = (s: Summary | undefined) => (s === undefined ? "–" : s.n > 1 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : fmt(s.median))
const ratioText = (s: Summary | undefined) => (s === undefined ? "–" : s.n > 1 ? `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : `${s.median.toFixed(2)}×`)
const label = (impl: Impl) => SPECS[impl].label

const markdown = (res: Results, rs: ReadonlyArray<Ratio>, ts: ReadonlyArray<Target>, ab: ReturnType<typeof baselineRatios>): string => {
  const L: Array<string> = []
  const m = res.meta
  L.push(`# Benchmark results${m.quick ? " (--quick smoke run: 1 repetition, short durations — not for conclusions)" : ""}`)
  L.push("")
  L.push(`Generated by \`npm run bench${m.quick ? " -- --quick" : ""}\` (bench/run.ts) on ${m.date}. Raw data: \`${m.quick ? "bench/results/quick/latest.json" : "bench/results/latest.json"}\`; chart: \`${m.quick ? "bench/results/quick/chart.svg" : "bench/results/chart.svg"}\`.`)
  L.push("")
  L.push("| | |")
  L.push("|---|---|")
  L.push(`| machine | ${m.machine["cpu"]} (${m.machine["mhz"]} MHz), nproc ${m.machine["nproc"]}, ${m.machine["memGiB"]} GiB, Linux ${m.machine["kernel"]} |`)
  L.push(`| commit | \`${m.commit}\` |`)
  L.push(`| pinning | ${String(m["pinning"])} |`)
  L.push(`| load average (1/5/15 min) | before ${m.loadavg.before}, after ${m.loadavg.after} — ${loadNote(m.loadavg.before)}; the interleaving (A B C … A B C …) and per-repetition ratios are there to cancel drift |`)
  L.push(`| repetitions | ${m.reps}, ${String(m["durationSec"])} s measured per run after ${String(m["warmupSec"])} s warm-up (full runs: after one unrecorded round of every implementation per workload); total ${Math.round(Number(m["elapsedSec"]))} s |`)
  L.push(`| h2load | HTTP/1.1 ${JSON.stringify((m["h2load"] as Record<string, unknown>)["h1"])}, h2c ${JSON.stringify((m["h2load"] as Record<string, unknown>)["h2c"])}, 1 thread |`)
  L.push(`| bidi driver | ${String(m["bidi"])} (bench/driver/bidi.ts, raw node:http2) |`)
  L.push(`| client driver | ${String(m["client"])} (bench/driver/client.ts) |`)
  for (const [k, v] of Object.entries(m.versions)) L.push(`| ${k} | ${v} |`)
  const base = m["baseline"] as { dir: string; commit: string; node: string } | undefined
  if (base !== undefined) L.push(`| baseline (--baseline) | \`${base.commit}\` in ${base.dir} (${base.node}): ours-node-base and the ours-base client rows |`)
  L.push("")
  if (ab.rows.length > 0 || ab.clients.length > 0) {
    L.push("## Baseline A/B: ours-node / ours-node-base")
    L.push("")
    L.push("The working tree (ours-node, client ours) against the `--baseline` checkout (ours-node-base, client ours-base), measured in the same interleaved rounds. Ratios are ours / base per repetition, median (min–max): throughput above 1 and CPU below 1 mean the working tree is faster.")
    L.push("")
    L.push("| row | ours | base | throughput ours / base | CPU µs per call ours | CPU µs per call base | CPU ours / base |")
    L.push("|---|---|---|---|---|---|---|")
    for (const x of [...ab.rows, ...ab.clients]) {
      L.push(`| ${x.id} | ${fmt(x.value.ours)} ${x.unit} | ${fmt(x.value.base)} ${x.unit} | ${ratioText(x.throughput)} | ${fmt(x.cpuUsPerCall.ours)} | ${fmt(x.cpuUsPerCall.base)} | ${ratioText(x.cpu)} |`)
    }
    if (ab.clients.length > 0) L.push("\nClient rows: client CPU µs per call (the driver's process.cpuUsage()) and calls/s against the raw node echo; server rows: server CPU µs per call.")
    L.push("")
  }
  L.push("## Targets of the issue")
  L.push("")
  L.push("Ratios are computed per repetition (ours / peer in the same round of the interleaving); the median is shown with min–max.")
  L.push("")
  L.push("| target | wanted | measured | met? | what |")
  L.push("|---|---|---|---|---|")
  for (const t of ts) {
    const measured = t.measured === undefined ? "–" : t.target.startsWith("Heap") ? `${fmt(t.measured.median)} B` : ratioText(t.measured)
    L.push(`| ${t.target} | ${t.want} | ${measured} | ${t.met === undefined ? "not measured" : t.met ? "yes" : "**no**"} | ${t.detail} |`)
  }
  L.push("")
  L.push("## Servers")
  L.push("")
  L.push("Each server is its own process on its own port, pinned to core 0; the load generator runs on core 1. Server CPU µs per call is (utime+stime) from /proc/<pid>/stat over the measured run divided by the calls completed, with the part spent on threads other than the main one in brackets (/proc/<pid>/task: V8's concurrent marking and compiler threads, libuv's pool — work a main-thread profile does not show); GC µs per call is the time of V8's collections in the same run (perf_hooks 'gc' entries, reported by the Node servers' admin hook), with the number of mark-compacts in the run (median over the repetitions) in brackets; RSS from /proc/<pid>/status after the run. p50/p99 are per call (h2load's --log-file; for bidi per round trip).")
  L.push("")
  L.push("| server | status |")
  L.push("|---|---|")
  for (const s of res.servers) L.push(`| ${label(s.impl)} | ${s.ok ? "ran" : `**did not run**: ${s.note}`} |`)
  L.push("")
  const ids = [...new Set(res.rows.map((r) => r.id))]
  L.push("## Throughput by workload")
  L.push("")
  for (const id of ids) {
    const group = res.rows.filter((r) => r.id === id)
    const g = group[0]!
    L.push(`### ${g.workloadTitle} — ${g.protocol}, ${g.codec}${g.compression === "gzip" ? " + gzip" : ""}, ${g.transport === "h1" ? "HTTP/1.1" : "h2c"}`)
    L.push("")
    L.push(`| implementation | ${g.unit} median (min–max) | ours-node / this | server CPU µs per call (off the main thread) | GC µs per call (mark-compacts) | p50 µs | p99 µs | RSS MiB | note |`)
    L.push("|---|---|---|---|---|---|---|---|---|")
    for (const r of group) {
      const ratio = r.impl === "ours-node" ? "1.00×" : ratioText(rs.find((x) => x.id === id && x.ours === "ours-node" && x.peer === r.impl)?.throughput)
      L.push(`| ${label(r.impl)} | ${range(r.value)} | ${ratio} | ${fmt(r.cpuUsPerCall?.median)}${r.helperCpuUsPerCall ? ` (${fmt(r.helperCpuUsPerCall.median)})` : ""} | ${r.gcUsPerCall ? `${fmt(r.gcUsPerCall.median)} (${r.majorGcs ? +r.majorGcs.median.toFixed(1) : 0})` : "–"} | ${fmt(r.p50Us?.median)} | ${fmt(r.p99Us?.median)} | ${r.rssBytes ? (r.rssBytes.median / 2 ** 20).toFixed(0) : "–"} | ${r.note ?? ""} |`)
    }
    const bun = rs.filter((x) => x.id === id && x.ours === "ours-bun")
    if (bun.length > 0) L.push(`\nours (Bun) / peer: ${bun.map((x) => `${label(x.peer)} ${ratioText(x.throughput)}`).join("; ")}`)
    L.push("")
  }
  if (res.clients.length > 0) {
    L.push("## Client CPU (unary small against the raw node echo)")
    L.push("")
    L.push("| client | protocol | HTTP | client CPU µs per call | calls/s | note |")
    L.push("|---|---|---|---|---|---|")
    for (const c of res.clients) L.push(`| ${c.client} | ${c.protocol} | ${c.http} | ${range(c.cpuUsPerCall)} | ${range(c.callsPerSec)} | ${c.note ?? ""} |`)
    L.push("")
  }
  if (res.memory.length > 0) {
    L.push("## Memory per idle connection / stream")
    L.push("")
    L.push("Heap after `gc()` through the admin hook (BENCH_ADMIN=1: SIGUSR2 → gc() → memoryUsage on stderr; Node servers run with --expose-gc, Bun uses Bun.gc). connect-go and connect-python have no such hook: RSS only, without a collection. Idle HTTP/1.1 connection: one Ping, then kept open; idle HTTP/2 stream: a CumSum call whose headers were sent and no message. Growth: heap (or RSS) after the last open/close cycle minus after the middle one (with fewer than 6 cycles: minus after the second), since a Node heap rises for the first few thousand streams and then levels off.")
    L.push("")
    L.push("| server | heap / idle HTTP/1.1 conn | RSS / idle HTTP/1.1 conn | heap / idle HTTP/2 stream | RSS / idle HTTP/2 stream | after each open/close cycle | growth | note |")
    L.push("|---|---|---|---|---|---|---|---|")
    for (const x of res.memory) {
      const b = (v: number | undefined) => (v === undefined ? "–" : `${fmt(v)} B`)
      L.push(`| ${label(x.impl as Impl)} | ${b(x.heapPerH1Conn)} | ${b(x.rssPerH1Conn)} | ${b(x.heapPerH2Stream)} | ${b(x.rssPerH2Stream)} | ${x.afterCycles.map(kb).join(", ")} ${x.gc ? "(heap)" : "(RSS)"} | ${kb(x.growth)} | ${x.note ?? ""} |`)
    }
    L.push("")
  }
  L.push("## Setup and what did not work")
  L.push("")
  for (const s of res.setup) L.push(`- ${s.step}: ${s.ok ? "ok" : "**failed**"} — ${s.note}`)
  for (const s of res.servers) if (!s.ok) L.push(`- ${label(s.impl)} did not run: ${s.note}`)
  for (const c of res.crashes) L.push(`- ${label(c.impl)} exited during ${c.during} (${c.restarted ? "restarted" : "could not be restarted"}): \`${c.log.replace(/`/g, "'").slice(0, 400)}\``)
  const notes = res.rows.filter((r) => r.note !== undefined)
  for (const r of notes) L.push(`- ${r.id} ${label(r.impl)}: ${r.note}`)
  for (const c of res.clients) if (c.note) L.push(`- client ${c.client} ${c.protocol} h${c.http}: ${c.note}`)
  for (const x of res.memory) if (x.note) L.push(`- memory ${x.impl}: ${x.note}`)
  L.push("- grpc-js answers gzip-compressed requests with uncompressed responses: its server has no response compression (1.14.7, `serializeMessage` in server-interceptors.js: \"response compression is currently not supported\"), so in the gRPC + gzip rows it skips the response compression the others do (bench/README, \"Reading the other rows below their targets\", measures ours without it).")
  L.push("- Not applicable by design: Bun.serve speaks HTTP/1.1 only (no h2c, no gRPC, bidi only half-duplex), grpc-js speaks only gRPC over HTTP/2, the raw echoes do not speak gzip; those cells are left out.")
  L.push("")
  return L.join("\n")
}

/** Grouped horizontal bar chart of the main workloads, one panel each (own scale). */
const chart = (res: Results): string => {
  const main = [
    "unary-small/connect/proto/h1", "unary-small/connect/proto/h2c", "unary-small/grpc/proto/h2c", "unary-64k/connect/proto/h1",
    "server-stream/connect/proto/h2c", "client-stream/connect/proto/h2c", "bidi/connect/proto/h2c", "error/connect/proto/h1"
  ]
  const panels = main.map((id) => res.rows.filter((r) => r.id === id && r.value !== undefined)).filter((g) => g.length > 0)
  const colors: Record<Impl, string> = {
    "ours-node": "#2563eb", "ours-node-base": "#93c5fd", "ours-bun": "#60a5fa", "connect-node": "#f59e0b", "grpc-js": "#10b981", "connect-go": "#06b6d4",
    "connect-python": "#a855f7", "raw-node": "#9ca3af", "raw-bun": "#d1d5db"
  }
  const W = 900
  const barH = 16
  const gap = 4
  const labelW = 130
  const valueW = 120
  const plotW = W - labelW - valueW - 20
  let y = 50
  const parts: Array<string> = []
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;")
  for (const g of panels) {
    const first = g[0]!
    const max = Math.max(...g.map((r) => r.value!.max))
    parts.push(`<text x="10" y="${y}" font-weight="bold" font-size="13">${esc(`${first.workloadTitle} — ${first.protocol}, ${first.transport === "h1" ? "HTTP/1.1" : "h2c"} (${first.unit}, median; whiskers min–max)`)}</text>`)
    y += 8
    for (const r of g) {
      const v = r.value!
      const w = (v.median / max) * plotW
      parts.push(`<text x="${labelW}" y="${y + 12}" text-anchor="end" font-size="11">${esc(label(r.impl))}</text>`)
      parts.push(`<rect x="${labelW + 6}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${colors[r.impl]}"/>`)
      if (v.n > 1) {
        const x0 = labelW + 6 + (v.min / max) * plotW
        const x1 = labelW + 6 + (v.max / max) * plotW
        parts.push(`<line x1="${x0.toFixed(1)}" y1="${y + barH / 2}" x2="${x1.toFixed(1)}" y2="${y + barH / 2}" stroke="#111" stroke-width="1"/>`)
      }
      parts.push(`<text x="${labelW + 12 + plotW}" y="${y + 12}" font-size="11">${fmt(v.median)}</text>`)
      y += barH + gap
    }
    y += 26
  }
  const title = `connect-effect benchmark — ${res.meta.date.slice(0, 10)}${res.meta.quick ? " (quick)" : ""}, ${res.meta.machine["cpu"]}, servers pinned to 1 core`
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="24" font-size="15" font-weight="bold">${esc(title)}</text>
${parts.join("\n")}
</svg>
`
}

const replacer = (_k: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v)

/** "after" always shows the harness's own load (servers on one core, load on the other); "before" tells whether something else was running. */
const loadNote = (before: string): string =>
  Number(before.split(" ")[0]) >= 0.5
    ? "the machine was busy before the run started (1-minute load ≥ 0.5), so absolute numbers are noisy"
    : "the machine was quiet before the run; the load after it is the harness's own (servers on one core, load generators on the other), and a shared virtual machine still varies from run to run"

export const writeReport = (res: Results, out: { jsonPath: string; svgPath: string; mdPath: string }): void => {
  const rs = ratios(res.rows)
  const ts = targets(res, rs)
  const ab = baselineRatios(res, rs)
  // one row per workload × protocol × transport × implementation
  const rows = res.rows.map((r) => ({
    id: r.id, workload: r.workload, protocol: r.protocol, codec: r.codec, compression: r.compression, transport: r.transport,
    implementation: r.impl, unit: r.unit, value: r.value?.median ?? null, min: r.value?.min ?? null, max: r.value?.max ?? null,
    reqPerSec: r.reqPerSec?.median ?? null, cpuUsPerCall: r.cpuUsPerCall?.median ?? null, p50Us: r.p50Us?.median ?? null,
    p99Us: r.p99Us?.median ?? null, rssBytes: r.rssBytes?.median ?? null, note: r.note ?? null, samples: r.samples
  }))
  for (const p of [out.jsonPath, out.svgPath, out.mdPath]) fs.mkdirSync(path.dirname(p), { recursive: true })
  fs.writeFileSync(out.jsonPath, JSON.stringify({ meta: res.meta, targets: ts, setup: res.setup, servers: res.servers, rows, ratios: rs, ...(ab.rows.length > 0 || ab.clients.length > 0 ? { baseline: ab } : {}), clients: res.clients, memory: res.memory, crashes: res.crashes }, replacer, 2) + "\n")
  fs.writeFileSync(out.svgPath, chart(res))
  fs.writeFileSync(out.mdPath, markdown(res, rs, ts, ab))
}
