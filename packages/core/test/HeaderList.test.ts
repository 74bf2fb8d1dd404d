/**
 * The server's response header list behaves as the platform's `Headers` for every operation a
 * reader or a middleware may apply, and its raw list (what adapters send) never repeats a name
 * except `set-cookie`.
 */
import { describe, expect, it } from "vitest"
import * as fc from "fast-check"
import * as Http from "../src/Http.ts"
import { HeaderList, toWeb } from "../src/internal/headerList.ts"

type Op =
  | { readonly op: "append" | "set"; readonly name: string; readonly value: string }
  | { readonly op: "delete"; readonly name: string }

const names = ["content-type", "Content-Type", "x-a", "X-A", "set-cookie", "Set-Cookie", "location", "b", "a", "bad name", "", "x:y"]
const values = ["v", " padded ", "\tv2", "a, b", "", "bad\nvalue", "caf\u00e9", "x\r", "\u0100", "nul\0", "\u{1F600}"]

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constantFrom("append" as const, "set" as const), name: fc.constantFrom(...names), value: fc.constantFrom(...values) }),
  fc.record({ op: fc.constant("delete" as const), name: fc.constantFrom(...names) })
)

/** Applies `op`, telling whether it threw (a `TypeError` for an invalid name or value). */
const apply = (h: Headers, op: Op): string => {
  try {
    if (op.op === "delete") h.delete(op.name)
    else h[op.op](op.name, op.value)
    return "ok"
  } catch (e) {
    return e instanceof TypeError ? "TypeError" : "other"
  }
}

/** Everything a reader can observe of `h`. */
const observe = (h: Headers) => {
  const read = (f: () => unknown) => {
    try {
      return f()
    } catch (e) {
      return e instanceof TypeError ? "TypeError" : "other"
    }
  }
  const each: Array<[string, string]> = []
  h.forEach((value, key) => each.push([key, value]))
  return {
    get: names.map((n) => read(() => h.get(n))),
    has: names.map((n) => read(() => h.has(n))),
    setCookie: h.getSetCookie(),
    entries: [...h.entries()],
    iterated: [...h],
    keys: [...h.keys()],
    values: [...h.values()],
    each
  }
}

describe("HeaderList", () => {
  it("answers as the platform's Headers after any sequence of appends, sets and deletes", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 12 }), (ops) => {
        const web = new Headers()
        const list = new HeaderList()
        for (const op of ops) expect(apply(list, op)).toBe(apply(web, op))
        expect(observe(list)).toEqual(observe(web))
        // a platform Headers built from it (the copy middleware and adapters make) equals one
        // built from the platform's (a combined value with an empty part loses its trailing space)
        const copy = observe(new Headers(web))
        expect(observe(new Headers(list))).toEqual(copy)
        expect(observe(toWeb(list))).toEqual(copy)
        // the raw list: lower-case names, no name twice except set-cookie, the values as combined
        const raw = Http.headerList(list)!
        const seen = new Set<string>()
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i]!
          expect(name).toBe(name.toLowerCase())
          if (name !== "set-cookie") {
            expect(seen.has(name)).toBe(false)
            seen.add(name)
            expect(raw[i + 1]).toBe(web.get(name))
          }
        }
        expect(raw.length / 2).toBe(seen.size + web.getSetCookie().length)
      }),
      { numRuns: 2000 }
    )
  })

  it("is a list for adapters, and other Headers are not", () => {
    const list = new HeaderList()
    list.add("content-type", "application/grpc")
    list.merge("x-a", "1")
    list.merge("x-a", "2")
    list.merge("set-cookie", "a=1")
    list.merge("set-cookie", "b=2")
    expect(Http.headerList(list)).toEqual(["content-type", "application/grpc", "x-a", "1, 2", "set-cookie", "a=1", "set-cookie", "b=2"])
    expect(Http.headerList(new Headers({ a: "1" }))).toBeUndefined()
    expect(Object.prototype.toString.call(list)).toBe("[object Headers]")
  })
})
