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

const readAll = (request: Request, maxBytes: number): Effect.Effect<Uint8Array, ConnectError.ConnectError> =>
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
        if (size > maxBytes) {
          return fail(ConnectError.make("resource_exhausted", `message size ${size} is larger than configured max ${maxBytes}`))
        }
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
  // a method reading the request off its `ServerRequest`: no closure per request
  const peer = resolvePeer === undefined
    ? undefined
    : function(this: { readonly request: Request }): Peer | undefined {
      return resolvePeer(this.request)
    }
  return (request) =>
    new Promise<Response>((resolve) => {
      const url = new URL(request.url)
      const body: Stream.Stream<Uint8Array, ConnectError.ConnectError> = request.body === null
        ? Stream.empty
        : Stream.fromReadableStream({ evaluate: () => request.body!, onError: () => canceled() })
      const serverRequest: ServerRequest & { readonly request: Request } = {
        method: request.method,
        url: url.pathname + url.search,
        headers: request.headers,
        httpVersion: "1.1",
        body,
        readAll: (maxBytes) => readAll(request, maxBytes),
        peer,
        request
      }
      // closed: the client canceled the response stream
      const state = { headSent: false, ended: false, closed: false }
      let controller: ReadableStreamDefaultController<Uint8Array> | undefined
      let wake: (() => void) | undefined
      const respond = (status: number, headers: Headers, bodyInit: BodyInit | null) => {
        resolve(new Response(bodyInit, { status, headers }))
      }
      const openStream = (status: number, headers: Headers) => {
        const stream = new ReadableStream<Uint8Array>({
          start: (c) => {
            controller = c
          },
          pull: () => {
            const w = wake
            wake = undefined
            w?.()
          },
          cancel: () => {
            state.closed = true
            fiber.interruptUnsafe()
          }
        }, { highWaterMark: 4 })
        respond(status, headers, stream)
      }
      const writer = Http.responseWriter({
        trailers: false,
        head: (status, headers, bytes) => {
          if (bytes !== undefined) respond(status, headers, bytes.byteLength === 0 ? null : bytes as Uint8Array<ArrayBuffer>)
          else openStream(status, headers)
        },
        write: (chunk) => {
          if (controller === undefined) return Effect.void
          controller.enqueue(chunk)
          if ((controller.desiredSize ?? 1) > 0) return Effect.void
          return Effect.callback<void>((resume) => {
            wake = () => resume(Effect.void)
          })
        },
        end: () => controller?.close(),
        endWithoutHead: () => respond(200, new Headers(), null)
      }, state)
      const fiber = runFork(handler(serverRequest, writer))
      fiber.addObserver(() => {
        if (!state.headSent) writer.head(500, new Headers(), EMPTY)
        else if (!state.ended && !state.closed && controller !== undefined) {
          state.ended = true
          try {
            controller.close()
          } catch {
            // already errored
          }
        }
      })
      const signal = request.signal
      if (signal?.aborted === true) Effect.runFork(Fiber.interrupt(fiber))
      else {
        signal?.addEventListener("abort", () => {
          // not once the response stream ended or was canceled (a response without a stream still ends the handler)
          if (!state.closed && !(state.ended && controller !== undefined)) Effect.runFork(Fiber.interrupt(fiber))
        }, { once: true })
      }
    })
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
