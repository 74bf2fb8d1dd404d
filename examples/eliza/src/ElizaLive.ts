/**
 * The ELIZA service implemented with connect-effect: every RPC kind, as Effect values.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { ElizaService } from "../gen/connectrpc/eliza/v1/eliza_connect.ts"
import { makeBrain } from "./brain.ts"

/** Makes a fresh ELIZA brain (each conversation gets its own, so its memory is private). */
export class Brains extends Context.Service<Brains, { readonly make: () => ReturnType<typeof makeBrain> }>()(
  "eliza/Brains"
) {
  static readonly layer = Layer.succeed(Brains, { make: makeBrain })
}

/** The implementation of ElizaService, requiring a source of brains. */
export const ElizaLive = ElizaService.layer(Effect.gen(function*() {
  const brains = yield* Brains
  const shared = brains.make()
  return {
    say: (request) => Effect.sync(() => ({ sentence: shared.reply(request.sentence) })),
    introduce: (request) =>
      Stream.fromIterable(shared.intro(request.name)).pipe(Stream.map((sentence) => ({ sentence }))),
    converse: (requests) =>
      Stream.unwrap(Effect.sync(() => {
        const brain = brains.make()
        return requests.pipe(
          // answer every sentence; stop listening once the caller says goodbye
          Stream.takeUntil((request) => brain.isGoodbye(request.sentence)),
          Stream.map((request) => ({ sentence: brain.reply(request.sentence) }))
        )
      })),
    reflect: (requests) =>
      Effect.map(Stream.runCollect(requests), (all) => ({
        summary: brains.make().reflect(all.map((r) => r.sentence))
      }))
  }
})).pipe(Layer.provide(Brains.layer))
