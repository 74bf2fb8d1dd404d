/**
 * A browser calling connect-effect across origins: the Eliza server (with the CORS preset) on
 * one port, and a page on another port whose script — bundled with esbuild — calls it with
 * connect-web and with connect-effect's own fetch client.
 *
 *   npm run browser                  # (or npm run -w examples/browser demo) then open the printed page URL
 *   npm run browser -- --api-port 8080 --page-port 3000
 */
import * as path from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Router from "@connect-effect/core/Router"
import * as NodeServer from "@connect-effect/platform-node/NodeServer"
import { ElizaService } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaLive } from "../../eliza/src/ElizaLive.ts"
import { bundle, html, servePage } from "./bundle.ts"

const PAGE_BODY = `<h1>Eliza, cross-origin</h1>
<ul id="log"></ul>
<form id="chat"><input name="sentence" placeholder="Talk to Eliza" autocomplete="off"><button>Send</button></form>`

/**
 * Starts the page server on `pagePort` and the API on `apiPort` (0: free ports), the API
 * allowing calls from the page's origin only. Returns both URLs; everything stops with the scope.
 */
export const start = (options: { readonly apiPort?: number; readonly pagePort?: number; readonly host?: string } = {}) =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const script = yield* bundle(path.join(import.meta.dirname, "page.ts"))
    // the page server is bound first: its origin is what the API allows
    let apiUrl = ""
    const page = yield* servePage({
      html: () => html({ title: "connect-effect in the browser", apiUrl, body: PAGE_BODY }),
      script,
      port: options.pagePort ?? 0,
      host
    })
    const api = yield* Layer.build(
      NodeServer.layerRouter(Router.fromServices(ElizaService), {
        port: options.apiPort ?? 0,
        host,
        cors: { allowedOrigins: [page.url] }
      }).pipe(Layer.provide(ElizaLive))
    ).pipe(Effect.map(Context.get(NodeServer.NodeServer)))
    apiUrl = api.url
    return { pageUrl: page.url, apiUrl: api.url }
  })

const argument = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}

if (import.meta.main) {
  const program = Effect.gen(function*() {
    const { apiUrl, pageUrl } = yield* start({ apiPort: argument("--api-port", 8080), pagePort: argument("--page-port", 3000) })
    yield* Effect.log(`Eliza API on ${apiUrl} (CORS: ${pageUrl})`)
    yield* Effect.log(`open ${pageUrl} in a browser`)
    return yield* Effect.never
  }).pipe(Effect.scoped)
  const fiber = Effect.runFork(program)
  process.on("SIGINT", () => fiber.interruptUnsafe())
  process.on("SIGTERM", () => fiber.interruptUnsafe())
}
