/**
 * The benchmark harness (`npm run bench`, `npm run bench -- --quick`).
 *
 * Sets up every peer (h2load via apt, codegen, go build, Python venv), starts all servers
 * pinned to core 0 (each its own process and port), drives them from core 1 with h2load and
 * the Node drivers, interleaving implementations (A B C … A B C …) over the repetitions, and
 * writes results/latest.json, RESULTS.md and results/chart.svg (`--quick`: results/quick/).
 *
 * Options: --quick | --reps N | --duration S | --only SUBSTRING[,SUBSTRING] (comparison ids, client, memory) |
 *          --impls ID,ID (only these implementations, e.g. ours-node,connect-go) |
 *          --memory-cycles N (open/close cycles of the idle-stream memory test; default 12) |
 *          --skip-setup | --out DIR |
 *          --baseline DIR (another checkout of this repository, npm install done: adds ours-node-base and
 *          the ours-base client rows, run from DIR, interleaved with ours-node; the report shows ours / base)
 * Exits 0 when the harness worked, whatever the numbers; 1 when it could not measure at all.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { spawnSync } from "node:child_process"
import { h2load } from "./lib/h2load.ts"
import { send } from "./lib/http.ts"
import { measureMemory, type MemoryResult } from "./lib/memory.ts"
import { BENCH, NODE, ROOT, cpuMicros, helperThreadsCpuMicros, pinned, pinning, rssBytes, run, runInstalledPackages, sleep, startProc } from "./lib/proc.ts"
import { writeReport, type ClientRow, type Results, type Row, type Sample, type ServerStatus } from "./lib/report.ts"
import { IMPLS, portFree, SPECS, startServer, stopServer, useBaseline, type Impl, type Running } from "./lib/servers.ts"
import { buildPackages, setup, setupBaseline } from "./lib/setup.ts"
import { summarize } from "./lib/stats.ts"
import { buildRequest, comparisons, KIND_TITLE, MSGS_PER_CALL, validate, type Comparison } from "./lib/workloads.ts"

const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(`--${name}`)
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`)
  return i === -1 ? undefined : argv[i + 1]
}
const quick = flag("quick")
const config = {
  quick,
  reps: Number(opt("reps") ?? (quick ? 1 : 5)),
  durationSec: Number(opt("duration") ?? (quick ? 0.5 : 2)),
  warmupSec: quick ? 0.2 : 0.5,
  bidiStreams: 8,
  clientCalls: quick ? 1000 : 6000,
  clientWarmup: quick ? 300 : 2000,
  memory: {
    ...(quick ? { h1Conns: 200, h2Streams: 200, settleMs: 300 } : { h1Conns: 1000, h2Streams: 1000, settleMs: 700 }),
    cycles: Number(opt("memory-cycles") ?? (quick ? 2 : 12))
  },
  /** --only A,B: any of these substrings */
  only: opt("only")?.split(","),
  impls: opt("impls")?.split(","),
  baseline: opt("baseline") !== undefined ? path.resolve(opt("baseline")!) : undefined,
  outDir: opt("out") ?? (quick ? `${BENCH}/results/quick` : `${BENCH}/results`),
  reportPath: opt("out") !== undefined ? `${opt("out")}/RESULTS.md` : quick ? `${BENCH}/results/quick/RESULTS.md` : `${BENCH}/RESULTS.md`
}
const BASELINE = config.baseline !== undefined ? useBaseline(config.baseline) : undefined
/** With --baseline, ours-node-base runs right after ours-node. */
const ALL_IMPLS: ReadonlyArray<Impl> = BASELINE === undefined ? IMPLS : IMPLS.flatMap((i): Array<Impl> => (i === "ours-node" ? [i, "ours-node-base"] : [i]))
const SELECTED: ReadonlyArray<Impl> = config.impls === undefined ? ALL_IMPLS : ALL_IMPLS.filter((i) => config.impls!.includes(i))
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`)
const TMP = `${BENCH}/.tmp`

const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(" ")

/** Servers that did not answer the GC query (Bun, the peers without the hook, an older baseline). */
const noGcTotals = new Set<string>()

/** `BENCH_GC`: collections so far, and V8's new-space size and used old space now (bytes). */
interface GcTotals {
  readonly minor: number
  readonly major: number
  readonly ms: number
  readonly newSpace?: number
  readonly oldSpace?: number
}

/** The server's GC totals so far (`BENCH_GC` on SIGWINCH from the admin hook), if it reports them. */
const gcTotals = async (r: Running): Promise<GcTotals | undefined> => {
  if (!r.spec.admin || noGcTotals.has(r.spec.impl) || r.proc.exited) return undefined
  const line = r.proc.nextLine(/^BENCH_GC /, 2_000)
  process.kill(r.proc.pid, "SIGWINCH")
  const l = await line
  if (l === undefined) {
    noGcTotals.add(r.spec.impl)
    return undefined
  }
  return JSON.parse(l.slice("BENCH_GC ".length)) as GcTotals
}

const concurrency = (c: Comparison) => {
  const streaming = MSGS_PER_CALL[c.kind] > 1
  return c.transport === "h1" ? { clients: streaming ? 8 : 32, streams: 1 } : { clients: streaming ? 2 : 4, streams: streaming ? 4 : 8 }
}

const main = async (): Promise<number> => {
  const started = Date.now()
  runInstalledPackages()
  if (config.impls?.includes("ours-node-base") && BASELINE === undefined) {
    log("--impls ours-node-base needs --baseline DIR (another checkout of this repository with npm install done)")
    return 1
  }
  if (BASELINE !== undefined && !fs.existsSync(BASELINE.dir)) {
    log(`--baseline ${BASELINE.dir}: no such directory`)
    return 1
  }
  fs.mkdirSync(TMP, { recursive: true })
  fs.mkdirSync(config.outDir, { recursive: true })
  log(`${quick ? "quick" : "full"} run: ${config.reps} repetition(s), ${config.durationSec} s per measurement; pinning ${pinning.enabled ? "servers → core 0, load → core 1" : `off (cores ${pinning.cores}, taskset ${pinning.hasTaskset})`}`)
  const loadBefore = loadavg()
  // the servers load the working tree as it is now: record the commit before anything runs
  const commitAtStart = gitHead()

  const setupNotes = [await buildPackages(), ...(flag("skip-setup") ? [] : await setup())]
  if (BASELINE !== undefined) setupNotes.push(await setupBaseline(BASELINE.dir))
  const failedSteps = new Map(setupNotes.filter((n) => !n.ok).map((n) => [n.step, n.note]))
  if (failedSteps.has("h2load")) log("h2load is missing: the h2load workloads will be skipped")

  // Servers ---------------------------------------------------------------------------
  const servers = new Map<Impl, Running>()
  const serverStatus: Array<ServerStatus> = []
  let port = 19100
  for (const impl of SELECTED) {
    const spec = SPECS[impl]
    // a port something else listens on (another bench run) would be measured as ours: skip it
    while (!(await portFree(port))) port++
    const p = port++
    if (spec.requires !== undefined && failedSteps.has(spec.requires)) {
      serverStatus.push({ impl, ok: false, note: `not started: setup of ${spec.requires} failed (${failedSteps.get(spec.requires)})` })
      continue
    }
    const r = await startServer(spec, p)
    if (typeof r === "string") {
      log(`${impl}: ${r}`)
      serverStatus.push({ impl, ok: false, note: r })
    } else {
      servers.set(impl, r)
      serverStatus.push({ impl, ok: true, note: `port ${p}, pid ${r.proc.pid}` })
    }
  }
  log(`servers up: ${[...servers.keys()].join(", ")}`)
  const cleanup = async () => {
    await Promise.all([...servers.values()].map(stopServer))
  }
  process.on("SIGINT", () => {
    void cleanup().then(() => process.exit(130))
  })

  const rows: Array<Row> = []
  const clientRows: Array<ClientRow> = []
  const memory: Array<MemoryResult> = []
  const crashes: Array<{ impl: Impl; during: string; log: string; restarted: boolean }> = []
  try {
    // h2load and bidi comparisons ------------------------------------------------------
    const all = comparisons(SPECS).map((c) => ({ ...c, impls: c.impls.filter((i) => SELECTED.includes(i)) })).filter((c) => c.impls.length > 0).filter((c) => (config.only !== undefined ? config.only.some((o) => c.id.includes(o)) : !quick || c.quick))
    const hasH2load = !failedSteps.has("h2load")
    for (const c of all) {
      log(`${c.id}: ${c.impls.join(", ")}`)
      const active: Array<Impl> = []
      const byImpl = new Map<Impl, Row>()
      for (const impl of c.impls) {
        const row: Row = {
          id: c.id, workload: c.kind, workloadTitle: KIND_TITLE[c.kind], protocol: c.protocol, codec: c.codec,
          compression: c.compression, transport: c.transport, impl, unit: MSGS_PER_CALL[c.kind] > 1 ? "msgs/s" : "req/s", samples: []
        }
        rows.push(row)
        byImpl.set(impl, row)
        const r = await alive(impl, c.id)
        if (r === undefined) {
          row.note = "server not running"
          continue
        }
        if (c.kind !== "bidi") {
          if (!hasH2load) {
            row.note = "h2load missing"
            continue
          }
          const req = buildRequest(c)
          try {
            const res = await send(r.url, c.transport, req)
            const bad = validate(c, res)
            if (bad !== undefined) {
              row.note = `probe failed: ${bad}`
              log(`  ${impl}: probe failed: ${bad}`)
              continue
            }
          } catch (e) {
            row.note = `probe failed: ${e instanceof Error ? e.message : String(e)}`
            log(`  ${impl}: ${row.note}`)
            continue
          }
        }
        active.push(impl)
      }
      const req = buildRequest(c)
      const bodyFile = `${TMP}/${c.id.replaceAll("/", "_")}.bin`
      fs.writeFileSync(bodyFile, req.body)
      const expect4xx = c.kind === "error" && c.protocol === "connect"
      // full runs start with an unrecorded round (rep -1): each Node server's JIT settles on this
      // workload's code paths before the first measured repetition, as the peers' already has
      for (let rep = config.quick ? 0 : -1; rep < config.reps; rep++) {
        // each repetition starts with the next implementation, so that no implementation always
        // runs first (in a fixed order, two bidi A/B runs measured whichever code ran first
        // 9–14 % slower, with the code swapped between the two slots)
        const start = rep < 0 ? 0 : rep % active.length
        for (const impl of [...active.slice(start), ...active.slice(0, start)]) {
          const row = byImpl.get(impl)!
          const sample: Sample = { rep }
          if (rep >= 0) row.samples.push(sample)
          const r = await alive(impl, c.id)
          if (r === undefined) {
            sample.error = "server exited and could not be restarted"
            continue
          }
          if (c.kind === "bidi") {
            const res = await bidi(r, c.protocol === "grpc" ? "grpc" : "connect")
            Object.assign(sample, res)
          } else {
            const url = `${r.url}${req.path}`
            const { clients, streams } = concurrency(c)
            const common = { url, transport: c.transport, headers: req.headers, bodyFile, clients, streams }
            await h2load({ ...common, durationSec: config.warmupSec })
            const gc0 = await gcTotals(r)
            const cpu0 = cpuMicros(r.proc.pid)
            const helper0 = helperThreadsCpuMicros(r.proc.pid)
            r.proc.mark(`${c.id} rep ${rep + 1} start`)
            const res = await h2load({ ...common, durationSec: config.durationSec, logFile: `${TMP}/h2load.log` })
            r.proc.mark(`${c.id} rep ${rep + 1} end`)
            const cpu1 = cpuMicros(r.proc.pid)
            const helper1 = helperThreadsCpuMicros(r.proc.pid)
            const gc1 = gc0 === undefined ? undefined : await gcTotals(r)
            if (!res.ok) {
              sample.error = res.error ?? "h2load failed"
            } else {
              const good = expect4xx ? res.status.s4xx : res.status.s2xx
              if (res.done === 0) {
                sample.error = `no call completed within the ${config.durationSec} s window`
              } else if (good < res.done * 0.99) {
                sample.error = `unexpected statuses: ${JSON.stringify(res.status)}, ${res.errored} errored, ${res.done} done`
              }
              sample.reqPerSec = res.reqPerSec
              sample.value = res.reqPerSec * MSGS_PER_CALL[c.kind]
              if (res.done > 0) sample.cpuUsPerCall = (cpu1 - cpu0) / res.done
              if (res.done > 0) sample.helperCpuUsPerCall = (helper1 - helper0) / res.done
              if (gc0?.newSpace !== undefined) sample.newSpaceMiB = gc0.newSpace / 2 ** 20
              if (gc0?.oldSpace !== undefined) sample.oldSpaceMiB = gc0.oldSpace / 2 ** 20
              if (res.done > 0 && gc0 !== undefined && gc1 !== undefined) {
                sample.gcUsPerCall = ((gc1.ms - gc0.ms) * 1000) / res.done
                sample.majorGcs = gc1.major - gc0.major
              }
              if (res.p50Us !== undefined) sample.p50Us = res.p50Us
              if (res.p99Us !== undefined) sample.p99Us = res.p99Us
            }
          }
          sample.rss = rssBytes(r.proc.pid)
          log(`  ${rep < 0 ? "warm-up" : `rep ${rep + 1}`} ${impl}: ${sample.error ?? `${fmt(sample.value)} ${row.unit}, ${fmt(sample.cpuUsPerCall)} µs cpu/call (${fmt(sample.helperCpuUsPerCall)} off the main thread)${sample.majorGcs === undefined ? "" : `, ${sample.majorGcs} mark-compacts, new space ${fmt(sample.newSpaceMiB)} MiB and old ${fmt(sample.oldSpaceMiB)} MiB at the start`}`}`)
        }
      }
      for (const row of byImpl.values()) finishRow(row)
    }

    // Client CPU -------------------------------------------------------------------------
    // each client row belongs to an implementation (--impls); ours-base (--baseline) runs DIR's
    // driver and client right after ours with the same protocol
    const clients = ([
      { client: "ours", protocol: "connect", http: "1.1", impl: "ours-node" },
      { client: "ours-base", protocol: "connect", http: "1.1", impl: "ours-node-base" },
      { client: "ours", protocol: "connect", http: "2", impl: "ours-node" },
      { client: "ours-base", protocol: "connect", http: "2", impl: "ours-node-base" },
      { client: "ours", protocol: "grpc", http: "2", impl: "ours-node" },
      { client: "ours-base", protocol: "grpc", http: "2", impl: "ours-node-base" },
      { client: "connect-node", protocol: "connect", http: "1.1", impl: "connect-node" },
      { client: "connect-node", protocol: "connect", http: "2", impl: "connect-node" },
      { client: "connect-node", protocol: "grpc", http: "2", impl: "connect-node" },
      { client: "grpc-js", protocol: "grpc", http: "2", impl: "grpc-js" }
    ] as const).filter((c) => SELECTED.includes(c.impl) && (c.client !== "ours-base" || !failedSteps.has("baseline")))
    const clientsDue = clients.length > 0 && (config.only === undefined || config.only.some((o) => "client".includes(o)))
    // the echo the clients call: the raw-node server, or one started for this section when --impls left it out
    let ownEcho: Running | undefined
    if (clientsDue && !SELECTED.includes("raw-node")) {
      let p = 19090
      while (!(await portFree(p))) p++
      const r = await startServer(SPECS["raw-node"], p)
      if (typeof r === "string") log(`client CPU: the raw node echo did not start: ${r}`)
      else {
        ownEcho = r
        servers.set("raw-node", r) // stopped by cleanup() too
      }
    }
    const echo = !clientsDue ? undefined : ownEcho ?? (await alive("raw-node", "client CPU"))
    if (echo !== undefined) {
      log(`client CPU: ${clients.length} clients against the raw node echo`)
      const crow = clients.map((c): ClientRow => ({ client: c.client, protocol: c.protocol, http: c.http, samples: [] }))
      for (let rep = 0; rep < config.reps; rep++) {
        for (const row of crow) {
          const base = row.client === "ours-base" ? BASELINE : undefined
          const out = await run(pinned(1, [
            base?.node ?? NODE, "--disable-warning=ExperimentalWarning", `${base?.bench ?? BENCH}/driver/client.ts`, "--client", base ? "ours" : row.client,
            "--protocol", row.protocol, "--http", row.http, "--url", echo.url, "--calls", String(config.clientCalls), "--warmup", String(config.clientWarmup)
          ]), { timeoutMs: 300_000, ...(base ? { cwd: base.dir } : {}) })
          const line = out.stdout.split("\n").find((l) => l.startsWith("{"))
          const res = line !== undefined ? (JSON.parse(line) as { ok: boolean; error?: string; cpuUsPerCall?: number; callsPerSec?: number }) : { ok: false, error: `driver exited ${out.code}: ${out.stderr.slice(-300)}` }
          row.samples.push(res.ok ? { rep, cpuUsPerCall: res.cpuUsPerCall!, callsPerSec: res.callsPerSec! } : { rep, error: res.error ?? "failed" })
          log(`  rep ${rep + 1} ${row.client} ${row.protocol} h${row.http}: ${res.ok ? `${fmt(res.cpuUsPerCall)} µs cpu/call, ${fmt(res.callsPerSec)} calls/s` : res.error}`)
        }
      }
      for (const row of crow) {
        const cpu = summarize(row.samples.flatMap((s) => (s.cpuUsPerCall !== undefined ? [s.cpuUsPerCall] : [])))
        const cps = summarize(row.samples.flatMap((s) => (s.callsPerSec !== undefined ? [s.callsPerSec] : [])))
        if (cpu) row.cpuUsPerCall = cpu
        if (cps) row.callsPerSec = cps
        const errs = row.samples.flatMap((s) => (s.error !== undefined ? [s.error] : []))
        if (errs[0] !== undefined) row.note = errs[0]
        clientRows.push(row)
      }
    }
    if (ownEcho !== undefined) {
      servers.delete("raw-node")
      await stopServer(ownEcho)
    }

    // Memory -----------------------------------------------------------------------------
    if (config.only === undefined || config.only.some((o) => "memory".includes(o))) {
      for (const impl of SELECTED) {
        const r = await alive(impl, "memory")
        if (r === undefined) continue
        log(`memory: ${impl}`)
        const m = await measureMemory(r, config.memory)
        memory.push(m)
        log(`  ${JSON.stringify(m)}`)
      }
    }
  } finally {
    await cleanup()
  }

  const results: Results = {
    meta: {
      date: new Date().toISOString(),
      quick,
      reps: config.reps,
      durationSec: config.durationSec,
      warmupSec: config.warmupSec,
      elapsedSec: (Date.now() - started) / 1000,
      commit: (() => {
        const end = gitHead()
        return end === commitAtStart ? commitAtStart : `${commitAtStart} at start (HEAD was ${end} at the end)`
      })(),
      machine: machine(),
      versions: versions(setupNotes),
      pinning: pinning.enabled ? "servers on core 0 (taskset -c 0), load generators on core 1 (taskset -c 1)" : "not pinned (needs taskset and 2 cores)",
      loadavg: { before: loadBefore, after: loadavg() },
      h2load: { h1: "-c 32 (8 for 1000-message calls), -m 1", h2c: "-c 4 -m 8 (-c 2 -m 4 for 1000-message calls)", threads: 1 },
      bidi: `${config.bidiStreams} concurrent CumSum streams on one h2c session, 1000 round trips each`,
      client: `${config.clientCalls} unary calls (after ${config.clientWarmup} warm-up), 16 in flight, against the raw node echo`,
      ...(BASELINE !== undefined
        ? { baseline: { dir: BASELINE.dir, commit: setupNotes.find((n) => n.step === "baseline")?.note ?? "?", node: `node ${spawnSync(BASELINE.node, ["--version"], { encoding: "utf8" }).stdout?.trim() ?? "?"}` } }
        : {})
    },
    setup: setupNotes,
    servers: serverStatus,
    rows,
    clients: clientRows,
    memory,
    crashes
  }
  writeReport(results, { jsonPath: `${config.outDir}/latest.json`, svgPath: `${config.outDir}/chart.svg`, mdPath: config.reportPath })
  log(`wrote ${config.outDir}/latest.json, ${config.outDir}/chart.svg, ${config.reportPath} in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  const measured = rows.some((r) => r.impl === "ours-node" && r.value !== undefined)
  if (!measured) log("nothing was measured for ours-node: the harness did not work")
  return measured ? 0 : 1

  // helpers ---------------------------------------------------------------------------
  /** The running server of `impl`, restarted (and the crash recorded) when it has exited. */
  async function alive(impl: Impl, during: string): Promise<Running | undefined> {
    const r = servers.get(impl)
    if (r === undefined) return undefined
    if (!r.proc.exited) return r
    const last = r.proc.log.filter((l) => l.trim() !== "").slice(-6).join(" | ")
    log(`${impl} exited during ${during}: ${last}; restarting`)
    const again = await startServer(r.spec, r.port)
    crashes.push({ impl, during, log: last, restarted: typeof again !== "string" })
    if (typeof again === "string") {
      servers.delete(impl)
      return undefined
    }
    servers.set(impl, again)
    return again
  }

  async function bidi(r: Running, protocol: "connect" | "grpc"): Promise<Partial<Sample>> {
    const p = startProc(pinned(1, [
      NODE, "--disable-warning=ExperimentalWarning", `${BENCH}/driver/bidi.ts`, "--url", r.url, "--protocol", protocol,
      "--streams", String(config.bidiStreams), "--duration", String(config.durationSec), "--warmup", String(config.warmupSec)
    ]), process.env)
    const started = await p.nextLine(/BENCH_MEASURE_START|^\{/, 120_000)
    const cpu0 = cpuMicros(r.proc.pid)
    for (let i = 0; i < 1200 && !p.exited; i++) await sleep(100)
    const cpu1 = cpuMicros(r.proc.pid)
    if (!p.exited) p.child.kill("SIGKILL")
    const line = p.log.find((l) => l.startsWith("{"))
    if (line === undefined) return { error: `bidi driver: no result (${p.log.slice(-3).join(" | ")})` }
    const res = JSON.parse(line) as { ok: boolean; error?: string; msgsPerSec: number; callsPerSec: number; roundtrips: number; calls: number; p50Us: number; p99Us: number }
    if (!res.ok) return { error: `bidi driver: ${res.error}` }
    if (started === undefined || !started.includes("BENCH_MEASURE_START")) return { error: "bidi driver did not start measuring" }
    return {
      value: res.msgsPerSec, reqPerSec: res.callsPerSec, p50Us: res.p50Us, p99Us: res.p99Us,
      ...(res.calls > 0 ? { cpuUsPerCall: (cpu1 - cpu0) / res.calls } : {})
    }
  }
}

const fmt = (x: number | undefined) => (x === undefined ? "–" : x >= 100 ? x.toFixed(0) : x.toFixed(1))

const finishRow = (row: Row) => {
  const ok = row.samples.filter((s) => s.error === undefined)
  const pick = (f: (s: Sample) => number | undefined) => summarize(ok.flatMap((s) => { const v = f(s); return v === undefined ? [] : [v] }))
  const v = pick((s) => s.value)
  if (v) row.value = v
  const rps = pick((s) => s.reqPerSec)
  if (rps) row.reqPerSec = rps
  const cpu = pick((s) => s.cpuUsPerCall)
  if (cpu) row.cpuUsPerCall = cpu
  const gcUs = pick((s) => s.gcUsPerCall)
  if (gcUs) row.gcUsPerCall = gcUs
  const majors = pick((s) => s.majorGcs)
  if (majors) row.majorGcs = majors
  const helper = pick((s) => s.helperCpuUsPerCall)
  if (helper) row.helperCpuUsPerCall = helper
  const p50 = pick((s) => s.p50Us)
  if (p50) row.p50Us = p50
  const p99 = pick((s) => s.p99Us)
  if (p99) row.p99Us = p99
  const rss = pick((s) => s.rss)
  if (rss) row.rssBytes = rss
  const errs = row.samples.flatMap((s) => (s.error !== undefined ? [s.error] : []))
  if (errs.length > 0 && row.note === undefined) row.note = `${errs.length}/${row.samples.length} repetitions failed: ${errs[0]}`
}

const gitHead = (): string => {
  const r = spawnSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" })
  const dirty = spawnSync("git", ["--no-optional-locks", "status", "--porcelain", "--untracked-files=no"], { cwd: ROOT, encoding: "utf8" })
  return r.status === 0 ? `${r.stdout.trim()}${dirty.stdout?.trim() ? " (with uncommitted changes)" : ""}` : "unknown"
}

const machine = () => {
  const cpuinfo = fs.existsSync("/proc/cpuinfo") ? fs.readFileSync("/proc/cpuinfo", "utf8") : ""
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "unknown"
  const mhz = /cpu MHz\s*:\s*(.*)/.exec(cpuinfo)?.[1]
  const nproc = spawnSync("nproc", { encoding: "utf8" }).stdout?.trim() ?? String(os.availableParallelism())
  return { cpu: model, mhz: mhz ?? "unknown", nproc, memGiB: (os.totalmem() / 2 ** 30).toFixed(1), kernel: os.release() }
}

const versions = (notes: ReadonlyArray<{ step: string; ok: boolean; note: string }>) => {
  const v = (cmd: string, args: Array<string>) => spawnSync(cmd, args, { encoding: "utf8" }).stdout?.trim().split("\n")[0] ?? "?"
  const pkg = (p: string) => {
    try {
      return JSON.parse(fs.readFileSync(`${ROOT}/node_modules/${p}/package.json`, "utf8")).version as string
    } catch {
      return "?"
    }
  }
  return {
    node: v(NODE, ["--version"]),
    bun: v(`${ROOT}/node_modules/.bin/bun`, ["--version"]),
    effect: pkg("effect"),
    "@bufbuild/protobuf": pkg("@bufbuild/protobuf"),
    "@connectrpc/connect-node": pkg("@connectrpc/connect-node"),
    "@grpc/grpc-js": pkg("@grpc/grpc-js"),
    "connect-go": notes.find((n) => n.step === "connect-go")?.note ?? "?",
    "connect-python": notes.find((n) => n.step === "connect-python")?.note ?? "?",
    h2load: v("h2load", ["--version"])
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error("[bench] harness error:", e)
    process.exit(1)
  }
)
