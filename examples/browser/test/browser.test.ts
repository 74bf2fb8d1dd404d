/**
 * The browser example end to end: its page (bundled with esbuild) loaded in headless Chromium
 * from one origin calls the Eliza server on another origin through the CORS preset, with
 * connect-web and with connect-effect's fetch client.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { Browser } from "playwright-core"
import { launchChromium } from "../../../packages/platform-node/test/fixtures/chromium.ts"
import { start } from "../src/server.ts"

let scope: Scope.Closeable
let browser: Browser | undefined
let pageUrl = ""

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const urls = await Effect.runPromise(Scope.provide(start(), scope))
  pageUrl = urls.pageUrl
  browser = await launchChromium()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await Effect.runPromise(Scope.close(scope, Exit.void))
}, 60_000)

describe("examples/browser", () => {
  it("the page talks to Eliza across origins with both clients", async () => {
    const page = await browser!.newPage()
    try {
      await page.goto(pageUrl)
      await page.waitForSelector("body[data-done]", { timeout: 60_000 })
      const entries = await page.locator("#log li").allTextContents()
      expect(await page.getAttribute("body", "data-done"), entries.join("\n")).toBe("true")
      expect(entries).toHaveLength(4)
      expect(entries[0]).toMatch(/^connect-web say: \S/)
      expect(entries[1]).toMatch(/^grpc-web introduce: .*Browser/)
      expect(entries[2]).toMatch(/^connect-effect say: \S/)
      expect(entries[3]).toMatch(/^connect-effect introduce: [1-9]\d* sentences$/)
      // the form: one more answer appears
      await page.fill("input[name=sentence]", "I am testing you.")
      await page.click("button")
      await page.waitForSelector("li[data-id=you]", { timeout: 30_000 })
      expect(await page.textContent("li[data-id=you]")).toMatch(/^you: I am testing you\. → \S/)
    } finally {
      await page.close()
    }
  }, 120_000)
})
