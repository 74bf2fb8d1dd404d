/**
 * A Node request (HTTP/1.1 `IncomingMessage` or HTTP/2 stream) as the universal `ServerRequest`.
 *
 * @internal
 */
import type * as http2 from "node:http2"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import type { Peer, ServerRequest } from "@connect-effect/core/Http"
import type { BodyReader } from "../body.ts"
import * as NodeHeaders from "../headers.ts"
import type * as Exchange from "./exchange.ts"

const canceledByPeer = () => ConnectError.make("canceled", "peer closed the request")

/** How a request body maps Node's errors and early closes: the peer canceled. */
export const bodyOptions = { onError: canceledByPeer, onPrematureClose: canceledByPeer }

/** The remote end of a socket (a `net.Socket`, a `tls.TLSSocket`, or an HTTP/2 session's socket). */
interface RemoteEnd {
  readonly remoteAddress?: string | undefined
  readonly remotePort?: number | undefined
}

/** Where the peer is read from: the HTTP/1.1 request's socket, or the HTTP/2 stream (its session's socket). */
export type PeerSource = RemoteEnd | http2.ServerHttp2Stream

const remotePeer = (socket: RemoteEnd | undefined): Peer | undefined => {
  const address = socket?.remoteAddress
  return address === undefined ? undefined : { address, port: socket!.remotePort }
}

/**
 * A request as the router sees it (a class, not an object literal with getters: those are slow
 * to create). The web `Headers` are built on first use; the protocols read single headers
 * through `header` without them.
 */
export class NodeRequest implements ServerRequest {
  readonly method: string
  readonly url: string
  readonly httpVersion: "1.1" | "2"
  /**
   * Node's `rawHeaders` (HTTP/2 as well: its header object, a dictionary-mode object of ≈ 470 B,
   * would be kept as long as the call).
   */
  readonly rawHeaders: ReadonlyArray<string>
  readonly reader: BodyReader
  readonly ex: Exchange.Exchange
  readonly peerSource: PeerSource
  webHeaders: Headers | undefined = undefined
  /** The peer once read (`null`: unknown). */
  peer_: Peer | null | undefined = undefined
  constructor(
    method: string,
    url: string,
    httpVersion: "1.1" | "2",
    rawHeaders: ReadonlyArray<string>,
    reader: BodyReader,
    ex: Exchange.Exchange,
    peerSource: PeerSource
  ) {
    this.method = method
    this.url = url
    this.httpVersion = httpVersion
    this.rawHeaders = rawHeaders
    this.reader = reader
    this.ex = ex
    this.peerSource = peerSource
  }
  get headers(): Headers {
    return (this.webHeaders ??= NodeHeaders.fromRaw(this.rawHeaders))
  }
  header(name: string): string | null {
    if (this.webHeaders !== undefined) return this.webHeaders.get(name)
    return NodeHeaders.getRaw(this.rawHeaders, name)
  }
  get body(): Stream.Stream<Uint8Array, ConnectError.ConnectError> {
    return this.reader.stream
  }
  get bodyPull(): BodyReader["pull"] {
    return this.reader.pull
  }
  readAll(maxBytes: number): Effect.Effect<Uint8Array, ConnectError.ConnectError> {
    return this.reader.readAll(maxBytes)
  }
  onPeerClose(f: () => void): void {
    ;(this.ex.peerClose ??= []).push(f)
  }
  /** Read from the socket on first use, then kept (the socket may be gone by a later read). */
  peer(): Peer | undefined {
    if (this.peer_ === undefined) {
      let peer: Peer | undefined
      try {
        peer = this.httpVersion === "2"
          ? remotePeer((this.peerSource as http2.ServerHttp2Stream).session?.socket)
          : remotePeer(this.peerSource as RemoteEnd)
      } catch {
        // an HTTP/2 session whose socket is already gone
      }
      this.peer_ = peer ?? null
    }
    return this.peer_ ?? undefined
  }
}
