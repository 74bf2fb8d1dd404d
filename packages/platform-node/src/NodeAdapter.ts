/**
 * Mounts a router in a Node app you already have: a request listener `(req, res, next?)` for
 * servers you create yourself (`node:http`, `node:https`, `node:http2` with its compatibility
 * API, cleartext or TLS), which is also Express middleware, and a Fastify plugin. HTTP/2 requests
 * are served on their stream, with trailers and full duplex, so gRPC works; HTTP/1.1 serves
 * Connect and gRPC-Web. Requests for other paths go to `next()` (or get a 404). Shutting the
 * adapter down (its scope closing, or `close()`) lets calls in flight finish for a grace period
 * and refuses new ones with 503 (`unavailable`), while the server keeps serving your other routes.
 *
 * The request bodies must reach the adapter unread: mount it before body parsers.
 *
 * @since 0.1.0
 */
import type * as http from "node:http"
import type * as http2 from "node:http2"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Compressions } from "@connect-effect/core/Compression"
import * as Router from "@connect-effect/core/Router"
import type * as Exchange from "./internal/server/exchange.ts"
import * as Http1 from "./internal/server/http1.ts"
import * as Http2 from "./internal/server/http2.ts"
import * as RequestTimeouts from "./internal/server/requestTimeouts.ts"
import * as NodeCompression from "./NodeCompression.ts"

/**
 * Options of {@link make}: those of the router (limits, compressions, interceptors' options,
 * CORS, `requireConnectProtocolHeader`) and of the adapter.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options extends Router.ServerOptions {
  /**
   * A path the RPC routes are mounted under (`"/api"`: `/api/pkg.Service/Method`), for a listener
   * that sees whole paths. Not needed where the framework strips the mount path from `req.url`
   * (Express `app.use("/api", adapter.handle)`) nor with the Fastify plugin (its `prefix`).
   */
  readonly prefix?: string | undefined
  /** How long shutdown waits for calls in flight before interrupting them (default 5000). */
  readonly gracePeriodMs?: number | undefined
  /**
   * Time a client has to send a whole request body, counted from the request headers, while the
   * server has not started answering (default 300000 ms; `0` disables it), as
   * `NodeServer`'s `requestTimeoutMs`: past it the body fails with `deadline_exceeded`, the
   * handler gets 1 s to answer, then the exchange is cut.
   */
  readonly requestTimeoutMs?: number | undefined
  /**
   * Called with the cause when a handler dies (the call is then answered 500, or reset once the
   * response started). Defaults to `Effect.logError` in the context the adapter was made in.
   */
  readonly onDefect?: ((cause: Cause.Cause<unknown>) => void) | undefined
}

/**
 * The request of a Node server: `node:http` / `node:https`, or the compatibility API of
 * `node:http2` (`http2.createServer(handler)`, `http2.createSecureServer(options, handler)`).
 *
 * @category models
 * @since 0.1.0
 */
export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest

/**
 * The response of a Node server, matching {@link NodeRequest}.
 *
 * @category models
 * @since 0.1.0
 */
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse

/**
 * A Node request listener that is also Express (or Connect-style) middleware: a request the
 * router does not own goes to `next()` when given, else it is answered 404.
 *
 * @category models
 * @since 0.1.0
 */
export type Listener = (req: NodeRequest, res: NodeResponse, next?: (error?: unknown) => void) => void

/**
 * The part of a Fastify instance the plugin uses (typed here so that the library does not
 * depend on Fastify).
 *
 * @category models
 * @since 0.1.0
 */
export interface FastifyInstanceLike {
  readonly prefix: string
  removeAllContentTypeParsers(): unknown
  addContentTypeParser(
    contentType: string,
    parser: (request: unknown, payload: unknown, done: (error: Error | null, body?: unknown) => void) => void
  ): unknown
  route(options: {
    readonly method: Array<string>
    readonly url: string
    readonly handler: (request: { readonly raw: NodeRequest }, reply: FastifyReplyLike) => void
  }): unknown
}

/**
 * The part of a Fastify reply the plugin uses.
 *
 * @category models
 * @since 0.1.0
 */
export interface FastifyReplyLike {
  readonly raw: NodeResponse
  hijack(): unknown
}

/**
 * A Node adapter of a router.
 *
 * @category models
 * @since 0.1.0
 */
export interface NodeAdapter {
  /**
   * The request listener: `http.createServer(adapter.handle)`, `http2.createServer(adapter.handle)`,
   * `app.use(adapter.handle)` (Express), or called from your own listener.
   */
  readonly handle: Listener
  /** Whether the router owns this request path (with the query and the `prefix`, if any). */
  readonly owns: (url: string) => boolean
  /**
   * A Fastify plugin serving the router's routes under the registration's `prefix`, over
   * HTTP/1.1 and Fastify's `http2: true` mode: `app.register(adapter.fastifyPlugin, { prefix: "/api" })`.
   * It registers its routes in its own context, where request bodies are left unread.
   */
  readonly fastifyPlugin: (instance: FastifyInstanceLike, options: unknown) => Promise<void>
  /** Calls in flight. */
  readonly inflight: () => number
  /**
   * Shuts the adapter down: new calls are answered 503 (`unavailable`), calls in flight get
   * `gracePeriodMs` to finish, then are interrupted. Resolves when no call is left. Idempotent;
   * closing the scope of {@link make} does the same.
   */
  readonly close: () => Promise<void>
}

const ALL_METHODS = ["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT", "OPTIONS"]

/** The path of a URL (without its query). */
const pathOf = (url: string): string => {
  const q = url.indexOf("?")
  return q === -1 ? url : url.slice(0, q)
}

/** A request of the compatibility API of `node:http2` (served on its stream). */
const isHttp2 = (req: NodeRequest): req is http2.Http2ServerRequest =>
  req.httpVersionMajor === 2 && (req as { stream?: unknown }).stream !== undefined

/** Answers a request without a body (404 for paths of others, 503 while shutting down). */
const answerPlain = (res: NodeResponse, status: number, closeConnection: boolean): void => {
  if (res.headersSent) return
  // HTTP/2 has no connection header
  const headers: http.OutgoingHttpHeaders = closeConnection && !("stream" in res)
    ? { "content-length": 0, connection: "close" }
    : { "content-length": 0 }
  ;(res as http.ServerResponse).writeHead(status, headers)
  res.end()
}

/**
 * An adapter serving `router` (or an effect building one, such as `Router.fromServices`),
 * running each call in the context this effect runs in. It keeps serving until
 * {@link NodeAdapter.close} is called; see {@link make} for one that shuts down with its scope.
 * Compressions default to the provided `Compressions` reference, or to gzip, br and zstd.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromRouter = <R, E = never, R2 = never>(
  router: Router.Router<R> | Effect.Effect<Router.Router<R>, E, R2>,
  options: Options = {}
): Effect.Effect<NodeAdapter, E, R | R2> =>
  Effect.gen(function*() {
    const r = Effect.isEffect(router) ? yield* router : router
    const provided = yield* Effect.service(Compressions)
    const handler: Exchange.Handler = yield* Router.toHttpHandler(r, {
      ...options,
      compressions: options.compressions ?? (provided.length > 0 ? provided : NodeCompression.all)
    })
    const context = yield* Effect.context<R>()
    const state = Http2.makeState(context, {
      onDefect: options.onDefect,
      requestTimeoutMs: options.requestTimeoutMs,
      // sessions belong to the user's server
      idleTimeoutMs: 0
    })
    const routes = r.routes
    const rawPrefix = options.prefix ?? ""
    const prefix = rawPrefix.endsWith("/") ? rawPrefix.slice(0, -1) : rawPrefix
    const gracePeriodMs = options.gracePeriodMs ?? 5000

    /** The URL as the router sees it (the prefix removed), or undefined when the router does not own it. */
    const routed = (url: string): string | undefined => {
      if (prefix !== "") {
        if (!url.startsWith(prefix) || url.charCodeAt(prefix.length) !== 47 /* "/" */) return undefined
        url = url.slice(prefix.length)
      }
      return routes.has(pathOf(url)) ? url : undefined
    }

    /** Serves a request whose router URL is `url`. */
    const serve = (req: NodeRequest, res: NodeResponse, url: string): void => {
      if (state.closing) {
        answerPlain(res, 503, true)
        return
      }
      if (req.readableEnded) {
        // a body parser mounted before the adapter read the body: a bug of the app, not of the client
        state.onDefect(Cause.die(new Error(`${url}: the request body was read before NodeAdapter (mount it before body parsers)`)))
        answerPlain(res, 500, true)
        return
      }
      if (isHttp2(req)) {
        const stream = req.stream
        // the compatibility response sends its own (empty) trailers on 'wantTrailers'; the
        // exchange sends the call's
        stream.removeAllListeners("wantTrailers")
        Http2.handle(state, handler, stream, req.headers, req.rawHeaders, url)
      } else {
        Http1.handle(state, handler, req as http.IncomingMessage, res as http.ServerResponse, url)
      }
    }

    const handle: Listener = (req, res, next) => {
      const url = routed(req.url ?? "/")
      if (url !== undefined) serve(req, res, url)
      else if (next !== undefined) next()
      else answerPlain(res, 404, false)
    }

    const fastifyPlugin = (instance: FastifyInstanceLike): Promise<void> => {
      // the bodies stay unread in this plugin's context: the exchange reads them
      instance.removeAllContentTypeParsers()
      instance.addContentTypeParser("*", (_request, _payload, done) => done(null))
      const mountedAt = instance.prefix.length
      for (const path of routes.keys()) {
        instance.route({
          method: ALL_METHODS,
          url: prefix + path,
          handler: (request, reply) => {
            reply.hijack()
            const url = routed((request.raw.url ?? "/").slice(mountedAt))
            if (url !== undefined) serve(request.raw, reply.raw, url)
            else answerPlain(reply.raw, 404, false)
          }
        })
      }
      return Promise.resolve()
    }

    let closed: Promise<void> | undefined
    const close = (): Promise<void> =>
      closed ??= new Promise<void>((resolve) => {
        state.closing = true
        let graceTimer: ReturnType<typeof setTimeout> | undefined
        let forceTimer: ReturnType<typeof setTimeout> | undefined
        const finish = () => {
          if (graceTimer !== undefined) clearTimeout(graceTimer)
          if (forceTimer !== undefined) clearTimeout(forceTimer)
          state.onIdle = undefined
          resolve()
        }
        if (state.inflight === 0) {
          finish()
          return
        }
        state.onIdle = finish
        graceTimer = setTimeout(() => {
          graceTimer = undefined
          // the remaining calls are interrupted: each is answered 500, or reset once it started
          for (const fiber of state.running.fibers()) fiber.interruptUnsafe()
          // exchanges whose peer never lets them close do not hold the shutdown
          forceTimer = setTimeout(finish, RequestTimeouts.CUT_AFTER_MS)
        }, gracePeriodMs)
      })

    return {
      handle,
      owns: (url: string) => routed(url) !== undefined,
      fastifyPlugin,
      inflight: () => state.inflight,
      close
    }
  })

/**
 * {@link fromRouter} for the lifetime of a scope: closing the scope shuts the adapter down
 * gracefully (new calls answered 503, calls in flight given `gracePeriodMs`, then interrupted).
 *
 * @example
 * ```ts
 * import * as http from "node:http"
 * import * as Effect from "effect/Effect"
 * import type * as Router from "@connect-effect/core/Router"
 * import { NodeAdapter } from "@connect-effect/platform-node"
 *
 * declare const router: Router.Router<never>
 * const program = Effect.gen(function*() {
 *   const adapter = yield* NodeAdapter.make(router)
 *   http.createServer(adapter.handle).listen(8080)
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <R, E = never, R2 = never>(
  router: Router.Router<R> | Effect.Effect<Router.Router<R>, E, R2>,
  options: Options = {}
): Effect.Effect<NodeAdapter, E, R | R2 | Scope.Scope> =>
  Effect.acquireRelease(fromRouter(router, options), (adapter) => Effect.promise(() => adapter.close()))
