/**
 * The browser side of the example: talks to the Eliza server on another origin with
 * connect-web (`@connectrpc/connect-web`) and with connect-effect's own fetch client, and shows
 * the answers on the page. Bundled for the browser by `server.ts` with esbuild.
 */
import { createClient } from "@connectrpc/connect"
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as FetchHttpClient from "@connect-effect/core/FetchHttpClient"
import { ElizaClient } from "../../eliza/gen/connectrpc/eliza/v1/eliza_connect.ts"
import { ElizaService } from "../../eliza/gen/connectrpc/eliza/v1/eliza_pb.ts"

/** The server's URL, written into the page by the page server. */
const baseUrl = (globalThis as { CONNECT_API?: string }).CONNECT_API ?? "http://127.0.0.1:8080"

const log = (id: string, text: string) => {
  const li = document.createElement("li")
  li.dataset["id"] = id
  li.textContent = `${id}: ${text}`
  document.getElementById("log")!.append(li)
}

// connect-web over the Connect protocol (JSON) and gRPC-Web (binary)
const connectClient = createClient(ElizaService, createConnectTransport({ baseUrl }))
const grpcWebClient = createClient(ElizaService, createGrpcWebTransport({ baseUrl }))

// connect-effect's client over the browser's fetch, as an Effect layer
const EffectClient = ElizaClient.layer.pipe(Layer.provide(FetchHttpClient.layerConnect({ baseUrl, codec: "json" })))

const sayWithEffect = (sentence: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      return yield* eliza.say({ sentence })
    }).pipe(Effect.provide(EffectClient))
  )

const introduceWithEffect = (name: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const eliza = yield* ElizaClient
      return yield* Stream.runCollect(eliza.introduce({ name }))
    }).pipe(Effect.provide(EffectClient))
  )

const main = async () => {
  log("connect-web say", (await connectClient.say({ sentence: "Hello from the browser" })).sentence)
  const intro: Array<string> = []
  for await (const r of grpcWebClient.introduce({ name: "Browser" })) intro.push(r.sentence)
  log("grpc-web introduce", intro.join(" "))
  log("connect-effect say", (await sayWithEffect("I feel curious.")).sentence)
  log("connect-effect introduce", `${(await introduceWithEffect("Ada")).length} sentences`)
  document.body.dataset["done"] = "true"

  const form = document.getElementById("chat") as HTMLFormElement
  const input = form.elements.namedItem("sentence") as HTMLInputElement
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    void connectClient.say({ sentence: input.value }).then((r) => log("you", `${input.value} → ${r.sentence}`))
  })
}

main().catch((error: unknown) => {
  log("error", String(error))
  document.body.dataset["done"] = "error"
})
