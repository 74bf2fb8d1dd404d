/**
 * The consumer test: does exactly what a user does, outside this repository.
 *
 * 1. builds and packs every package (scripts/pack.ts), copies the app template (test/consumer/app)
 *    into a temporary folder outside the repository, and installs the tarballs plus the public
 *    dependencies from the registry with npm — no workspaces, no path mapping, no source condition;
 * 2. generates the app's service with the installed plugins (`npx buf generate`, as the docs say;
 *    and protoc), with connect-effect's typed-error options taken from the installed codegen
 *    package (`node_modules/@connect-effect/codegen/proto`: buf.yaml's second module, protoc's
 *    `-I`), and a real-world corpus nobody here wrote (npm `google-proto-files`), which must
 *    type-check and import on Node;
 * 3. type-checks the app with tsc under `nodenext` and under `bundler` (strict flags,
 *    `skipLibCheck: false`);
 * 4. runs servers and clients with every kind of call on Node 22, Node 24, Bun and Deno, and the
 *    app compiled to JavaScript (plus the plugin) on the oldest Node of `engines`; every client
 *    also catches the typed domain error `ItemNotFound` by its tag (unary and mid-stream), and the
 *    test checks what it caught;
 * 5. bundles the browser client with esbuild and runs it in headless Chromium against the Node
 *    server;
 * 6. lints every tarball with `publint --strict` and `attw` (ESM-only profile).
 *
 * Runs as its own stage of `npm test` (scripts/test.sh), not inside the main vitest run: it
 * installs packages and starts runtimes, and needs the machine to itself.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { launchChromium } from "../../packages/platform-node/test/fixtures/chromium.ts"

const ROOT = path.resolve(import.meta.dirname, "../..")
const BIN = path.join(ROOT, "node_modules/.bin")
const TEMPLATE = path.join(import.meta.dirname, "app")
/** Node 24 for the app, installed from the npm `node` package (the repo's own Node is 22). */
const NODE24_VERSION = "24.21.0"
/** The oldest Node the packages claim (`engines`): the compiled app runs on it. */
const NODE_MIN_VERSION = "18.20.0"
/** The Node of the repository (npm `node` package, pinned in the root package.json). */
const NODE22 = path.join(BIN, "node")
const BUN = path.join(BIN, "bun")
const DENO = path.join(BIN, "deno")
/** The real-world protos: Google Cloud APIs, from npm `google-proto-files`. */
const CORPUS_VERSION = "6.0.1"
const CORPUS = ["google/pubsub/v1", "google/firestore/v1", "google/spanner/v1", "google/storage/v2", "google/bigtable/v2", "google/longrunning"]

const WORK = fs.mkdtempSync(path.join(os.tmpdir(), "connect-effect-consumer-"))
const APP = path.join(WORK, "app")
const PACKS = path.join(WORK, "packs")
const RUNTIMES = path.join(ROOT, "test/consumer/.runtimes")

/** What a user's shell has: no source condition, no npm script variables of this repository. */
const userEnv = (extraPath: Array<string> = []): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k === "NODE_OPTIONS" || k.startsWith("npm_") || k === "INIT_CWD" || k.startsWith("VITEST") || k === "NODE_ENV") continue
    env[k] = v
  }
  env.PATH = [...extraPath, BIN, ...(process.env.PATH ?? "").split(":").filter((p) => !p.startsWith(ROOT))].join(":")
  return env
}

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (cmd: string, args: ReadonlyArray<string>, options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) =>
  new Promise<Result>((resolve) => {
    execFile(cmd, args, {
      cwd: options.cwd ?? APP,
      env: options.env ?? userEnv([path.join(APP, "node_modules/.bin")]),
      timeout: options.timeoutMs ?? 300_000,
      maxBuffer: 64 * 1024 * 1024
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, stdout, stderr })
    })
  })

/** Runs a command and fails with its output when it does not exit 0. */
const ok = async (cmd: string, args: ReadonlyArray<string>, options?: Parameters<typeof run>[2]): Promise<string> => {
  const r = await run(cmd, args, options)
  if (r.code !== 0) {
    throw new Error(`${path.basename(cmd)} ${args.join(" ")} exited ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`)
  }
  return r.stdout
}

interface Server {
  readonly url: string
  readonly stop: () => Promise<void>
}

const children = new Set<ChildProcess>()

/** Starts a server program of the app and waits for its `listening <url>` line. */
const startServer = (cmd: string, args: ReadonlyArray<string>): Promise<Server> =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: APP, env: userEnv([path.join(APP, "node_modules/.bin")]), stdio: ["pipe", "pipe", "pipe"] })
    children.add(child)
    let out = ""
    let err = ""
    const timer = setTimeout(() => reject(new Error(`${args.join(" ")}: no 'listening' line in 60 s\n${out}\n${err}`)), 60_000)
    child.stderr.on("data", (d: Buffer) => err += d.toString())
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString()
      const m = /^listening (\S+)$/m.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve({
          url: m[1]!,
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null) return done()
              const kill = setTimeout(() => child.kill("SIGKILL"), 10_000)
              child.once("exit", () => {
                clearTimeout(kill)
                children.delete(child)
                done()
              })
              child.stdin.end()
              child.kill("SIGTERM")
            })
        })
      }
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`${args.join(" ")} exited ${code} before listening\n${out}\n${err}`))
    })
  })

/** An `ItemNotFound` as src/calls.ts reports it once caught with `Effect.catchTag`. */
const caughtItemNotFound = (sku: string) => ({
  tag: "ItemNotFound",
  sku,
  message: "ItemNotFound",
  code: "not_found",
  details: ["acme.shop.v1.ItemNotFound", "google.rpc.ErrorInfo"]
})

/**
 * The typed domain error of src/calls.ts (GetStock and CheckStock declare `ItemNotFound` in the
 * proto): caught by its tag from a unary call and from the middle of a server stream.
 */
const expectedDomainError = {
  found: "FD-001 240",
  unary: caughtItemNotFound("BK-404"),
  serverStream: { received: ["BK-001 12", "TL-001 0"], caught: caughtItemNotFound("XX-000") }
}

/**
 * Runs a client program of the app; it prints `ok <summary>` and exits 0 when every call matched.
 * Every client runs every kind, the typed domain error too: its summary is checked here as well.
 */
const runClient = async (cmd: string, args: ReadonlyArray<string>): Promise<string> => {
  const r = await run(cmd, args, { timeoutMs: 120_000 })
  const line = /^ok (.*)$/m.exec(r.stdout)
  if (r.code !== 0 || line === null) {
    throw new Error(`${path.basename(cmd)} ${args.join(" ")} exited ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`)
  }
  expect(JSON.parse(line[1]!).domainError).toEqual(expectedDomainError)
  return r.stdout
}

/** Tarballs by package name, from scripts/pack.ts. */
let packs: Record<string, { file: string; size: number; unpackedSize: number; entryCount: number }> = {}
let node24 = ""
let nodeMin = ""

/** Directory size in bytes (what a user's disk pays), following no symlinks. */
const du = (dir: string): number => {
  let total = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) total += du(p)
    else if (entry.isFile()) total += fs.statSync(p).size
  }
  return total
}

/** Every file under `dir`, relative to it, sorted. */
const listFiles = (dir: string): Array<string> =>
  (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as Array<fs.Dirent>)
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort()

/** protoc's import paths, as a user passes them: the app's protos, and connect-effect's options from the installed package. */
const protocIncludes = ["-I", "proto", "-I", "node_modules/@connect-effect/codegen/proto"]

/** The files protoc generates (what `buf generate` does with the workspace): the app's protos and the options file. */
const protocFiles = (): Array<string> => [
  ...(fs.readdirSync(path.join(APP, "proto"), { recursive: true }) as Array<string>).filter((f) => f.endsWith(".proto")),
  "connecteffect/v1/errors.proto"
]

const copyTemplate = (from: string, to: string) => {
  fs.cpSync(from, to, {
    recursive: true,
    filter: (src) => !/\/(node_modules|gen|gen-corpus|dist)(\/|$)/.test(src.slice(from.length)) && !src.endsWith("buf.gen.local.yaml")
  })
}

beforeAll(async () => {
  // 1. pack, then install as a user: the app's package.json plus the tarballs
  packs = JSON.parse((await ok(NODE22, [path.join(ROOT, "scripts/pack.ts"), "--out", PACKS], { cwd: ROOT, env: userEnv() })).trim().split("\n").at(-1)!)
  copyTemplate(TEMPLATE, APP)
  const pkgFile = path.join(APP, "package.json")
  const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8"))
  const tgz = (name: string) => `file:${packs[name]!.file}`
  pkg.dependencies = {
    ...pkg.dependencies,
    "@connect-effect/core": tgz("@connect-effect/core"),
    "@connect-effect/platform-node": tgz("@connect-effect/platform-node"),
    "@connect-effect/platform-bun": tgz("@connect-effect/platform-bun")
  }
  pkg.devDependencies = {
    ...pkg.devDependencies,
    "@connect-effect/codegen": tgz("@connect-effect/codegen"),
    "google-proto-files": CORPUS_VERSION
  }
  fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2))
  await ok("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"])

  // Node 24 and the oldest claimed Node, outside the app (runtimes, not dependencies); cached between runs
  node24 = await installNode(NODE24_VERSION)
  nodeMin = await installNode(NODE_MIN_VERSION)
}, 600_000)

/** A Node from the npm `node` package, installed under test/consumer/.runtimes. */
const installNode = async (version: string): Promise<string> => {
  const dir = path.join(RUNTIMES, `node-${version}`)
  const node = path.join(dir, "node_modules/node/bin/node")
  if (!fs.existsSync(node)) {
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, "package.json"), "{\"private\":true}")
    await ok("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", `node@${version}`], { cwd: dir })
  }
  return node
}

afterAll(() => {
  for (const child of children) child.kill("SIGKILL")
  if (process.env.KEEP_CONSUMER_APP === undefined) fs.rmSync(WORK, { recursive: true, force: true })
  else console.log(`consumer app kept in ${APP}`)
})

describe("a user's app, installed from the packed tarballs", () => {
  it("installs without the repository: one effect, one @bufbuild/protobuf, no @effect/platform-node", () => {
    const ls = (dir: string) => fs.existsSync(path.join(APP, "node_modules", dir))
    expect(ls("@connect-effect/core/dist/index.js")).toBe(true)
    expect(ls("@connect-effect/core/test")).toBe(false)
    // the typed domain errors' options, for buf.yaml's second module and protoc's -I
    expect(ls("@connect-effect/codegen/proto/connecteffect/v1/errors.proto")).toBe(true)
    expect(ls("@effect/platform-node")).toBe(false)
    expect(fs.realpathSync(path.join(APP, "node_modules/@connect-effect/core")).startsWith(APP)).toBe(true)
    // peer dependencies: the app's own copies are the ones the packages use
    const nested = ["core", "platform-node", "platform-bun"].flatMap((p) =>
      ["effect", "@bufbuild/protobuf"].filter((d) => ls(`@connect-effect/${p}/node_modules/${d}`))
    )
    expect(nested).toEqual([])
  })

  it("generates the app's service with the installed plugins (npx buf generate)", async () => {
    await ok("npx", ["--no-install", "buf", "generate"])
    expect(fs.existsSync(path.join(APP, "gen/acme/shop/v1/shop_pb.ts"))).toBe(true)
    expect(fs.existsSync(path.join(APP, "gen/acme/shop/v1/shop_connect.ts"))).toBe(true)
    // erasable_syntax=true: no TypeScript enum that Node's type stripping would refuse
    const shopPb = fs.readFileSync(path.join(APP, "gen/acme/shop/v1/shop_pb.ts"), "utf8")
    expect(shopPb).not.toMatch(/^export enum /m)
    // the second module of buf.yaml (node_modules/@connect-effect/codegen/proto) is generated too,
    // and shop_pb.ts imports it; the domain error is a class, declared on its two methods
    expect(fs.existsSync(path.join(APP, "gen/connecteffect/v1/errors_pb.ts"))).toBe(true)
    expect(shopPb).toContain(`from "../../../connecteffect/v1/errors_pb.ts"`)
    const shopConnect = fs.readFileSync(path.join(APP, "gen/acme/shop/v1/shop_connect.ts"), "utf8")
    expect(shopConnect).toContain(`export class ItemNotFound extends DomainError.Class("ItemNotFound", ItemNotFoundSchema, { code: "not_found" }) {}`)
    expect(shopConnect).toMatch(/getStock: \[ItemNotFound\],\s+checkStock: \[ItemNotFound\],/)
  }, 120_000)

  it("generates the same code with protoc and the installed plugin binaries", async () => {
    const out = path.join(WORK, "gen-protoc")
    fs.mkdirSync(out)
    const bin = path.join(APP, "node_modules/.bin")
    await ok("protoc", [
      ...protocIncludes,
      `--plugin=protoc-gen-es=${bin}/protoc-gen-es`,
      "--es_out", out,
      "--es_opt", "target=ts,import_extension=ts,erasable_syntax=true",
      `--plugin=protoc-gen-connect-effect=${bin}/protoc-gen-connect-effect`,
      "--connect-effect_out", out,
      "--connect-effect_opt", "target=ts,import_extension=ts",
      ...protocFiles()
    ])
    const generated = listFiles(path.join(APP, "gen"))
    expect(generated).toEqual(expect.arrayContaining([
      "acme/shop/v1/money_pb.ts",
      "acme/shop/v1/shop_connect.ts",
      "acme/shop/v1/shop_pb.ts",
      "connecteffect/v1/errors_pb.ts"
    ]))
    expect(listFiles(out)).toEqual(generated)
    for (const f of generated) {
      expect(fs.readFileSync(path.join(out, f), "utf8")).toBe(fs.readFileSync(path.join(APP, "gen", f), "utf8"))
    }
  }, 120_000)

  it("type-checks under moduleResolution nodenext (strict, exactOptionalPropertyTypes, noPropertyAccessFromIndexSignature, skipLibCheck false)", async () => {
    await ok("npx", ["--no-install", "tsc", "-p", "tsconfig.json"])
  }, 180_000)

  it("type-checks under moduleResolution bundler", async () => {
    await ok("npx", ["--no-install", "tsc", "-p", "tsconfig.bundler.json"])
  }, 180_000)

  it("generates a real-world corpus (google-proto-files: pubsub, firestore, spanner, storage, bigtable, longrunning) that type-checks and imports on Node", async () => {
    const protos = path.join(APP, "node_modules/google-proto-files")
    const out = path.join(APP, "gen-corpus")
    fs.writeFileSync(path.join(APP, "buf.corpus.gen.yaml"), [
      "version: v2",
      "inputs:",
      `  - directory: ${protos}`,
      // buf resolves input paths from the working directory: absolute paths into the package
      ...CORPUS.map((p, i) => `${i === 0 ? "    paths:\n" : ""}      - ${path.join(protos, p)}`),
      "plugins:",
      "  - local: protoc-gen-es",
      `    out: ${out}`,
      "    opt: [target=ts, import_extension=ts, erasable_syntax=true]",
      "    include_imports: true",
      "  - local: protoc-gen-connect-effect",
      `    out: ${out}`,
      "    opt: [target=ts, import_extension=ts]",
      "clean: true",
      ""
    ].join("\n"))
    await ok("npx", ["--no-install", "buf", "generate", "--template", "buf.corpus.gen.yaml"])
    const connectFiles = (fs.readdirSync(out, { recursive: true }) as Array<string>).filter((f) => f.endsWith("_connect.ts"))
    for (const p of CORPUS) expect(connectFiles.some((f) => f.startsWith(p))).toBe(true)
    fs.writeFileSync(path.join(APP, "tsconfig.corpus.json"), JSON.stringify({ extends: "./tsconfig.json", include: ["gen-corpus", "src/webcrypto-globals.d.ts"], compilerOptions: { noUnusedLocals: false } }))
    await ok("npx", ["--no-install", "tsc", "-p", "tsconfig.corpus.json"], { timeoutMs: 600_000 })
    // every generated service module imports on Node (type stripping) and defines its service tags
    const importer = path.join(APP, "import-corpus.ts")
    fs.writeFileSync(importer, [
      `const files = ${JSON.stringify(connectFiles)}`,
      "let services = 0",
      "for (const f of files) {",
      "  const m = await import(`./gen-corpus/${f}`)",
      "  services += Object.values(m).filter((v) => typeof v === 'function' && 'layer' in v).length",
      "}",
      "console.log(`ok ${files.length} files, ${services} service tags`)",
      ""
    ].join("\n"))
    const stdout = await ok(NODE22, [importer])
    const m = /^ok (\d+) files, (\d+) service tags/m.exec(stdout)
    expect(m).not.toBeNull()
    expect(Number(m![2])).toBeGreaterThanOrEqual(CORPUS.length)
  }, 900_000)
})

describe.each([
  ["Node 22", () => NODE22],
  ["Node 24", () => node24]
])("on %s", (_name, node) => {
  it("reports the expected version", async () => {
    const v = (await ok(node(), ["--version"])).trim()
    expect(v.startsWith(_name === "Node 22" ? "v22." : "v24.")).toBe(true)
  })

  it.each([
    ["connect", "1.1", "proto", "identity"],
    ["connect", "1.1", "json", "gzip"],
    ["connect", "2", "proto", "zstd"],
    ["grpc", "2", "proto", "identity"],
    ["grpc", "2", "json", "br"],
    ["grpc-web", "1.1", "proto", "gzip"],
    ["grpc-web", "2", "json", "identity"]
  ])("server and client: %s over HTTP/%s (%s, requests compressed: %s), all four kinds", async (protocol, httpVersion, codec, compression) => {
    const server = await startServer(node(), ["src/server.ts", "--port", "0"])
    try {
      await runClient(node(), ["src/client.ts", "--url", server.url, "--protocol", protocol, "--http", httpVersion, "--codec", codec, "--compression", compression])
    } finally {
      await server.stop()
    }
  }, 120_000)
})

describe(`on the oldest Node of engines (${NODE_MIN_VERSION}), compiled to JavaScript`, () => {
  it("reports the expected version, and every package states it in engines", async () => {
    expect((await ok(nodeMin, ["--version"])).trim()).toBe(`v${NODE_MIN_VERSION}`)
    for (const p of ["core", "platform-node", "platform-bun", "codegen"]) {
      const pkg = JSON.parse(fs.readFileSync(path.join(APP, "node_modules/@connect-effect", p, "package.json"), "utf8"))
      expect(pkg.engines.node).toBe(`>=${NODE_MIN_VERSION}`)
    }
  })

  it("the plugin generates the same code under protoc with this Node", async () => {
    const out = path.join(WORK, "gen-min")
    fs.mkdirSync(out)
    // the plugin's `#!/usr/bin/env node` finds this Node first on PATH
    await ok("protoc", [
      ...protocIncludes,
      `--plugin=protoc-gen-connect-effect=${path.join(APP, "node_modules/.bin/protoc-gen-connect-effect")}`,
      "--connect-effect_out", out,
      "--connect-effect_opt", "target=ts,import_extension=ts",
      ...protocFiles()
    ], { env: userEnv([path.dirname(nodeMin), path.join(APP, "node_modules/.bin")]) })
    expect(fs.readFileSync(path.join(out, "acme/shop/v1/shop_connect.ts"), "utf8"))
      .toBe(fs.readFileSync(path.join(APP, "gen/acme/shop/v1/shop_connect.ts"), "utf8"))
  }, 120_000)

  it.each([
    ["connect", "1.1", "proto", "gzip"],
    ["connect", "2", "json", "br"],
    ["grpc", "2", "proto", "gzip"],
    ["grpc-web", "1.1", "proto", "identity"]
  ])("server and client: %s over HTTP/%s (%s, requests compressed: %s), all four kinds", async (protocol, httpVersion, codec, compression) => {
    if (!fs.existsSync(path.join(APP, "out/src/server.js"))) await ok("npx", ["--no-install", "tsc", "-p", "tsconfig.build.json"])
    const server = await startServer(nodeMin, ["out/src/server.js", "--port", "0"])
    try {
      await runClient(nodeMin, ["out/src/client.js", "--url", server.url, "--protocol", protocol, "--http", httpVersion, "--codec", codec, "--compression", compression])
    } finally {
      await server.stop()
    }
  }, 180_000)
})

describe("on Bun", () => {
  it("Bun server (Bun.serve) and Bun client (fetch): every kind Bun's fetch carries", async () => {
    const server = await startServer(BUN, ["src/bun-server.ts", "--port", "0"])
    try {
      await runClient(BUN, ["src/bun-client.ts", "--url", server.url, "--protocol", "connect"])
      await runClient(BUN, ["src/bun-client.ts", "--url", server.url, "--protocol", "grpc-web"])
      // and our Node client against Bun's server
      await runClient(NODE22, ["src/client.ts", "--url", server.url, "--protocol", "connect", "--http", "1.1", "--codec", "proto"])
    } finally {
      await server.stop()
    }
  }, 120_000)

  it("the Node transport and server run on Bun too (node:http)", async () => {
    const server = await startServer(NODE22, ["src/server.ts", "--port", "0"])
    try {
      await runClient(BUN, ["src/client.ts", "--url", server.url, "--protocol", "connect", "--http", "1.1", "--codec", "json"])
    } finally {
      await server.stop()
    }
  }, 120_000)
})

describe("on Deno", () => {
  const deno = (script: string) => ["run", "-A", "--no-lock", script]
  it("FetchHandler under Deno.serve, fetch transport client", async () => {
    const server = await startServer(DENO, deno("src/deno-server.ts"))
    try {
      await runClient(DENO, [...deno("src/deno-client.ts"), "--url", server.url, "--protocol", "connect"])
      await runClient(DENO, [...deno("src/deno-client.ts"), "--url", server.url, "--protocol", "grpc-web"])
      await runClient(NODE22, ["src/client.ts", "--url", server.url, "--protocol", "connect", "--http", "1.1", "--codec", "proto"])
    } finally {
      await server.stop()
    }
  }, 180_000)
})

describe("in a browser", () => {
  it("an esbuild bundle of the fetch client runs in headless Chromium against the Node server", async () => {
    const bundle = path.join(APP, "dist/browser.js")
    await ok("npx", ["--no-install", "esbuild", "src/browser.ts", "--bundle", "--format=esm", "--platform=browser", `--outfile=${bundle}`, "--log-level=warning"])
    const page = http.createServer((req, res) => {
      if (req.url === "/browser.js") {
        res.writeHead(200, { "content-type": "text/javascript" }).end(fs.readFileSync(bundle))
      } else {
        res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><script type=module src=/browser.js></script>")
      }
    })
    await new Promise<void>((r) => page.listen(0, "127.0.0.1", r))
    const server = await startServer(NODE22, ["src/server.ts", "--port", "0"])
    const browser = await launchChromium()
    try {
      const tab = await browser.newPage()
      const errors: Array<string> = []
      tab.on("pageerror", (e) => errors.push(String(e)))
      await tab.goto(`http://127.0.0.1:${(page.address() as { port: number }).port}/`)
      await tab.waitForFunction(() => typeof (globalThis as { runCalls?: unknown }).runCalls === "function", undefined, { timeout: 30_000 })
      // the RPC server is another origin (another port): CORS is exercised
      // every kind: a browser sends a request body in one piece, so client streams and bidi are
      // half duplex (the finite request stream is sent once it ends)
      const kinds = ["unary", "error", "serverStream", "clientStream", "bidi", "domainError"]
      const summary = await tab.evaluate(
        ([url, k]) => (globalThis as unknown as { runCalls: (u: string, k: Array<string>) => Promise<unknown> }).runCalls(url!, k as Array<string>),
        [server.url, kinds] as const
      ) as Record<string, Record<string, unknown>>
      expect(errors).toEqual([])
      // runCalls checked every answer; the server saw each protocol, GET for Connect's NO_SIDE_EFFECTS call
      expect(summary.connect).toMatchObject({ protocol: "connect", unary: { httpMethod: "GET" }, error: { code: "not_found" } })
      expect(summary["grpc-web"]).toMatchObject({ protocol: "grpc-web", unary: { httpMethod: "POST" }, error: { code: "not_found" } })
      for (const p of ["connect", "grpc-web"]) {
        expect(Object.keys(summary[p]!)).toEqual(expect.arrayContaining(kinds))
        expect(summary[p]!.domainError).toEqual(expectedDomainError)
      }
    } finally {
      await browser.close()
      await server.stop()
      page.close()
    }
  }, 180_000)
})

describe("package lint", () => {
  it.each(["@connect-effect/core", "@connect-effect/platform-node", "@connect-effect/platform-bun", "@connect-effect/codegen"])(
    "%s: publint --strict and attw (ESM-only) are clean",
    async (name) => {
      const file = packs[name]!.file
      const lint = await ok(path.join(BIN, "publint"), ["run", file, "--strict"], { cwd: WORK })
      expect(lint).toMatch(/All good/)
      await ok(path.join(BIN, "attw"), [file, "--profile", "esm-only", "--format", "ascii"], { cwd: WORK })
    },
    120_000
  )

  it("records the tarball sizes and a Node app's installed dependency tree", async () => {
    // a Node server app's runtime dependencies only, installed like a user's production install
    const prod = path.join(WORK, "prod")
    fs.mkdirSync(prod)
    fs.writeFileSync(path.join(prod, "package.json"), JSON.stringify({
      private: true,
      type: "module",
      dependencies: {
        "@connect-effect/core": `file:${packs["@connect-effect/core"]!.file}`,
        "@connect-effect/platform-node": `file:${packs["@connect-effect/platform-node"]!.file}`,
        effect: "4.1.0",
        "@bufbuild/protobuf": "2.17.0"
      }
    }))
    await ok("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", "--omit=dev"], { cwd: prod })
    const sizes = {
      tarballs: Object.fromEntries(Object.entries(packs).map(([n, p]) => [n, { packed: p.size, unpacked: p.unpackedSize, files: p.entryCount }])),
      nodeAppDependencies: {
        bytes: du(path.join(prod, "node_modules")),
        // every installed package (npm ls prints the app itself first), with its size on disk
        packages: Object.fromEntries(
          (await ok("npm", ["ls", "--all", "--parseable", "--omit=dev"], { cwd: prod })).trim().split("\n").slice(1)
            .map((dir) => [path.relative(path.join(prod, "node_modules"), dir), du(dir)])
        )
      }
    }
    console.log(`consumer sizes: ${JSON.stringify(sizes)}`)
    fs.mkdirSync(path.join(ROOT, "test/consumer/results"), { recursive: true })
    fs.writeFileSync(path.join(ROOT, "test/consumer/results/sizes.json"), JSON.stringify(sizes, null, 2) + "\n")
    // a Node server app pulls in nothing beyond our two packages and their two peers
    expect(Object.keys(sizes.nodeAppDependencies.packages).sort())
      .toEqual(["@bufbuild/protobuf", "@connect-effect/core", "@connect-effect/platform-node", "effect"])
  }, 300_000)
})
