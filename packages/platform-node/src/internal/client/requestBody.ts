/**
 * Writing a streaming request body to a Node client request or HTTP/2 stream.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as ConnectError from "@connect-effect/core/ConnectError"
import { forWrite } from "../buffer.ts"
import { waitDrain } from "../drain.ts"

/**
 * Writes a streaming request body with backpressure, then ends the request. A failing body
 * aborts the exchange with its error.
 */
export const write = (
  body: Stream.Stream<Uint8Array, ConnectError.ConnectError>,
  writable: NodeJS.WritableStream & NodeJS.EventEmitter & { readonly destroyed: boolean },
  onFailure: (error: ConnectError.ConnectError) => void
): Effect.Effect<void> =>
  Stream.runForEachArray(body, (chunks) => {
    if (writable.destroyed) return Effect.void
    let ok = true
    for (const chunk of chunks) ok = writable.write(forWrite(chunk))
    return ok ? Effect.void : waitDrain(writable)
  }).pipe(
    Effect.matchEffect({
      onFailure: (error) => Effect.sync(() => onFailure(error)),
      onSuccess: () => Effect.sync(() => writable.destroyed || writable.end())
    })
  )
