/**
 * gRPC server reflection (`grpc.reflection.v1.ServerReflection` and the older
 * `grpc.reflection.v1alpha.ServerReflection`): tools such as grpcurl, buf curl and Postman ask
 * a running server which services it offers and for the descriptors of their files, so they
 * can call it without local `.proto` files.
 *
 * The descriptors come from protobuf-es (`DescFile.proto` of every service's file and of its
 * imports, transitively). {@link add} derives the services from a router, {@link layer} takes
 * them explicitly.
 *
 * @since 0.1.0
 */
import type { DescExtension, DescFile, DescMessage, DescService } from "@bufbuild/protobuf"
import { toBinary } from "@bufbuild/protobuf"
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Code from "../Code.ts"
import * as Router from "../Router.ts"
import {
  ServerReflection as ServerReflectionV1,
  type ServerReflectionHandlers as ServerReflectionV1Handlers
} from "../gen/grpc/reflection/v1/reflection_connect.ts"
import {
  ServerReflection as ServerReflectionV1Descriptor,
  type ServerReflectionRequest as RequestV1
} from "../gen/grpc/reflection/v1/reflection_pb.ts"
import {
  ServerReflection as ServerReflectionV1Alpha,
  type ServerReflectionHandlers as ServerReflectionV1AlphaHandlers
} from "../gen/grpc/reflection/v1alpha/reflection_connect.ts"
import {
  ServerReflection as ServerReflectionV1AlphaDescriptor,
  type ServerReflectionRequest as RequestV1Alpha
} from "../gen/grpc/reflection/v1alpha/reflection_pb.ts"

export {
  /**
   * The generated service tag of `grpc.reflection.v1.ServerReflection`.
   *
   * @category services
   * @since 0.1.0
   */
  ServerReflectionV1,
  /**
   * The generated service tag of `grpc.reflection.v1alpha.ServerReflection`.
   *
   * @category services
   * @since 0.1.0
   */
  ServerReflectionV1Alpha,
  /**
   * The descriptor of `grpc.reflection.v1.ServerReflection`.
   *
   * @category descriptors
   * @since 0.1.0
   */
  ServerReflectionV1Descriptor,
  /**
   * The descriptor of `grpc.reflection.v1alpha.ServerReflection`.
   *
   * @category descriptors
   * @since 0.1.0
   */
  ServerReflectionV1AlphaDescriptor
}
/**
 * The generated clients of both reflection versions (used by tests and tools).
 *
 * @category clients
 * @since 0.1.0
 */
export { ServerReflectionClient as ServerReflectionV1Client } from "../gen/grpc/reflection/v1/reflection_connect.ts"
/**
 * The generated client of `grpc.reflection.v1alpha.ServerReflection`.
 *
 * @category clients
 * @since 0.1.0
 */
export { ServerReflectionClient as ServerReflectionV1AlphaClient } from "../gen/grpc/reflection/v1alpha/reflection_connect.ts"
/** The generated messages of `grpc/reflection/v1/reflection.proto`. */
export * as ReflectionV1Proto from "../gen/grpc/reflection/v1/reflection_pb.ts"
/** The generated messages of `grpc/reflection/v1alpha/reflection.proto`. */
export * as ReflectionV1AlphaProto from "../gen/grpc/reflection/v1alpha/reflection_pb.ts"

/**
 * A service to describe: its descriptor, or a generated service tag.
 *
 * @category models
 * @since 0.1.0
 */
export type ServiceSource = DescService | Router.ServiceTag

/**
 * A version of the reflection protocol.
 *
 * @category models
 * @since 0.1.0
 */
export type Version = "v1" | "v1alpha"

/**
 * Options of {@link add} and {@link layer}.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options {
  /** The reflection versions served (and listed); default both. */
  readonly versions?: ReadonlyArray<Version> | undefined
  /**
   * More files to describe beyond the services' own (e.g. the messages carried in
   * `google.protobuf.Any` or extensions defined elsewhere); their imports come along.
   */
  readonly files?: ReadonlyArray<DescFile> | undefined
}

/**
 * Everything reflection answers from, built once.
 *
 * @category models
 * @since 0.1.0
 */
export interface Index {
  /** The names `list_services` answers with, in order. */
  readonly services: ReadonlyArray<string>
  /** Files by name (`grpc/health/v1/health.proto`). */
  readonly files: ReadonlyMap<string, DescFile>
  /** The file declaring each fully-qualified symbol. */
  readonly symbols: ReadonlyMap<string, DescFile>
  /** Extensions by extended message type name, then field number. */
  readonly extensions: ReadonlyMap<string, ReadonlyMap<number, DescExtension>>
  /** Fully-qualified names of every message type. */
  readonly messages: ReadonlySet<string>
}

const descriptorOf = (source: ServiceSource): DescService => ("descriptor" in source ? source.descriptor : source)

const fileName = (file: DescFile): string => file.proto.name

/**
 * Indexes the files of `services` and of `files` with all their imports. Every service is
 * listed, in the given order; a name given twice is listed once.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeIndex = (services: Iterable<ServiceSource>, files: Iterable<DescFile> = []): Index => {
  const names: Array<string> = []
  const fileMap = new Map<string, DescFile>()
  const symbols = new Map<string, DescFile>()
  const extensions = new Map<string, Map<number, DescExtension>>()
  const messages = new Set<string>()

  const addExtension = (ext: DescExtension, file: DescFile) => {
    symbols.set(ext.typeName, file)
    let byNumber = extensions.get(ext.extendee.typeName)
    if (byNumber === undefined) extensions.set(ext.extendee.typeName, byNumber = new Map())
    byNumber.set(ext.number, ext)
  }
  const addMessage = (message: DescMessage, file: DescFile) => {
    symbols.set(message.typeName, file)
    messages.add(message.typeName)
    for (const field of message.fields) symbols.set(`${message.typeName}.${field.name}`, file)
    for (const oneof of message.oneofs) symbols.set(`${message.typeName}.${oneof.name}`, file)
    for (const nested of message.nestedMessages) addMessage(nested, file)
    // map entries (`StatusesEntry`) are types of the file too, but protobuf-es keeps them internal
    for (const nested of message.proto.nestedType) {
      const typeName = `${message.typeName}.${nested.name}`
      if (nested.options?.mapEntry !== true || symbols.has(typeName)) continue
      symbols.set(typeName, file)
      messages.add(typeName)
      for (const field of nested.field) symbols.set(`${typeName}.${field.name}`, file)
    }
    for (const nested of message.nestedEnums) addEnum(nested.typeName, nested.values, file)
    for (const ext of message.nestedExtensions) addExtension(ext, file)
  }
  // enum values are scoped as siblings of their enum (`pkg.Enum` declares `pkg.VALUE`)
  const addEnum = (typeName: string, values: ReadonlyArray<{ readonly name: string }>, file: DescFile) => {
    symbols.set(typeName, file)
    const dot = typeName.lastIndexOf(".")
    const scope = dot === -1 ? "" : typeName.slice(0, dot + 1)
    for (const value of values) symbols.set(scope + value.name, file)
  }
  const addFile = (file: DescFile) => {
    if (fileMap.has(fileName(file))) return
    fileMap.set(fileName(file), file)
    for (const message of file.messages) addMessage(message, file)
    for (const e of file.enums) addEnum(e.typeName, e.values, file)
    for (const ext of file.extensions) addExtension(ext, file)
    for (const service of file.services) {
      symbols.set(service.typeName, file)
      for (const method of service.methods) symbols.set(`${service.typeName}.${method.name}`, file)
    }
    for (const dependency of file.dependencies) addFile(dependency)
  }

  for (const source of services) {
    const service = descriptorOf(source)
    if (!names.includes(service.typeName)) names.push(service.typeName)
    addFile(service.file)
  }
  for (const file of files) addFile(file)
  return { services: names, files: fileMap, symbols, extensions, messages }
}

type Request = RequestV1 | RequestV1Alpha

/** A request as echoed in `original_request`: fits both versions' messages. */
interface EchoedRequest {
  readonly host: string
  readonly messageRequest?:
    | { readonly case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; readonly value: string }
    | {
      readonly case: "fileContainingExtension"
      readonly value: { readonly containingType: string; readonly extensionNumber: number }
    }
}

type MessageResponse =
  | { readonly case: "fileDescriptorResponse"; readonly value: { readonly fileDescriptorProto: Array<Uint8Array> } }
  | {
    readonly case: "allExtensionNumbersResponse"
    readonly value: { readonly baseTypeName: string; readonly extensionNumber: Array<number> }
  }
  | { readonly case: "listServicesResponse"; readonly value: { readonly service: Array<{ readonly name: string }> } }
  | { readonly case: "errorResponse"; readonly value: { readonly errorCode: number; readonly errorMessage: string } }

/**
 * A response of either version (a plain init object, valid for both versions' messages).
 *
 * @category models
 * @since 0.1.0
 */
export interface Response {
  readonly validHost: string
  readonly originalRequest: EchoedRequest
  readonly messageResponse: MessageResponse
}

const encodedFiles = new WeakMap<DescFile, Uint8Array>()

/**
 * The serialized FileDescriptorProto of a file (computed once per file).
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeFile = (file: DescFile): Uint8Array => {
  let bytes = encodedFiles.get(file)
  if (bytes === undefined) {
    bytes = toBinary(FileDescriptorProtoSchema, file.proto)
    encodedFiles.set(file, bytes)
  }
  return bytes
}

const errorResponse = (code: Code.Code, message: string): MessageResponse => ({
  case: "errorResponse",
  value: { errorCode: Code.toGrpcNumber(code), errorMessage: message }
})

/**
 * A file and its imports, transitively, breadth first. The file itself is always sent; an
 * import already sent on this stream is left out (the protocol allows it, clients cache them).
 */
const fileResponse = (file: DescFile, sent: Set<string>): MessageResponse => {
  const out: Array<Uint8Array> = [encodeFile(file)]
  sent.add(fileName(file))
  const queue = [...file.dependencies]
  for (let dependency = queue.shift(); dependency !== undefined; dependency = queue.shift()) {
    if (sent.has(fileName(dependency))) continue
    sent.add(fileName(dependency))
    out.push(encodeFile(dependency))
    queue.push(...dependency.dependencies)
  }
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } }
}

/** The request echoed back in `original_request` (rebuilt, so it fits either version). */
const echo = (request: Request): EchoedRequest => {
  const r = request.messageRequest
  switch (r.case) {
    case "fileContainingExtension":
      return {
        host: request.host,
        messageRequest: {
          case: r.case,
          value: { containingType: r.value.containingType, extensionNumber: r.value.extensionNumber }
        }
      }
    case undefined:
      return { host: request.host }
    default:
      return { host: request.host, messageRequest: { case: r.case, value: r.value } }
  }
}

/**
 * Answers one request; `sent` holds the files already sent on this stream.
 *
 * @category handlers
 * @since 0.1.0
 */
export const answer = (index: Index, sent: Set<string>, request: Request): Response => {
  const r = request.messageRequest
  let messageResponse: MessageResponse
  switch (r.case) {
    case "listServices":
      messageResponse = {
        case: "listServicesResponse",
        value: { service: index.services.map((name) => ({ name })) }
      }
      break
    case "fileByFilename": {
      const file = index.files.get(r.value)
      messageResponse = file === undefined
        ? errorResponse("not_found", `file not found: ${r.value}`)
        : fileResponse(file, sent)
      break
    }
    case "fileContainingSymbol": {
      const file = index.symbols.get(r.value.startsWith(".") ? r.value.slice(1) : r.value)
      messageResponse = file === undefined
        ? errorResponse("not_found", `symbol not found: ${r.value}`)
        : fileResponse(file, sent)
      break
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = r.value
      const ext = index.extensions.get(containingType)?.get(extensionNumber)
      messageResponse = ext === undefined
        ? errorResponse("not_found", `extension not found: ${containingType} ${extensionNumber}`)
        : fileResponse(ext.file, sent)
      break
    }
    case "allExtensionNumbersOfType": {
      messageResponse = index.messages.has(r.value)
        ? {
          case: "allExtensionNumbersResponse",
          value: {
            baseTypeName: r.value,
            extensionNumber: [...(index.extensions.get(r.value)?.keys() ?? [])].sort((a, b) => a - b)
          }
        }
        : errorResponse("not_found", `message type not found: ${r.value}`)
      break
    }
    default:
      messageResponse = errorResponse("invalid_argument", "the request sets none of the message_request fields")
  }
  return { validHost: request.host, originalRequest: echo(request), messageResponse }
}

/** `ServerReflectionInfo` over an index: one response per request, in order. */
const serverReflectionInfo = (index: Index) => <E>(requests: Stream.Stream<Request, E>): Stream.Stream<Response, E> =>
  Stream.suspend(() => {
    const sent = new Set<string>()
    return Stream.map(requests, (request) => answer(index, sent, request))
  })

const versionsOf = (options: Options | undefined): ReadonlyArray<Version> => options?.versions ?? ["v1", "v1alpha"]

const descriptorOfVersion: Record<Version, DescService> = {
  v1: ServerReflectionV1Descriptor,
  v1alpha: ServerReflectionV1AlphaDescriptor
}

/**
 * The handlers of both reflection versions over an index.
 *
 * @category handlers
 * @since 0.1.0
 */
export const makeHandlers = (index: Index): {
  readonly v1: ServerReflectionV1Handlers
  readonly v1alpha: ServerReflectionV1AlphaHandlers
} => ({
  v1: { serverReflectionInfo: serverReflectionInfo(index) },
  v1alpha: { serverReflectionInfo: serverReflectionInfo(index) }
})

/**
 * Reflection as a Layer describing `services` (and the reflection services themselves); serve
 * it with `Router.fromServices(..., ServerReflectionV1, ServerReflectionV1Alpha)`.
 * `options.versions` only decides which reflection services are listed.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  services: Iterable<ServiceSource>,
  options?: Options
): Layer.Layer<ServerReflectionV1 | ServerReflectionV1Alpha> => {
  const index = makeIndex(
    [...services, ...versionsOf(options).map((v) => descriptorOfVersion[v])],
    options?.files
  )
  const handlers = makeHandlers(index)
  return Layer.merge(
    ServerReflectionV1.layer(Effect.succeed(handlers.v1)),
    ServerReflectionV1Alpha.layer(Effect.succeed(handlers.v1alpha))
  )
}

/**
 * Adds reflection to a router (or to an effect building one, such as `Router.fromServices(...)`),
 * describing every service of the router and the reflection services added.
 *
 * @category combinators
 * @since 0.1.0
 */
export function add<R>(router: Router.Router<R>, options?: Options): Router.Router<R>
export function add<R, E, R2>(
  router: Effect.Effect<Router.Router<R>, E, R2>,
  options?: Options
): Effect.Effect<Router.Router<R>, E, R2>
export function add(
  router: Router.Router<any> | Effect.Effect<Router.Router<any>, any, any>,
  options?: Options
): Router.Router<any> | Effect.Effect<Router.Router<any>, any, any> {
  const addTo = (r: Router.Router<any>): Router.Router<any> => {
    const versions = versionsOf(options)
    const services: Array<DescService> = []
    for (const route of r.routes.values()) if (!services.includes(route.service)) services.push(route.service)
    for (const v of versions) services.push(descriptorOfVersion[v])
    const handlers = makeHandlers(makeIndex(services, options?.files))
    let out = r
    if (versions.includes("v1")) out = Router.service(out, ServerReflectionV1Descriptor, handlers.v1)
    if (versions.includes("v1alpha")) out = Router.service(out, ServerReflectionV1AlphaDescriptor, handlers.v1alpha)
    return out
  }
  return Effect.isEffect(router) ? Effect.map(router, addTo) : addTo(router)
}

