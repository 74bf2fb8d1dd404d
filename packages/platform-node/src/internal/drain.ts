/**
 * Backpressure of Node writables as an Effect.
 */
import * as Effect from "effect/Effect"

/** Completes when a Node writable can take more data again ('drain') or is gone ('close'). */
export const waitDrain = (writable: NodeJS.EventEmitter & { readonly destroyed: boolean }): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (writable.destroyed) return resume(Effect.void)
    const done = () => {
      writable.removeListener("drain", done)
      writable.removeListener("close", done)
      resume(Effect.void)
    }
    writable.on("drain", done)
    writable.on("close", done)
    return Effect.sync(() => {
      writable.removeListener("drain", done)
      writable.removeListener("close", done)
    })
  })
