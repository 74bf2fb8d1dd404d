/**
 * A real browser against a real server: headless Chromium loads a page from one origin whose
 * script (bundled with esbuild) calls our Node server on another origin — through the CORS
 * preset — with connect-web and with connect-effect's own fetch client: unary and server
 * streaming over Connect (JSON, binary, GET) and gRPC-Web, client streaming with our client, errors with details and metadata
 * read through the exposed headers, and an origin that is not allowed being blocked.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { StringValueSchema } from "@bufbuild/protobuf/wkt"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Browser, Page } from "playwright-core"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import type { ElizaServiceHandlers } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"
import { bundle, html, servePage } from "../../../examples/browser/src/bundle.ts"
import { launchChromium } from "./fixtures/chromium.ts"
import type { Api, Kind, Outcome } from "./fixtures/browserPage.ts"

/** Calls with this sentence must never reach the handler (the browser blocks them). */
let blockedCalls = 0

const handlers: ElizaServiceHandlers = {
  say: (request, ctx) =>
    Effect.gen(function*() {
      if (request.sentence === "blocked") blockedCalls++
      ctx.responseHeaders.set("x-response-header", "h")
      ctx.responseHeaders.set("x-hidden", "not exposed")
      ctx.responseTrailers.set("x-response-trailer", "t")
      if (request.sentence === "error") {
        return yield* ConnectError.make("permission_denied", "not for you", {
          metadata: { "x-error-meta": "m" },
          details: [ConnectError.detail(StringValueSchema, { value: "detail" })]
        })
      }
      return { sentence: `${ctx.httpMethod} ${request.sentence} ${ctx.requestHeaders.get("x-request-header") ?? "-"}` }
    }),
  introduce: (request, ctx) => {
    ctx.responseTrailers.set("x-stream-trailer", "st")
    const [kind, n] = request.name.split(":")
    const messages = Stream.range(1, Number(n)).pipe(Stream.map((i) => ({ sentence: `#${i}` })))
    return kind === "fail"
      ? Stream.concat(messages, Stream.fail(ConnectError.make("resource_exhausted", "no more", { metadata: { "x-error-meta": "s" } })))
      : messages
  },
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: all.map((r) => r.sentence).join("|") }))
}

let scope: Scope.Closeable
let browser: Browser
let allowedPage: Page
let blockedPage: Page
const consoleOfBlocked: Array<string> = []

const openPage = async (url: string): Promise<Page> => {
  const page = await browser.newPage()
  await page.goto(url)
  await page.waitForFunction(() => (globalThis as { api?: unknown }).api !== undefined, undefined, { timeout: 60_000 })
  return page
}

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const script = await Effect.runPromise(bundle(path.join(import.meta.dirname, "fixtures/browserPage.ts")))
  let apiUrl = ""
  const page = await Effect.runPromise(Scope.provide(servePage({ html: () => html({ title: "test", apiUrl }), script }), scope))
  const router = Router.service(Router.empty, ElizaService, handlers)
  const context = await Effect.runPromise(Layer.buildWithScope(
    NodeServer.layerRouter(router, {
      cors: {
        allowedOrigins: [page.url],
        allowedHeaders: ["x-request-header"],
        exposedHeaders: ["x-response-header", "trailer-x-response-trailer", "x-error-meta"]
      }
    }),
    scope
  ))
  apiUrl = Context.get(context, NodeServer.NodeServer).url
  browser = await launchChromium()
  allowedPage = await openPage(page.url)
  // the same page from another origin (localhost instead of 127.0.0.1), which the server does not allow
  blockedPage = await browser.newPage()
  blockedPage.on("console", (message) => consoleOfBlocked.push(message.text()))
  await blockedPage.goto(page.url.replace("127.0.0.1", "localhost"))
  await blockedPage.waitForFunction(() => (globalThis as { api?: unknown }).api !== undefined, undefined, { timeout: 60_000 })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
}, 60_000)

const call = <K extends keyof Api>(page: Page, name: K, ...args: Parameters<Api[K]>): Promise<Awaited<ReturnType<Api[K]>>> =>
  page.evaluate(
    ([name, args]) => ((globalThis as unknown as { api: Record<string, (...a: Array<unknown>) => Promise<unknown>> }).api[name]!)(...args),
    [name, args] as const
  ) as Promise<Awaited<ReturnType<Api[K]>>>

const kinds: Array<Kind> = ["connect-json", "connect-binary", "connect-get", "grpc-web"]

describe.each([
  ["connect-web", "webSay", "webIntroduce"],
  ["connect-effect", "effectSay", "effectIntroduce"]
] as const)("%s in Chromium, cross-origin", (_client, say, introduce) => {
  it.each(kinds)("unary over %s: response, exposed headers and trailers, custom request header", async (kind) => {
    const outcome: Outcome = await call(allowedPage, say, kind, "hello")
    expect(outcome.error).toBeUndefined()
    expect(outcome.messages).toEqual([`${kind === "connect-get" ? "GET" : "POST"} hello from-the-browser`])
    expect(outcome.headers["x-response-header"]).toBe("h")
    // not in the exposed headers: the browser hides it from the script
    expect(outcome.headers["x-hidden"]).toBeUndefined()
    expect(outcome.trailers["x-response-trailer"]).toBe("t")
  }, 60_000)

  it.each(kinds)("unary error over %s: code, message, metadata and details", async (kind) => {
    const outcome: Outcome = await call(allowedPage, say, kind, "error")
    expect(outcome.error).toBeDefined()
    const error = outcome.error!
    expect(error.code.toLowerCase().replace("_", "")).toBe("permissiondenied")
    expect(error.message).toBe("not for you")
    expect(error.metadata["x-error-meta"]).toBe("m")
    expect(error.details).toEqual(["detail"])
  }, 60_000)

  it.each(kinds.filter((k) => k !== "connect-get"))("server streaming over %s", async (kind) => {
    const outcome: Outcome = await call(allowedPage, introduce, kind, "n:3")
    expect(outcome.error).toBeUndefined()
    expect(outcome.messages).toEqual(["#1", "#2", "#3"])
    expect(outcome.trailers["x-stream-trailer"]).toBe("st")
  }, 60_000)

  it.each(kinds.filter((k) => k !== "connect-get"))("server streaming error over %s after two messages", async (kind) => {
    const outcome: Outcome = await call(allowedPage, introduce, kind, "fail:2")
    // connect-web hands out each message as it arrives; our client's stream fails as a whole
    // (the page collects it with Stream.runCollect), so it shows no messages, only the error
    expect(outcome.messages).toEqual(_client === "connect-web" ? ["#1", "#2"] : [])
    expect(outcome.error?.code.toLowerCase().replace("_", "")).toBe("resourceexhausted")
    expect(outcome.error?.message).toBe("no more")
    expect(outcome.error?.metadata["x-error-meta"]).toBe("s")
  }, 60_000)
})

describe("connect-effect client streaming in Chromium", () => {
  it.each(["connect-json", "connect-binary", "grpc-web"] as const)("over %s: the request messages are sent as one body", async (kind) => {
    const outcome: Outcome = await call(allowedPage, "effectReflect", kind, ["one", "two", "three"])
    expect(outcome.error).toBeUndefined()
    expect(outcome.messages).toEqual(["one|two|three"])
  }, 60_000)
})

describe("an origin that is not allowed", () => {
  it("is blocked by the browser: the calls fail and never reach the handler", async () => {
    const before = blockedCalls
    for (const kind of ["connect-json", "grpc-web"] as const) {
      const web: Outcome = await call(blockedPage, "webSay", kind, "blocked")
      expect(web.error?.message).toMatch(/fetch/i)
      const ours: Outcome = await call(blockedPage, "effectSay", kind, "blocked")
      expect(ours.error?.code).toBe("unavailable")
    }
    expect(blockedCalls).toBe(before)
    // Chromium says why on the page's console (delivered asynchronously)
    await expect.poll(() => consoleOfBlocked.some((m) => m.includes("CORS policy")), { timeout: 10_000 }).toBe(true)
    // the allowed origin still gets through
    const ok: Outcome = await call(allowedPage, "webSay", "connect-json", "blocked")
    expect(ok.messages).toEqual(["POST blocked from-the-browser"])
    expect(blockedCalls).toBe(before + 1)
  }, 60_000)

  it("a simple (preflight-free) fetch reaches the server but its response is hidden from the script", async () => {
    const result = await call(blockedPage, "rawFetch", "/connectrpc.eliza.v1.ElizaService/Say?connect=v1&encoding=json&message=%7B%7D", { method: "GET" })
    expect(result).toHaveProperty("failed")
    expect((result as { failed: string }).failed).toMatch(/Failed to fetch/)
  }, 60_000)
})
