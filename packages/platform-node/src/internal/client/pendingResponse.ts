/**
 * What the HTTP/1.1 and HTTP/2 calls share between Node's events and the caller: the response
 * latch (the response or the failure, whichever comes first, awaited by the caller) and the
 * wait for the trailers at the end of the response body.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as ConnectError from "@connect-effect/core/ConnectError"
import type { ClientResponse } from "@connect-effect/core/Http"

type Resume<A> = (effect: Effect.Effect<A, ConnectError.ConnectError>) => void

/** The response of one call: settled by Node's events, awaited by the caller through {@link PendingResponse.await}. */
export class PendingResponse {
  /** The response, once its headers arrived. */
  response: ClientResponse | undefined = undefined
  /** The first failure of the call. */
  failure: ConnectError.ConnectError | undefined = undefined
  /** The caller waiting for the response. */
  resume: Resume<ClientResponse> | undefined = undefined

  /** Records the call's failure (the first one wins) and wakes a waiting caller with it. */
  fail(error: ConnectError.ConnectError): void {
    if (this.failure === undefined) this.failure = error
    const r = this.resume
    if (r !== undefined) {
      this.resume = undefined
      r(Effect.fail(this.failure))
    }
  }

  /** The response headers arrived: hands the response to a waiting caller. */
  succeed(response: ClientResponse): void {
    this.response = response
    const r = this.resume
    if (r !== undefined) {
      this.resume = undefined
      r(Effect.succeed(response))
    }
  }

  /** The response, or the failure, as soon as one of them is known. */
  readonly await: Effect.Effect<ClientResponse, ConnectError.ConnectError> = Effect.suspend(() => {
    if (this.response !== undefined) return Effect.succeed(this.response)
    if (this.failure !== undefined) return Effect.fail(this.failure)
    return Effect.callback<ClientResponse, ConnectError.ConnectError>((r) => {
      this.resume = r
    })
  })
}

/**
 * The trailers of a response: `read` at once when `ended`, else once `readable` emitted 'end' or
 * 'close'. `ended` and `read` take the readable so that they can be module functions rather than
 * closures made per call.
 */
export const trailers = <R extends NodeJS.EventEmitter>(
  readable: R,
  ended: (readable: R) => boolean,
  read: (readable: R) => Effect.Effect<Headers>
): Effect.Effect<Headers> =>
  Effect.suspend(() =>
    ended(readable)
      ? read(readable)
      : Effect.callback<Headers>((resume) => {
        const done = () => {
          readable.removeListener("end", done)
          readable.removeListener("close", done)
          resume(read(readable))
        }
        readable.on("end", done)
        readable.on("close", done)
        return Effect.sync(() => {
          readable.removeListener("end", done)
          readable.removeListener("close", done)
        })
      })
  )
