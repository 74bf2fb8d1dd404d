/**
 * Building and serving a browser page: the page script is bundled with esbuild's JS API (the
 * TypeScript sources, connect-web, effect and connect-effect's core: core has no `node:`
 * imports), and a tiny static server serves the HTML and the bundle from its own origin.
 */
import * as http from "node:http"
import type * as net from "node:net"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as esbuild from "esbuild"

/** Bundling or serving the page failed. */
export class PageError extends Data.TaggedError("PageError")<{ readonly message: string; readonly cause?: unknown }> {}

/** Bundles a browser entry point (TypeScript) into one ES module. */
export const bundle = (entryPoint: string): Effect.Effect<string, PageError> =>
  Effect.tryPromise({
    try: async () => {
      const result = await esbuild.build({
        entryPoints: [entryPoint],
        bundle: true,
        format: "esm",
        platform: "browser",
        // this repository runs the packages from their sources (see .npmrc); an app that installed
        // them from npm leaves this out and gets their compiled dist/
        conditions: ["@connect-effect/source"],
        target: "es2022",
        write: false,
        logLevel: "silent",
        sourcemap: "inline"
      })
      return result.outputFiles[0]!.text
    },
    catch: (cause) => new PageError({ message: `cannot bundle ${entryPoint}: ${String(cause)}`, cause })
  })

/** The HTML of a page that loads `/app.js` after setting `globalThis.CONNECT_API`. */
export const html = (options: { readonly title: string; readonly apiUrl: string; readonly body?: string }): string =>
  `<!doctype html>
<html>
<head><meta charset="utf-8"><title>${options.title}</title></head>
<body>
${options.body ?? ""}
<script>globalThis.CONNECT_API = ${JSON.stringify(options.apiUrl)}</script>
<script type="module" src="/app.js"></script>
</body>
</html>
`

/** A listening page server. */
export interface PageServer {
  readonly port: number
  /** `http://127.0.0.1:<port>` */
  readonly url: string
}

/**
 * Serves `/` (the HTML) and `/app.js` (the script) on `host:port` until the scope closes.
 */
export const servePage = (options: {
  /** The HTML, or a function giving it at each request (for values known after listening). */
  readonly html: string | (() => string)
  readonly script: string
  readonly port?: number | undefined
  readonly host?: string | undefined
}): Effect.Effect<PageServer, PageError, Scope.Scope> => {
  const host = options.host ?? "127.0.0.1"
  return Effect.acquireRelease(
    Effect.callback<{ server: http.Server; port: number }, PageError>((resume) => {
      const server = http.createServer((req, res) => {
        const path = (req.url ?? "/").split("?")[0]
        if (path === "/" || path === "/index.html") {
          res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" })
          res.end(typeof options.html === "string" ? options.html : options.html())
        } else if (path === "/app.js") {
          res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" })
          res.end(options.script)
        } else {
          res.writeHead(404, { "content-length": 0 })
          res.end()
        }
      })
      server.once("error", (cause) => resume(Effect.fail(new PageError({ message: `cannot listen: ${cause.message}`, cause }))))
      server.listen(options.port ?? 0, host, () => resume(Effect.succeed({ server, port: (server.address() as net.AddressInfo).port })))
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  ).pipe(Effect.map(({ port }) => ({ port, url: `http://${host}:${port}` })))
}
