/**
 * Compression bombs (gzip, br, zstd), each a small body that would inflate to 1 GiB, sent over
 * real sockets to a server with the default limits (readMaxBytes 4 MiB): every call — Connect
 * unary over HTTP/1.1 and HTTP/2, Connect client streaming, gRPC unary — is refused with
 * `resource_exhausted`, and the process's RSS grows by less than 64 MiB meanwhile.
 *
 * The calls run in a child process started with `--expose-gc` (fixtures/bombs.ts), so that the
 * memory figures are the server's and clients' alone: RSS sampled every millisecond, from a
 * baseline taken after warm-up and a forced GC, with a forced GC after each call. Set
 * `BOMB_REPORT=1` to print the figures.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import { Readable } from "node:stream"
import * as zlib from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { create, toBinary } from "@bufbuild/protobuf"
import * as Effect from "effect/Effect"
import * as NodeCompression from "@connect-effect/platform-node/NodeCompression"
import { SayRequestSchema } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

const GIB = 1024 * 1024 * 1024
const MIB = 1024 * 1024
const RSS_BUDGET = 64 * MIB

let dir: string

/** Streams `total` zero bytes through a compressor into `file`, 16 MiB at a time (no 1 GiB buffer). */
const writeBomb = async (file: string, compressor: zlib.Gzip | zlib.BrotliCompress | zlib.ZstdCompress, total: number) => {
  const zeros = Buffer.alloc(16 * MIB)
  let left = total
  const source = Readable.from((function*() {
    while (left > 0) {
      const n = Math.min(left, zeros.length)
      left -= n
      yield zeros.subarray(0, n)
    }
  })())
  await pipeline(source, compressor, fs.createWriteStream(file))
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "connect-effect-bombs-"))
  await Promise.all([
    writeBomb(path.join(dir, "gzip.bin"), zlib.createGzip({ level: 9 }), GIB),
    writeBomb(path.join(dir, "br.bin"), zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } }), GIB),
    writeBomb(path.join(dir, "zstd.bin"), zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } }), GIB)
  ])
}, 60_000)

afterAll(() => {
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true })
})

interface ChildReport {
  readonly warm: ReadonlyArray<string>
  readonly stillOk: string
  readonly results: ReadonlyArray<{ call: string; encoding: string; bodyBytes: number; code: string; ms: number; rssGrowth: number }>
  readonly elapsedMs: number
  readonly baselineRss: number
  readonly peakRss: number
  readonly peakRssGrowth: number
  readonly maxCallRssGrowth: number
  readonly maxRssGrowth: number
  readonly rssAfterGc: number
}

const runChild = (): Promise<ChildReport> =>
  new Promise((resolve, reject) => {
    const script = path.join(import.meta.dirname, "fixtures", "bombs.ts")
    const child = spawn(process.execPath, ["--expose-gc", script, dir, "2"], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.stderr.on("data", (d: Buffer) => (err += d.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 50_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      const line = out.trim().split("\n").pop() ?? ""
      if (code !== 0 || !line.startsWith("{")) reject(new Error(`bombs.ts exited ${code}: ${err}${out}`))
      else resolve(JSON.parse(line) as ChildReport)
    })
  })

describe("compression bombs", () => {
  it("the bombs are small and would inflate to 1 GiB", () => {
    for (const name of ["gzip", "br", "zstd"]) {
      const size = fs.statSync(path.join(dir, `${name}.bin`)).size
      expect(size).toBeLessThan(2 * MIB)
    }
  })

  it("every call is refused with resource_exhausted; RSS grows by less than 64 MiB", async () => {
    const report = await runChild()
    if (process.env.BOMB_REPORT !== undefined) console.log(JSON.stringify(report, null, 2))
    expect(report.warm.every((c) => c === "ok")).toBe(true)
    expect(report.results.length).toBe(2 * 3 * 4)
    for (const r of report.results) expect(r).toEqual({ ...r, code: "resource_exhausted" })
    // each call, and all of them together (what the allocator keeps included)
    expect(report.maxCallRssGrowth).toBeLessThan(RSS_BUDGET)
    expect(report.peakRssGrowth).toBeLessThan(RSS_BUDGET)
    expect(report.maxRssGrowth).toBeLessThan(RSS_BUDGET)
    expect(report.stillOk).toBe("ok")
  }, 60_000)
})

describe("truncated compressed messages", () => {
  const message = toBinary(SayRequestSchema, create(SayRequestSchema, { sentence: "truncated ".repeat(2000) }))
  for (const c of NodeCompression.all) {
    it(`${c.name}: every truncation is invalid_argument, never a shorter message`, async () => {
      const whole = await Effect.runPromise(c.compress(message))
      expect((await Effect.runPromise(c.decompress(whole, Infinity))).byteLength).toBe(message.byteLength)
      for (let cut = 1; cut < whole.byteLength; cut++) {
        const error = await Effect.runPromise(Effect.flip(c.decompress(whole.subarray(0, cut), 4 * MIB)))
        expect(error.code, `cut at ${cut} of ${whole.byteLength}`).toBe("invalid_argument")
      }
    })
  }
})

describe("zstd window limit", () => {
  it("a frame that asks for a window over 8 MiB is resource_exhausted, 8 MiB is fine", async () => {
    const C = zlib.constants
    const data = Buffer.alloc(20 * MIB, 7)
    const wide = zlib.zstdCompressSync(data, { params: { [C.ZSTD_c_windowLog]: 27, [C.ZSTD_c_enableLongDistanceMatching]: 1 } })
    const error = await Effect.runPromise(Effect.flip(NodeCompression.zstd.decompress(wide, 64 * MIB)))
    expect(error.code).toBe("resource_exhausted")
    expect(error.message).toContain("window")
    const ok = zlib.zstdCompressSync(data, { params: { [C.ZSTD_c_windowLog]: 23 } })
    expect((await Effect.runPromise(NodeCompression.zstd.decompress(ok, 64 * MIB))).byteLength).toBe(data.byteLength)
  })
})
