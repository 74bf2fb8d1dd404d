/**
 * `protoc-gen-connect-effect`: for every proto file with services, emits `<file>_connect.ts`
 * next to the `<file>_pb.ts` of `protoc-gen-es`, with per service
 *
 * - `<Service>Handlers<R>`: the handler functions, typed with `Rpc.*Handler`,
 * - `<Service>`: a `Context.Service` holding the handlers, with `descriptor` and `layer` (served by `Router.fromServices`),
 * - `<Service>Client` (interface): the client calls, typed with `Rpc.*Call`,
 * - `<Name>Client` (tag): the client as an Effect service, with a `layer` over the `Transport` in context.
 *
 * @since 0.1.0
 */
import type { DescFile, DescMethod, DescService } from "@bufbuild/protobuf"
import { createEcmaScriptPlugin, getComments } from "@bufbuild/protoplugin"
import type { GeneratedFile, Printable, Schema } from "@bufbuild/protoplugin"
import { ImportManager } from "./imports.ts"

/**
 * The plugin version printed in the preamble of generated files (keep in sync with package.json).
 *
 * @category constants
 * @since 0.1.0
 */
export const version = "v0.1.0"

/**
 * The names a service's generated declarations are exported under.
 *
 * @category models
 * @since 0.1.0
 */
export interface ServiceNames {
  /** The `Context.Service` class holding the handlers (the service's own name). */
  readonly service: string
  /** The interface of the handlers. */
  readonly handlers: string
  /** The client `Context.Service` class. */
  readonly clientTag: string
  /** The interface of the client calls. */
  readonly clientInterface: string
}

/**
 * Derives the exported names for a service: the client tag replaces a trailing `Service`
 * with `Client` (else appends `Client`); the client interface is `<Service>Client`, or
 * `<Service>ClientShape` when that is the tag's name already. `taken` holds names used by
 * other services of the same file; a clash there falls back to `<Service>Client` for the tag.
 *
 * @category utils
 * @since 0.1.0
 */
export const serviceNames = (service: DescService, taken: ReadonlySet<string> = new Set()): ServiceNames => {
  const name = service.name
  let clientTag = name.endsWith("Service") && name.length > "Service".length
    ? `${name.slice(0, -"Service".length)}Client`
    : `${name}Client`
  if (taken.has(clientTag) || clientTag === name || clientTag === `${name}Handlers`) clientTag = `${name}Client`
  let clientInterface = `${name}Client`
  if (clientInterface === clientTag) clientInterface = `${name}ClientShape`
  const names: ServiceNames = { service: name, handlers: `${name}Handlers`, clientTag, clientInterface }
  const all = [names.service, names.handlers, names.clientTag, names.clientInterface]
  if (new Set(all).size !== all.length || all.some((n) => taken.has(n))) {
    throw new Error(`${service.typeName}: generated names ${all.join(", ")} clash with another service in ${service.file.name}.proto`)
  }
  return names
}

const handlerType: Record<DescMethod["methodKind"], string> = {
  unary: "UnaryHandler",
  server_streaming: "ServerStreamHandler",
  client_streaming: "ClientStreamHandler",
  bidi_streaming: "BidiStreamHandler"
}

const callType: Record<DescMethod["methodKind"], string> = {
  unary: "UnaryCall",
  server_streaming: "ServerStreamCall",
  client_streaming: "ClientStreamCall",
  bidi_streaming: "BidiStreamCall"
}

/** The comments of a descriptor from the proto source, as JSDoc text (one leading space per line removed). */
const sourceComments = (desc: DescService | DescMethod): string => {
  const comments = getComments(desc)
  const parts: Array<string> = []
  for (const c of [comments.leading, comments.trailing]) {
    if (c !== undefined && c.trim().length > 0) parts.push(c.replace(/\n$/, ""))
  }
  return parts
    .join("\n\n")
    .split("\n")
    .map((line) => (line.startsWith(" ") ? line.slice(1) : line))
    .join("\n")
}

/** Joins JSDoc paragraphs, skipping empty ones. */
const paragraphs = (...texts: ReadonlyArray<string>): string => texts.filter((t) => t.length > 0).join("\n\n")

const methodDoc = (method: DescMethod): string =>
  paragraphs(
    sourceComments(method),
    `@generated from rpc ${method.parent.typeName}.${method.name}` + (method.deprecated ? "\n@deprecated" : "")
  )

const isDeprecated = (service: DescService): boolean => service.deprecated || service.file.proto.options?.deprecated === true

/** Generates `<file>_connect.ts` for one proto file. */
const generateFile = (schema: Schema, file: DescFile): void => {
  const fileName = `${file.name}_connect.ts`
  const f: GeneratedFile = schema.generateFile(fileName)
  f.preamble(file)

  // Exported names first: they are the API and win over import identifiers.
  const taken = new Set<string>()
  const names = new Map<DescService, ServiceNames>()
  for (const service of file.services) {
    const n = serviceNames(service, taken)
    names.set(service, n)
    for (const name of Object.values(n)) taken.add(name)
  }
  const imports = new ImportManager(taken)
  const hasMethods = file.services.some((s) => s.methods.length > 0)
  const Context = imports.namespace("Context", "effect/Context", false)
  const Effect = imports.namespace("Effect", "effect/Effect", true)
  const Layer = imports.namespace("Layer", "effect/Layer", false)
  const Scope = imports.namespace("Scope", "effect/Scope", true)
  const Client = imports.namespace("Client", "@connect-effect/core/Client", false)
  const Rpc = hasMethods ? imports.namespace("Rpc", "@connect-effect/core/Rpc", true) : "Rpc"
  const Transport = imports.named("Transport", "@connect-effect/core/Transport", true)
  const descriptors = new Map<DescService, string>()
  for (const service of file.services) {
    const symbol = f.importSchema(service)
    descriptors.set(service, imports.named(symbol.name, symbol.from, false, `${service.name}Descriptor`))
  }
  const schemaOf = (message: DescMethod["input"]): string => {
    const symbol = f.importSchema(message, true)
    return imports.named(symbol.name, symbol.from, true)
  }
  const methodTypes = (method: DescMethod): [string, string] => [schemaOf(method.input), schemaOf(method.output)]

  const body: Array<ReadonlyArray<Printable>> = []
  const line = (...printables: ReadonlyArray<Printable>) => body.push(printables)
  /** A JSDoc block; one-liners stay on one line. */
  const doc = (text: string, indentation = ""): Printable =>
    text.includes("\n") ? f.jsDoc(text, indentation) : `${indentation}/** ${text.split("*/").join("*\\/")} */`

  for (const service of file.services) {
    const n = names.get(service)!
    const descriptor = descriptors.get(service)!
    const deprecated = isDeprecated(service) ? "\n@deprecated" : ""
    const typeName = service.typeName

    line(f.jsDoc(paragraphs(
      sourceComments(service),
      `Handlers of ${typeName}, as Effect values.`,
      `@generated from service ${typeName}${deprecated}`
    )))
    line(`export interface ${n.handlers}<R = never> {`)
    for (const method of service.methods) {
      const [input, output] = methodTypes(method)
      line(f.jsDoc(methodDoc(method), "  "))
      line(`  readonly ${method.localName}: ${Rpc}.${handlerType[method.methodKind]}<typeof ${input}, typeof ${output}, R>;`)
    }
    line(`}`)
    line()

    line(f.jsDoc(paragraphs(
      `The implementation of ${typeName} as an Effect service.\n` +
        `Provide it with \`${n.service}.layer(...)\`; serve it with \`Router.fromServices(${n.service})\`.`,
      `@generated from service ${typeName}${deprecated}`
    )))
    line(`export class ${n.service} extends ${Context}.Service<${n.service}, ${n.handlers}>()(${JSON.stringify(typeName)}) {`)
    line(`  /** The protobuf-es descriptor of the service. */`)
    line(`  static readonly descriptor = ${descriptor};`)
    line(`  /** Builds the implementation from an Effect (its requirements become the layer's). */`)
    line(`  static readonly layer = <E, R>(make: ${Effect}.Effect<${n.handlers}, E, R>): ${Layer}.Layer<${n.service}, E, Exclude<R, ${Scope}.Scope>> =>`)
    line(`    ${Layer}.effect(${n.service}, make);`)
    line(`}`)
    line()

    line(doc(`A typed client of ${typeName}.${deprecated}`))
    line(`export interface ${n.clientInterface} {`)
    for (const method of service.methods) {
      const [input, output] = methodTypes(method)
      line(f.jsDoc(methodDoc(method), "  "))
      line(`  readonly ${method.localName}: ${Rpc}.${callType[method.methodKind]}<typeof ${input}, typeof ${output}>;`)
    }
    line(`}`)
    line()

    line(doc(
      `The ${service.name} client as an Effect service; \`${n.clientTag}.layer\` builds it over the Transport in context.${deprecated}`
    ))
    line(`export class ${n.clientTag} extends ${Context}.Service<${n.clientTag}, ${n.clientInterface}>()(${JSON.stringify(`${typeName}/Client`)}) {`)
    line(`  /** The protobuf-es descriptor of the service. */`)
    line(`  static readonly descriptor = ${descriptor};`)
    line(`  /** Builds the client over the \`Transport\` in context. */`)
    line(`  static readonly layer: ${Layer}.Layer<${n.clientTag}, never, ${Transport}> = ${Layer}.effect(${n.clientTag}, ${Client}.make<${n.clientInterface}>(${descriptor}));`)
    line(`}`)
    line()
  }
  body.pop() // trailing blank line

  for (const statement of imports.render(`./${fileName}`, schema.options)) f.print(statement)
  f.print()
  for (const printables of body) f.print(...printables)
}

/**
 * The protoplugin plugin behind `protoc-gen-connect-effect` (supports the standard protoc-gen-es options).
 *
 * @category plugins
 * @since 0.1.0
 */
export const protocGenConnectEffect = createEcmaScriptPlugin({
  name: "protoc-gen-connect-effect",
  version,
  generateTs(schema) {
    for (const file of schema.files) {
      if (file.services.length > 0) generateFile(schema, file)
    }
  }
})
