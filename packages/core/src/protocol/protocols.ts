/**
 * The protocols a server speaks, as values (connect-go keeps a list of protocol handlers the same
 * way): each one says which content types and HTTP methods it serves, whether it needs HTTP
 * trailers, and how it serves a call. The router derives content-type dispatch, `Allow` and
 * `Accept-Post` from {@link protocols}; adapters only declare whether they can send trailers
 * (`ResponseWriter.trailers`).
 */
import type { DescMethod } from "@bufbuild/protobuf"
import type * as Effect from "effect/Effect"
import type { ProtocolName, ResponseWriter, ServerRequest } from "../Http.ts"
import * as ProtocolConnect from "../ProtocolConnect.ts"
import * as ProtocolGrpc from "../ProtocolGrpc.ts"
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

const parsedBy = <K>(parse: (value: string) => K | undefined, types: ReadonlyArray<string>) =>
  types.map((type) => [type, parse(type)!] as const)

const connectParameters = (p: string) => p === "" || p === "charset=utf-8" || p === "charset=\"utf-8\""
const anyParameters = () => true
const everyMethod = () => true
const noGet = () => undefined

/** Connect: unary and streaming content types, GET for side-effect-free unary methods. */
export const connect: ServerProtocol<ProtocolConnect.ContentType | "get"> = {
  name: "connect",
  contentTypes: parsedBy(ProtocolConnect.parseContentType, [
    "application/proto",
    "application/json",
    "application/connect+proto",
    "application/connect+json"
  ]),
  acceptsParameters: connectParameters,
  // the unary content types only suit unary methods, the streaming ones every other kind
  accepts: (kind, method) => kind !== "get" && kind.stream !== (method.methodKind === "unary"),
  get: (method) => ProtocolConnect.allowsGet(method) ? "get" : undefined,
  needsTrailers: false,
  serve: ProtocolConnect.serve
}

/** gRPC over HTTP/2: every method kind, status in HTTP trailers. */
export const grpc: ServerProtocol<ProtocolGrpc.ContentType> = {
  name: "grpc",
  contentTypes: parsedBy(ProtocolGrpc.parseContentType, ["application/grpc", "application/grpc+proto", "application/grpc+json"]),
  acceptsParameters: anyParameters,
  accepts: everyMethod,
  get: noGet,
  needsTrailers: true,
  serve: ProtocolGrpc.serve
}

/** gRPC-Web: gRPC with the status in the body, so no trailers are needed. */
export const grpcWeb: ServerProtocol<ProtocolGrpc.ContentType> = {
  ...grpc,
  name: "grpc-web",
  contentTypes: parsedBy(ProtocolGrpc.parseContentType, [
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web+json"
  ]),
  needsTrailers: false
}

/** Every protocol a server speaks, in the order `Accept-Post` lists them. */
export const protocols: ReadonlyArray<ServerProtocol<any>> = [connect, grpc, grpcWeb]

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
