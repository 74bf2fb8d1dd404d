/**
 * A web-standard fetch handler (`Request → Promise<Response>`) for any router, so Deno,
 * Cloudflare Workers, Bun, Next.js route handlers and service workers can serve it. Connect and
 * gRPC-Web work fully; gRPC needs HTTP trailers, which the fetch `Response` cannot carry, so
 * gRPC requests are answered 415.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as ConnectError from "../ConnectError.ts"
import * as Http from "../Http.ts"
import { listOf } from "../internal/headerList.ts"
import type { Peer, ServerRequest } from "../Http.ts"
import * as Router from "../Router.ts"

/**
 * A fetch handler.
 *
 * @category handlers
 * @since 0.1.0
 */
export type FetchHandler = (request: Request) => Promise<Response>

const canceled = () => ConnectError.make("canceled", "the request was aborted")

const EMPTY = new Uint8Array(0)

/**
 * A response's init. Workers (workerd) read a response's `content-encoding` as a request to
 * compress the body itself, so a body the router already compressed would be compressed twice;
 * `encodeBody: "manual"` says it is sent as is. Other runtimes ignore the unknown init member.
 */
const responseInit = (status: number, headers: Headers): ResponseInit =>
  ({ status, headers: initOf(headers), encodeBody: "manual" }) as ResponseInit

/** Response headers as `Response` takes them: the router's header list as pairs (no `Headers` built twice). */
const initOf = (headers: Headers): HeadersInit => {
  const list = listOf(headers)
  if (list === undefined) return headers
  const pairs: Array<[string, string]> = []
  for (let i = 0; i < list.length; i += 2) pairs.push([list[i]!, list[i + 1]!])
  return pairs
}

const tooLarge = (size: number, maxBytes: number) =>
  ConnectError.make("resource_exhausted", `message size ${size} is larger than configured max ${maxBytes}`)

/**
 * The whole body. With a `content-length` the platform's own `arrayBuffer()` reads it (the
 * length bounds what it can read, and it is checked against `maxBytes` first): on Bun and Deno
 * that skips building a ReadableStream for the body, the costliest part of a small call.
 * Without one, a reader enforces `maxBytes` chunk by chunk.
 */
const readAll = (request: Request, maxBytes: number): Effect.Effect<Uint8Array, ConnectError.ConnectError> => {
  const length = request.headers.get("content-length")
  if (length === null) return readChunks(request, maxBytes)
  const declared = Number(length)
  if (!Number.isSafeInteger(declared) || declared < 0) return readChunks(request, maxBytes)
  if (declared > maxBytes) return Effect.fail(tooLarge(declared, maxBytes))
  return Effect.callback<Uint8Array, ConnectError.ConnectError>((resume) => {
    let done = false
    request.arrayBuffer().then((buffer) => {
      if (done) return
      done = true
      // the length header bounds HTTP/1.1 framing; a runtime that does not enforce it still stops here
      if (buffer.byteLength > maxBytes) resume(Effect.fail(tooLarge(buffer.byteLength, maxBytes)))
      else resume(Effect.succeed(new Uint8Array(buffer)))
    }, () => {
      if (done) return
      done = true
      resume(Effect.fail(canceled()))
    })
    return Effect.sync(() => {
      done = true
    })
  })
}

const readChunks = (request: Request, maxBytes: number): Effect.Effect<Uint8Array, ConnectError.ConnectError> =>
  Effect.callback<Uint8Array, ConnectError.ConnectError>((resume) => {
    const body = request.body
    if (body === null) return resume(Effect.succeed(new Uint8Array(0)))
    const reader = body.getReader()
    const chunks: Array<Uint8Array> = []
    let size = 0
    let done = false
    const fail = (e: ConnectError.ConnectError) => {
      done = true
      reader.cancel().catch(() => {})
      resume(Effect.fail(e))
    }
    const step = (): void => {
      reader.read().then(({ done: end, value }) => {
        if (done) return
        if (end) {
          done = true
          if (chunks.length === 1) return resume(Effect.succeed(chunks[0]!))
          const out = new Uint8Array(size)
          let o = 0
          for (const c of chunks) {
            out.set(c, o)
            o += c.byteLength
          }
          return resume(Effect.succeed(out))
        }
        size += value.byteLength
        if (size > maxBytes) return fail(tooLarge(size, maxBytes))
        chunks.push(value)
        step()
      }, () => {
        if (!done) fail(canceled())
      })
    }
    step()
    return Effect.sync(() => {
      if (!done) {
        done = true
        reader.cancel().catch(() => {})
      }
    })
  })

/**
 * Options of {@link fromHttpHandler}.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options {
  /**
   * The client end of a request's connection, for platforms that know it (Bun:
   * `server.requestIP`); called only when a handler or interceptor reads `peer`.
   */
  readonly peer?: ((request: Request) => Peer | undefined) | undefined
  /**
   * Watch `request.signal` only for calls still running after a short while (10–20 ms; one
   * shared interval per handler), instead of for every call. Runtimes that build a request's
   * `AbortSignal` on first access (Bun) then skip it, and the listener, for fast calls; a slower
   * call is interrupted at most 20 ms later than it would be otherwise when its client goes away.
   * Needs timers that outlive a request, so it is off by default (Workers cancel them); `BunServer`
   * turns it on. Default `false`.
   */
  readonly deferAbortWatch?: boolean | undefined
}

/** Period of the shared interval that starts watching the signals of calls still running. */
const ABORT_WATCH_PERIOD_MS = 10

/**
 * Calls whose request signal is not watched yet. Each sweep watches those that were already
 * there at the previous sweep (so a call is watched after one to two periods) and marks the rest.
 */
class AbortWatch {
  readonly pending = new Set<FetchExchange>()
  interval: ReturnType<typeof setInterval> | undefined = undefined
  add(exchange: FetchExchange): void {
    this.pending.add(exchange)
    if (this.interval === undefined) {
      const interval = setInterval(this.sweep, ABORT_WATCH_PERIOD_MS) as { unref?: () => void }
      interval.unref?.()
      this.interval = interval as ReturnType<typeof setInterval>
    }
  }
  readonly sweep = (): void => {
    for (const exchange of this.pending) {
      if (exchange.seen) {
        this.pending.delete(exchange)
        exchange.watchSignal()
      } else exchange.seen = true
    }
    if (this.pending.size === 0) {
      clearInterval(this.interval)
      this.interval = undefined
    }
  }
}

/**
 * Turns an HTTP handler into a fetch handler, running each request with `context`.
 * Aborting the request (its `signal`) interrupts the handler. The writer declares that it has
 * no trailers, so the router answers gRPC 415.
 *
 * @category conversions
 * @since 0.1.0
 */
export const fromHttpHandler = <R>(
  handler: Router.HttpHandler<R>,
  context: Context.Context<R>,
  options?: Options
): FetchHandler => {
  const runFork = Effect.runForkWith(context)
  const resolvePeer = options?.peer
  const watch = options?.deferAbortWatch === true ? new AbortWatch() : undefined
  return (request) =>
    new Promise<Response>((resolve) => {
      const exchange = new FetchExchange(request, resolve, resolvePeer, watch)
      const writer = Http.responseWriter(exchange, exchange)
      exchange.writer = writer
      const fiber = runFork(handler(exchange, writer))
      exchange.fiber = fiber
      fiber.addObserver(exchange.onExit)
      if (exchange.exitedAlready) return
      if (watch !== undefined) watch.add(exchange)
      else exchange.watchSignal()
    })
}

/** The path and query of an absolute request URL, without parsing it (a fetch URL has no fragment). */
const pathOf = (url: string): string => {
  const scheme = url.indexOf("://")
  const slash = url.indexOf("/", scheme < 0 ? 0 : scheme + 3)
  if (slash < 0) return "/"
  const query = url.indexOf("?", scheme + 3)
  return query >= 0 && query < slash ? "/" + url.slice(query) : url.slice(slash)
}

/**
 * One request and its response: the `ServerRequest`, the writer's sink and state, and the abort
 * listener, as one object with shared methods (no closures per request). `request.body` is
 * touched only when the body is streamed, since runtimes build its ReadableStream on first access.
 */
class FetchExchange implements ServerRequest, Http.ResponseSink, Http.ResponseState {
  readonly method: string
  readonly url: string
  readonly httpVersion = "1.1" as const
  readonly trailers = false
  headSent = false
  ended = false
  /** The client canceled the response stream. */
  closed = false
  fiber: Fiber.Fiber<void> | undefined = undefined
  /** The writer over this exchange, which keeps its head/end state. */
  writer: Http.ResponseWriter | undefined = undefined
  controller: ReadableStreamDefaultController<Uint8Array> | undefined = undefined
  wake: (() => void) | undefined = undefined
  readonly onExit: () => void
  readonly request: Request
  readonly resolve: (response: Response) => void
  readonly resolvePeer: ((request: Request) => Peer | undefined) | undefined
  /** The handler's deferred signal watch, if any. */
  readonly watch: AbortWatch | undefined
  /** Seen by one sweep of `watch` already. */
  seen = false
  /** The fiber ended before the signal was watched (nothing left to interrupt). */
  exitedAlready = false
  constructor(
    request: Request,
    resolve: (response: Response) => void,
    resolvePeer: ((request: Request) => Peer | undefined) | undefined,
    watch: AbortWatch | undefined
  ) {
    this.request = request
    this.resolve = resolve
    this.resolvePeer = resolvePeer
    this.watch = watch
    this.method = request.method
    this.url = pathOf(request.url)
    this.onExit = () => this.exited()
  }
  get headers(): Headers {
    return this.request.headers
  }
  get body(): Stream.Stream<Uint8Array, ConnectError.ConnectError> {
    const request = this.request
    return request.body === null
      ? Stream.empty
      : Stream.fromReadableStream({ evaluate: () => request.body!, onError: () => canceled() })
  }
  readAll(maxBytes: number): Effect.Effect<Uint8Array, ConnectError.ConnectError> {
    return readAll(this.request, maxBytes)
  }
  peer(): Peer | undefined {
    return this.resolvePeer?.(this.request)
  }
  head(status: number, headers: Headers, bytes?: Uint8Array): void {
    if (bytes !== undefined) this.resolve(new Response(bytes.byteLength === 0 ? null : bytes as Uint8Array<ArrayBuffer>, responseInit(status, headers)))
    else this.openStream(status, headers)
  }
  openStream(status: number, headers: Headers): void {
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.controller = c
      },
      pull: () => {
        const w = this.wake
        this.wake = undefined
        w?.()
      },
      cancel: () => {
        this.closed = true
        this.fiber?.interruptUnsafe()
      }
    }, { highWaterMark: 4 })
    this.resolve(new Response(stream, responseInit(status, headers)))
  }
  write(chunk: Uint8Array): Effect.Effect<void> {
    const controller = this.controller
    if (controller === undefined) return Effect.void
    controller.enqueue(chunk)
    if ((controller.desiredSize ?? 1) > 0) return Effect.void
    return Effect.callback<void>((resume) => {
      this.wake = () => resume(Effect.void)
    })
  }
  end(): void {
    this.controller?.close()
  }
  endWithoutHead(): void {
    this.resolve(new Response(null, responseInit(200, new Headers())))
  }
  /** Interrupts the handler when the request's signal aborts (at once if it has). */
  watchSignal(): void {
    const signal = this.request.signal as AbortSignal | undefined
    if (signal?.aborted === true) this.handleEvent()
    else signal?.addEventListener("abort", this, { once: true })
  }
  /** The handler ended: a 500 when it sent nothing, else the response stream closes. */
  exited(): void {
    this.exitedAlready = true
    this.watch?.pending.delete(this)
    if (!this.headSent) this.writer?.head(500, new Headers(), EMPTY)
    else if (!this.ended && !this.closed && this.controller !== undefined) {
      this.ended = true
      try {
        this.controller.close()
      } catch {
        // already errored
      }
    }
  }
  /** The request's signal aborted: the handler is interrupted, unless its response stream already ended or was canceled. */
  handleEvent(): void {
    if (this.fiber !== undefined && !this.closed && !(this.ended && this.controller !== undefined)) {
      Effect.runFork(Fiber.interrupt(this.fiber))
    }
  }
}

/**
 * Builds a fetch handler for a router, capturing the services its handlers need from the
 * context. The router may be an effect that builds it (`Router.fromServices(...)`), run once
 * here; its error and requirements become the result's. Compressions default to the
 * `Compressions` reference (provide a platform's layer, or pass `compressions`).
 *
 * @category conversions
 * @since 0.1.0
 */
export const fromRouter = <R, E = never, R2 = never>(
  router: Router.Router<R> | Effect.Effect<Router.Router<R>, E, R2>,
  options?: Router.ServerOptions & Options
): Effect.Effect<FetchHandler, E, R | R2> =>
  Effect.gen(function*() {
    const r = Effect.isEffect(router) ? yield* router : router
    const handler = yield* Router.toHttpHandler(r, options)
    const context = yield* Effect.context<R>()
    return fromHttpHandler(handler, context, options)
  })
