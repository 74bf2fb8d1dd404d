/**
 * ShopService on Deno: the router as a web-standard fetch handler (`FetchHandler`) under
 * `Deno.serve`. Connect and gRPC-Web (a fetch `Response` carries no HTTP trailers, so gRPC is
 * answered 415), CORS open to any origin. No compression is offered (no `Compressions` layer).
 *
 *   deno run -A src/deno-server.ts --port 0
 *
 * Prints `listening <baseUrl>` once ready; stops gracefully when stdin ends or on SIGTERM.
 */
import * as Effect from "effect/Effect"
import * as FetchHandler from "@connect-effect/core/FetchHandler"
import { cors, routes, ShopLive } from "./service.ts"

/** The slice of Deno's global API this file uses (no Deno type package needed). */
declare const Deno: {
  readonly args: ReadonlyArray<string>
  readonly stdin: { readonly readable: ReadableStream<Uint8Array> }
  serve(
    options: {
      readonly port: number
      readonly hostname: string
      readonly onListen?: (address: { readonly hostname: string; readonly port: number }) => void
    },
    handler: (request: Request) => Response | Promise<Response>
  ): { readonly finished: Promise<void>; shutdown(): Promise<void> }
  addSignalListener(signal: "SIGTERM" | "SIGINT", handler: () => void): void
  exit(code?: number): never
}

const argument = (name: string): string | undefined => {
  const i = Deno.args.indexOf(`--${name}`)
  return i === -1 ? undefined : Deno.args[i + 1]
}

/** Built once, at module scope; every request reuses it. */
const handler: FetchHandler.FetchHandler = await Effect.runPromise(
  Effect.flatMap(routes, (router) => FetchHandler.fromRouter(router, { cors })).pipe(Effect.provide(ShopLive))
)

const hostname = "127.0.0.1"
const server = Deno.serve(
  { port: Number(argument("port") ?? "0"), hostname, onListen: ({ port }) => console.log(`listening http://${hostname}:${port}`) },
  handler
)

const stopped = await new Promise<string>((resolve) => {
  Deno.addSignalListener("SIGTERM", () => resolve("SIGTERM"))
  Deno.addSignalListener("SIGINT", () => resolve("SIGINT"))
  // read stdin to its end (the parent closed it, or went away)
  const reader = Deno.stdin.readable.getReader()
  const drain = (): Promise<void> => reader.read().then(({ done }) => (done ? undefined : drain()))
  drain().then(() => resolve("stdin ended"), () => resolve("stdin ended"))
})
console.error(`stopping (${stopped})`)
await server.shutdown()
Deno.exit(0)
