import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "../src/adapters/FetchHttpClient.ts"

// a fetch answering with the Content-Encoding named by the path, the way a runtime that decodes
// some encodings itself but keeps the header (Deno's fetch: gzip and br, not zstd) answers
const fetch = (input: RequestInfo | URL) =>
  Promise.resolve(new Response("body", { headers: { "content-encoding": String(input).split("/").pop()!, "x-other": "1" } }))

const contentEncoding = (transparentDecompression: boolean | ReadonlyArray<string> | undefined, encoding: string) =>
  Effect.scoped(Effect.map(
    FetchHttpClient.make({ fetch: fetch as typeof globalThis.fetch, transparentDecompression }).request({
      method: "POST",
      url: `http://fetch.test/${encoding}`,
      headers: new Headers(),
      body: new Uint8Array(0)
    }),
    (response) => [response.headers.get("content-encoding"), response.headers.get("x-other")]
  ))

describe("FetchHttpClient transparentDecompression", () => {
  it.effect("drops Content-Encoding when the runtime decodes every encoding (the default)", () =>
    Effect.gen(function*() {
      expect(yield* contentEncoding(undefined, "gzip")).toEqual([null, "1"])
      expect(yield* contentEncoding(true, "zstd")).toEqual([null, "1"])
    }))

  it.effect("keeps Content-Encoding when the runtime decodes nothing", () =>
    Effect.gen(function*() {
      expect(yield* contentEncoding(false, "gzip")).toEqual(["gzip", "1"])
    }))

  it.effect("drops it only for the encodings the runtime decodes", () =>
    Effect.gen(function*() {
      expect(yield* contentEncoding(["gzip", "br"], "gzip")).toEqual([null, "1"])
      expect(yield* contentEncoding(["gzip", "br"], "br")).toEqual([null, "1"])
      expect(yield* contentEncoding(["gzip", "br"], "zstd")).toEqual(["zstd", "1"])
    }))

  it.effect("defaults to gzip and br on Deno", () =>
    Effect.gen(function*() {
      const global = globalThis as { Deno?: unknown }
      global.Deno = {}
      const client = FetchHttpClient.make({ fetch: fetch as typeof globalThis.fetch })
      delete global.Deno
      const encodingOf = (encoding: string) =>
        Effect.scoped(Effect.map(
          client.request({ method: "POST", url: `http://fetch.test/${encoding}`, headers: new Headers(), body: new Uint8Array(0) }),
          (response) => response.headers.get("content-encoding")
        ))
      expect(yield* encodingOf("gzip")).toBe(null)
      expect(yield* encodingOf("zstd")).toBe("zstd")
    }))
})
