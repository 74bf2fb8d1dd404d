/**
 * The server side of a protocol as a value: what the router needs to know of a protocol to
 * dispatch a request to it. Each protocol folder defines one (`protocol-connect/server.ts`,
 * `protocol-grpc/server.ts`); `protocols.ts` lists them.
 */
import type { DescMethod } from "@bufbuild/protobuf"
import type * as Effect from "effect/Effect"
import type { ProtocolName, ResponseWriter, ServerRequest } from "../Http.ts"
import type { Route, ServerConfig } from "./server.ts"

/** The server side of a protocol; `K` is what it learns from a request's content type (or GET). */
export interface ServerProtocol<K> {
  readonly name: ProtocolName
  /** The request content types it reads (lower-case, no parameters), each with what it means. */
  readonly contentTypes: ReadonlyArray<readonly [contentType: string, kind: K]>
  /** Whether it takes these content-type parameters (after `;`, trimmed, lower-case; `""` for none). */
  readonly acceptsParameters: (parameters: string) => boolean
  /** Whether a POST with this content type suits the method. */
  readonly accepts: (kind: K, method: DescMethod) => boolean
  /** What it reads from a GET request for the method, or `undefined` when it serves no GET for it. */
  readonly get: (method: DescMethod) => K | undefined
  /** True when its responses end with HTTP trailers: an adapter without them answers 415. */
  readonly needsTrailers: boolean
  readonly serve: (
    route: Route,
    request: ServerRequest,
    writer: ResponseWriter,
    config: ServerConfig,
    kind: K
  ) => Effect.Effect<void, never, any>
}

/** The content types of a protocol, each with what `parse` makes of it. */
export const parsedBy = <K>(parse: (value: string) => K | undefined, types: ReadonlyArray<string>) =>
  types.map((type) => [type, parse(type)!] as const)
