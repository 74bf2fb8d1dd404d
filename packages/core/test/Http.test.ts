import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Http from "../src/Http.ts"

/** A sink recording the raw calls it receives. */
const recording = (endWithoutHead?: (trailers?: Headers) => void) => {
  const calls: Array<string> = []
  const sink: Http.ResponseSink = {
    head: (status, headers, body) => calls.push(`head ${status} ${[...headers.keys()].join(",")}${body === undefined ? "" : ` body:${body.byteLength}`}`),
    write: (chunk) => Effect.sync(() => void calls.push(`write ${chunk.byteLength}`)),
    end: (trailers) => calls.push(`end${trailers === undefined ? "" : ` ${[...trailers.keys()].join(",")}`}`),
    endWithoutHead,
    trailers: false
  }
  return { calls, sink }
}

describe("Http.responseWriter", () => {
  it("sends the head once, then writes and ends once", () => {
    const { calls, sink } = recording()
    const writer = Http.responseWriter(sink)
    expect(writer.trailers).toBe(false)
    writer.head(200, new Headers({ a: "1" }))
    writer.head(404, new Headers())
    Effect.runSync(writer.write(new Uint8Array(3)))
    writer.end(new Headers({ t: "1" }))
    writer.end()
    Effect.runSync(writer.write(new Uint8Array(1)))
    expect(calls).toEqual(["head 200 a", "write 3", "end t"])
  })

  it("sends a 200 head before a write without one", () => {
    const { calls, sink } = recording()
    const state: Http.ResponseState = { headSent: false, ended: false, closed: false }
    const writer = Http.responseWriter(sink, state)
    Effect.runSync(writer.write(new Uint8Array(2)))
    expect(state).toEqual({ headSent: true, ended: false, closed: false })
    writer.end()
    expect(calls).toEqual(["head 200 ", "write 2", "end"])
    expect(state.ended).toBe(true)
  })

  it("ends without a head with a 200 head, or with the sink's own answer", () => {
    const plain = recording()
    Http.responseWriter(plain.sink).end(new Headers({ t: "1" }))
    expect(plain.calls).toEqual(["head 200 ", "end t"])
    const own = recording((trailers) => own.calls.push(`headless${trailers === undefined ? "" : " t"}`))
    const writer = Http.responseWriter(own.sink)
    writer.end()
    writer.head(200, new Headers())
    writer.end()
    expect(own.calls).toEqual(["headless"])
  })

  it("takes a head with a body as the whole response", () => {
    const { calls, sink } = recording()
    const state = { headSent: false, ended: false, closed: false }
    const writer = Http.responseWriter(sink, state)
    writer.head(200, new Headers(), new Uint8Array(4))
    Effect.runSync(writer.write(new Uint8Array(1)))
    writer.end()
    expect(calls).toEqual(["head 200  body:4"])
    expect(state).toEqual({ headSent: true, ended: true, closed: false })
  })

  it("sends nothing once the exchange closed", () => {
    const { calls, sink } = recording()
    const state = { headSent: false, ended: false, closed: false }
    const writer = Http.responseWriter(sink, state)
    writer.head(200, new Headers())
    state.closed = true
    Effect.runSync(writer.write(new Uint8Array(1)))
    writer.end()
    expect(calls).toEqual(["head 200 "])
    expect(state.ended).toBe(false)
  })
})
