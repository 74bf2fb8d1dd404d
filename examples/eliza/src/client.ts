/**
 * An Effect program that talks to Eliza with every RPC kind, through the generated client.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { ElizaClient } from "../gen/connectrpc/eliza/v1/eliza_connect.ts"

/** Says hello, hears Eliza's introduction, converses, and reflects; returns the lines printed. */
export const conversation = Effect.gen(function*() {
  const eliza = yield* ElizaClient
  const lines: Array<string> = []
  const print = (line: string) => {
    lines.push(line)
    return Console.log(line)
  }

  yield* print("--- Introduce (server stream)")
  yield* eliza.introduce({ name: "Ada" }).pipe(Stream.runForEach((r) => print(`Eliza: ${r.sentence}`)))

  yield* print("--- Say (unary)")
  const said = yield* eliza.say({ sentence: "I feel happy today." })
  yield* print("You:   I feel happy today.")
  yield* print(`Eliza: ${said.sentence}`)

  yield* print("--- Converse (bidi stream)")
  const sentences = ["Hello there.", "I am worried about my computer.", "My mother does not understand me.", "Goodbye."]
  yield* eliza.converse(Stream.fromIterable(sentences.map((sentence) => ({ sentence })))).pipe(
    Stream.zipWithIndex,
    Stream.runForEach(([r, i]) => Effect.andThen(print(`You:   ${sentences[i]}`), print(`Eliza: ${r.sentence}`)))
  )

  yield* print("--- Reflect (client stream)")
  const reflected = yield* eliza.reflect(Stream.fromIterable(sentences.slice(0, 3).map((sentence) => ({ sentence }))))
  yield* print(`Eliza: ${reflected.summary}`)
  return lines
})
