/**
 * A Node request (HTTP/1.1 `IncomingMessage` or HTTP/2 stream) as the universal `ServerRequest`.
 *
 * @internal
 */
import type * as http2 from "node:http2"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import type { ServerRequest } from "@connect-effect/core/Http"
import type { BodyReader } from "../body.ts"
import * as NodeHeaders from "../headers.ts"
import type * as Exchange from "./exchange.ts"

const canceledByPeer = () => ConnectError.make("canceled", "peer closed the request")

/** How a request body maps Node's errors and early closes: the peer canceled. */
export const bodyOptions = { onError: canceledByPeer, onPrematureClose: canceledByPeer }

/**
 * A request as the router sees it (a class, not an object literal with getters: those are slow
 * to create). The web `Headers` are built on first use; the protocols read single headers
 * through `header` without them.
 */
export class NodeRequest implements ServerRequest {
  readonly method: string
  readonly url: string
  readonly httpVersion: "1.1" | "2"
  /** HTTP/1.1: Node's `rawHeaders`. */
  readonly rawHeaders: ReadonlyArray<string> | undefined
  /** HTTP/2: Node's header object. */
  readonly objectHeaders: http2.IncomingHttpHeaders | undefined
  readonly reader: BodyReader
  readonly ex: Exchange.Exchange
  webHeaders: Headers | undefined = undefined
  constructor(
    method: string,
    url: string,
    httpVersion: "1.1" | "2",
    rawHeaders: ReadonlyArray<string> | undefined,
    objectHeaders: http2.IncomingHttpHeaders | undefined,
    reader: BodyReader,
    ex: Exchange.Exchange
  ) {
    this.method = method
    this.url = url
    this.httpVersion = httpVersion
    this.rawHeaders = rawHeaders
    this.objectHeaders = objectHeaders
    this.reader = reader
    this.ex = ex
  }
  get headers(): Headers {
    return (this.webHeaders ??= this.rawHeaders !== undefined
      ? NodeHeaders.fromRaw(this.rawHeaders)
      : NodeHeaders.fromObject(this.objectHeaders ?? {}))
  }
  header(name: string): string | null {
    if (this.webHeaders !== undefined) return this.webHeaders.get(name)
    return this.rawHeaders !== undefined
      ? NodeHeaders.getRaw(this.rawHeaders, name)
      : NodeHeaders.getObject(this.objectHeaders ?? {}, name)
  }
  get body(): Stream.Stream<Uint8Array, ConnectError.ConnectError> {
    return this.reader.stream
  }
  readAll(maxBytes: number): Effect.Effect<Uint8Array, ConnectError.ConnectError> {
    return this.reader.readAll(maxBytes)
  }
  onPeerClose(f: () => void): void {
    ;(this.ex.peerClose ??= []).push(f)
  }
}
