/**
 * Shared settings of the property-based (fuzz) tests.
 *
 * - Normal runs (`npx vitest run`): a fixed seed and a modest sample, so that the suite is
 *   deterministic and quick.
 * - Long mode (`npm run fuzz`): `FUZZ_RUNS` cases for every in-process property, and
 *   `FUZZ_SOCKET_RUNS` (default `FUZZ_RUNS / 10`) for every property that talks to a real server.
 *   `FUZZ_SEED` picks the seed (default: the fixed one). `FUZZ_REPORT` names a file to which every
 *   fuzz file appends its counts as one JSON line.
 *
 * Every case is counted, and a case slower than `FUZZ_CASE_LIMIT_MS` (default 2000) fails as a
 * hang.
 */
import * as fs from "node:fs"
import * as fc from "fast-check"

const env = (name: string): number | undefined => {
  const v = process.env[name]
  if (v === undefined || v === "") return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(v)}`)
  return n
}

const longRuns = env("FUZZ_RUNS")

/** True under `npm run fuzz`. */
export const long = longRuns !== undefined

/** The seed of every property (fixed unless `FUZZ_SEED` is set). */
export const seed = env("FUZZ_SEED") ?? 20_240_601

/** Cases per in-process property. */
export const runs = longRuns ?? 300

/** Cases per property that makes requests to a real server. */
export const socketRuns = env("FUZZ_SOCKET_RUNS") ?? (longRuns !== undefined ? Math.ceil(longRuns / 10) : 60)

/** A case slower than this counts as a hang. */
export const caseLimitMs = env("FUZZ_CASE_LIMIT_MS") ?? 2000

/** vitest timeout of one property test. */
export const testTimeout = long ? 6 * 60 * 60 * 1000 : 30_000

/** Cases run, by property name. */
export const counts = new Map<string, number>()

const slow = (name: string, ms: number) =>
  new Error(`${name}: one case took ${ms.toFixed(0)} ms (limit ${caseLimitMs} ms): counted as a hang`)

/** Wraps a synchronous predicate: counts the case and fails it when it is too slow. */
export const counted = <Ts extends Array<unknown>>(name: string, predicate: (...args: Ts) => void) => (...args: Ts): void => {
  counts.set(name, (counts.get(name) ?? 0) + 1)
  const start = performance.now()
  predicate(...args)
  const ms = performance.now() - start
  if (ms > caseLimitMs) throw slow(name, ms)
}

/** Wraps an asynchronous predicate the same way (the predicate bounds its own I/O). */
export const countedAsync = <Ts extends Array<unknown>>(name: string, predicate: (...args: Ts) => Promise<void>) =>
async (...args: Ts): Promise<void> => {
  counts.set(name, (counts.get(name) ?? 0) + 1)
  const start = performance.now()
  await predicate(...args)
  const ms = performance.now() - start
  if (ms > caseLimitMs) throw slow(name, ms)
}

/** fast-check parameters: the seed and `numRuns`. */
export const params = <T = unknown>(numRuns: number = runs): fc.Parameters<T> => ({ seed, numRuns, endOnFailure: true })

/** Prints (and with `FUZZ_REPORT`, appends) the counts of one file. */
export const report = (file: string, startedAt: number): void => {
  const total = Array.from(counts.values()).reduce((a, b) => a + b, 0)
  const seconds = (performance.now() - startedAt) / 1000
  const line = { file, seed, total, seconds: Number(seconds.toFixed(1)), properties: Object.fromEntries(counts) }
  if (long) console.log(`[fuzz] ${file}: ${total} cases in ${line.seconds} s (seed ${seed})`)
  const out = process.env.FUZZ_REPORT
  if (out !== undefined && out !== "") fs.appendFileSync(out, JSON.stringify(line) + "\n")
}

// -----------------------------------------------------------------------------
// arbitraries shared by the fuzz files
// -----------------------------------------------------------------------------

/** A lowercase header name (a token). */
export const headerName = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,14}$/)

/** A header value as `Headers` keeps it: no comma, no leading or trailing whitespace. */
export const headerValue = fc.stringMatching(/^([\x21-\x2b\x2d-\x7e]([\x20-\x2b\x2d-\x7e]{0,24}[\x21-\x2b\x2d-\x7e])?)?$/)

/**
 * Any string a `Headers` object accepts as a value: every character a byte (0x00-0xff) other
 * than NUL, CR and LF.
 */
export const anyHeaderValue = fc.string({ unit: "binary", maxLength: 40 }).map((s) => toHeaderValue(s))

/** Maps every character of `s` to one a `Headers` value accepts (a byte other than NUL, CR, LF). */
export const toHeaderValue = (s: string): string =>
  Array.from(s, (c) => {
    const n = c.charCodeAt(0) & 0xff
    return n === 0 || n === 10 || n === 13 ? " " : String.fromCharCode(n)
  }).join("")

/** Strings biased towards what number parsers trip on. */
export const numberish = fc.oneof(
  fc.string({ maxLength: 14 }),
  fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 0, maxLength: 13 }),
  fc.tuple(fc.string({ unit: fc.constantFrom(..."0123456789"), maxLength: 11 }), fc.constantFrom("", "H", "M", "S", "m", "u", "n", "s", "h", " ", "\n", "x"))
    .map(([d, u]) => d + u),
  fc.constantFrom("", " 1", "1 ", "+1", "-1", "1e3", "0x10", "1.5", "١٢", "Infinity", "NaN", "00000000000", "9999999999", "10000000000", "99999999H", "100000000S")
)

/** Splits `bytes` into chunks at arbitrary points (empty chunks included). */
export const chunked = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = cuts.map((c) => c % (bytes.byteLength + 1)).sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let prev = 0
  for (const p of points) {
    out.push(bytes.subarray(prev, p))
    prev = p
  }
  out.push(bytes.subarray(prev))
  return out
}
