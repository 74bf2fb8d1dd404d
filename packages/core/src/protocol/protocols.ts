/**
 * The protocols, as values: each protocol folder (`protocol-connect/`, `protocol-grpc/`) gives
 * its server side (a {@link ServerProtocol}: content types, HTTP methods, whether it needs
 * trailers, how it serves a call) and its client side (a `ClientProtocol`), and this module
 * lists them, the way connect-go keeps a list of protocol handlers. The router derives content-type dispatch, `Allow` and
 * `Accept-Post` from {@link protocols}; adapters only declare whether they can send trailers
 * (`ResponseWriter.trailers`).
 */
import type { DescMethod } from "@bufbuild/protobuf"
import type { ProtocolName } from "../Http.ts"
import { connectClient } from "../protocol-connect/client.ts"
import { connectServer } from "../protocol-connect/server.ts"
import { grpcClient, grpcWebClient } from "../protocol-grpc/client.ts"
import { grpcServer, grpcWebServer } from "../protocol-grpc/server.ts"
import type { ClientProtocol } from "./client.ts"
import type { ServerProtocol } from "./protocol.ts"
import type { Route } from "./server.ts"

/** Every protocol a server speaks, in the order `Accept-Post` lists them. */
export const protocols: ReadonlyArray<ServerProtocol<any>> = [connectServer, grpcServer, grpcWebServer]

/** The client side of every protocol, by name. */
export const clientProtocols: Readonly<Record<ProtocolName, ClientProtocol>> = {
  connect: connectClient,
  grpc: grpcClient,
  "grpc-web": grpcWebClient
}

/** A protocol and what it reads from one content type (allocated once). */
export interface Served {
  readonly protocol: ServerProtocol<unknown>
  readonly kind: unknown
}

const byContentType: ReadonlyMap<string, Served> = new Map(
  protocols.flatMap((protocol) => protocol.contentTypes.map(([type, kind]) => [type, { protocol, kind }] as const))
)

/** The protocol that reads a request content type, or `undefined` when none does. Allocates nothing per known type. */
export const forContentType = (value: string | null): Served | undefined => {
  if (value === null) return undefined
  const v = value.toLowerCase()
  const semi = v.indexOf(";")
  if (semi === -1) return byContentType.get(v)
  const served = byContentType.get(v.slice(0, semi).trim())
  return served !== undefined && served.protocol.acceptsParameters(v.slice(semi + 1).trim()) ? served : undefined
}

/** What the router answers for one route, derived from {@link protocols} once per handler. */
export interface RouteDispatch {
  readonly route: Route
  /** The `Allow` header of a 405. */
  readonly allow: string
  /** Who serves a GET, if anyone. */
  readonly get: Served | undefined
  /** The `Accept-Post` header of a 415: the content types the method takes... */
  readonly acceptPost: string
  /** ...and those left on an adapter without HTTP trailers. */
  readonly acceptPostWithoutTrailers: string
}

const acceptPostOf = (method: DescMethod, trailers: boolean): string => {
  const types: Array<string> = []
  for (const protocol of protocols) {
    if (protocol.needsTrailers && !trailers) continue
    for (const [type, kind] of protocol.contentTypes) if (protocol.accepts(kind, method)) types.push(type)
  }
  return types.join(", ")
}

/** Derives the dispatch of a route from the protocol list. */
export const dispatchOf = (route: Route): RouteDispatch => {
  const method = route.method
  let get: Served | undefined
  let post = false
  for (const protocol of protocols) {
    const kind = protocol.get(method)
    if (get === undefined && kind !== undefined) get = { protocol, kind }
    post ||= protocol.contentTypes.some(([, kind]) => protocol.accepts(kind, method))
  }
  const allow = [...(get !== undefined ? ["GET"] : []), ...(post ? ["POST"] : [])].join(", ")
  return {
    route,
    allow,
    get,
    acceptPost: acceptPostOf(method, true),
    acceptPostWithoutTrailers: acceptPostOf(method, false)
  }
}
