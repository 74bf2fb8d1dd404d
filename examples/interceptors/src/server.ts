/**
 * Server interceptors: authentication that provides a typed `CurrentUser` to handlers, and an
 * access log. The Eliza service (from examples/eliza) is reused; its handlers here require
 * `CurrentUser`, and only `Router.intercept(auth)` removes that requirement — serving the router
 * without the interceptor does not compile.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import * as Interceptor from "@connect-effect/core/Interceptor"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import type { ElizaServiceHandlers } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

/** The authenticated caller, provided by the auth interceptor. */
export class CurrentUser extends Context.Service<CurrentUser, { readonly id: string; readonly name: string }>()(
  "example/CurrentUser"
) {}

/** Where the access log goes (a service, so tests can collect the lines). */
export class AccessLog extends Context.Service<AccessLog, { readonly write: (line: string) => Effect.Effect<void> }>()(
  "example/AccessLog"
) {
  static readonly console = Layer.succeed(AccessLog, { write: (line) => Effect.log(line) })
}

/** Known bearer tokens (a real service would verify a JWT or ask a session store). */
const tokens: Readonly<Record<string, { readonly id: string; readonly name: string }>> = {
  "token-ada": { id: "u1", name: "Ada" },
  "token-grace": { id: "u2", name: "Grace" }
}

/** Reads `authorization: Bearer <token>`; a missing or unknown token fails with `unauthenticated`. */
export const auth = Interceptor.provideService(CurrentUser, (call) => {
  const header = call.requestHeaders.get("authorization") ?? ""
  const user = header.startsWith("Bearer ") ? tokens[header.slice("Bearer ".length)] : undefined
  return user !== undefined
    ? Effect.succeed(user)
    : Effect.fail(ConnectError.make("unauthenticated", "missing or unknown bearer token", {
      metadata: { "www-authenticate": "Bearer" }
    }))
})

/**
 * Logs every call with its outcome and duration. It runs outside `auth` (added after it), so it
 * also sees calls that auth refused. It requires `AccessLog`, which the server layer provides.
 */
export const accessLog = Interceptor.server<AccessLog>((next, call) =>
  Effect.gen(function*() {
    const log = yield* AccessLog
    const start = Date.now()
    // response headers go out before a streaming response's first message: set them up front
    call.responseHeaders.set("x-served-by", "interceptors-example")
    return yield* next.pipe(
      Effect.onExit((exit) => {
        const outcome = exit._tag === "Success"
          ? "ok"
          : exit.cause.reasons.map((r) => r._tag === "Fail" && ConnectError.isConnectError(r.error) ? r.error.code : r._tag).join(",")
        return log.write(`${call.protocol} ${call.method.name} ${outcome} ${Date.now() - start}ms`)
      })
    )
  })
)

/** Handlers that need to know who is calling. */
export const handlers: ElizaServiceHandlers<CurrentUser> = {
  say: (request) => Effect.map(CurrentUser, (user) => ({ sentence: `${user.name} said: ${request.sentence}` })),
  introduce: (_, call) =>
    Stream.unwrap(Effect.map(CurrentUser, (user) => {
      call.responseTrailers.set("x-user-id", user.id)
      return Stream.make({ sentence: `Hello ${user.name}.` }, { sentence: `Your id is ${user.id}.` })
    })),
  converse: (requests) => Stream.map(requests, (r) => ({ sentence: r.sentence })),
  reflect: (requests) => Effect.map(Stream.runCollect(requests), (all) => ({ summary: `${all.length} sentences` }))
}

/** `Router<CurrentUser>` before `auth`; `Router<AccessLog>` after both interceptors. */
export const router = Router.empty.pipe(
  Router.service(ElizaService, handlers),
  Router.intercept(auth),
  Router.intercept(accessLog)
)

/** The server on a port; the access log goes to the logger. */
export const ServerLive = (port: number) => NodeServer.layerRouter(router, { port }).pipe(Layer.provide(AccessLog.console))
