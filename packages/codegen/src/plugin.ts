/**
 * `protoc-gen-connect-effect`: for every proto file with services, emits `<file>_connect.ts`
 * next to the `<file>_pb.ts` of `protoc-gen-es`, with per service
 *
 * - `<Service>Handlers<R>`: the handler functions, typed with `Rpc.*Handler`,
 * - `<Service>`: a `Context.Service` holding the handlers, with `descriptor` and `layer` (served by `Router.fromServices`),
 * - `<Service>Client` (interface): the client calls, typed with `Rpc.*Call`,
 * - `<Name>Client` (tag): the client as an Effect service, with a `layer` over the `Transport` in context,
 *
 * and per message marked as a domain error (`option (connecteffect.v1.error) = { code: "…" }`, or the
 * `error=` plugin option) a tagged error class (`DomainError.Class`), which the methods that declare
 * it (`option (connecteffect.v1.errors) = "…"`, or `method_error=`) carry in their handler's and
 * client call's error type.
 *
 * @since 0.1.0
 */
import type { DescFile, DescMessage, DescMethod, DescService } from "@bufbuild/protobuf"
import { getOption, hasOption, ScalarType } from "@bufbuild/protobuf"
import { createEcmaScriptPlugin, getComments } from "@bufbuild/protoplugin"
import type { GeneratedFile, Printable, Schema } from "@bufbuild/protoplugin"
import { error as errorOption, errors as errorsOption } from "./gen/connecteffect/v1/errors_pb.ts"
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

/**
 * Plugin options beyond protoc-gen-es's: domain errors for protos that cannot carry the options.
 * `error=<message>:<code>[:<reason>[:<domain>]]` marks a message (fully-qualified name) as a domain
 * error; `method_error=<service>.<Method>:<message>` declares it on a method. Both repeat.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options {
  readonly errors: ReadonlyMap<string, ErrorDeclaration>
  readonly methodErrors: ReadonlyMap<string, ReadonlyArray<string>>
}

/**
 * How a domain error message travels: its Connect code and `google.rpc.ErrorInfo` reason and domain
 * (empty: the defaults of `DomainError.Class`).
 *
 * @category models
 * @since 0.1.0
 */
export interface ErrorDeclaration {
  readonly code: string
  readonly reason: string
  readonly domain: string
}

const connectCodes = new Set([
  "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists",
  "permission_denied", "resource_exhausted", "failed_precondition", "aborted", "out_of_range",
  "unimplemented", "internal", "unavailable", "data_loss", "unauthenticated"
])

/**
 * Parses the plugin options of {@link Options}; anything else is an error, as protoplugin requires.
 *
 * @category options
 * @since 0.1.0
 */
export const parseOptions = (raw: ReadonlyArray<{ readonly key: string; readonly value: string }>): Options => {
  const errors = new Map<string, ErrorDeclaration>()
  const methodErrors = new Map<string, Array<string>>()
  for (const { key, value } of raw) {
    const parts = value.split(":")
    switch (key) {
      case "error": {
        const [name = "", code = "", reason = "", domain = ""] = parts
        if (name === "" || !connectCodes.has(code) || parts.length > 4) {
          throw new Error(`option error=${value}: expected error=<message>:<code>[:<reason>[:<domain>]] with a Connect code (not_found, …)`)
        }
        errors.set(name.replace(/^\./, ""), { code, reason, domain })
        break
      }
      case "method_error": {
        const [method = "", name = ""] = parts
        if (method === "" || name === "" || parts.length !== 2) {
          throw new Error(`option method_error=${value}: expected method_error=<service>.<Method>:<message>`)
        }
        const key = method.replace(/^\./, "")
        methodErrors.set(key, [...(methodErrors.get(key) ?? []), name])
        break
      }
      default:
        throw new Error(`unknown option ${key}`)
    }
  }
  return { errors, methodErrors }
}

/** Every message of a file, nested ones included. */
const messagesOf = (file: DescFile): Array<DescMessage> => {
  const out: Array<DescMessage> = []
  const walk = (ms: ReadonlyArray<DescMessage>) => {
    for (const m of ms) {
      out.push(m)
      walk(m.nestedMessages)
    }
  }
  walk(file.messages)
  return out
}

/** The domain error declaration of a message: from its option, else from the plugin options. */
const errorDeclaration = (message: DescMessage, options: Options): ErrorDeclaration | undefined => {
  if (hasOption(message, errorOption)) {
    const o = getOption(message, errorOption)
    if (!connectCodes.has(o.code)) {
      throw new Error(`${message.typeName}: (connecteffect.v1.error).code "${o.code}" is not a Connect code (not_found, already_exists, …)`)
    }
    return { code: o.code, reason: o.reason, domain: o.domain }
  }
  return options.errors.get(message.typeName)
}

/** Resolves a name given in `(connecteffect.v1.errors)` the way protobuf resolves type references. */
const resolveErrorName = (method: DescMethod, name: string, byName: ReadonlyMap<string, DescMessage>): DescMessage => {
  const where = `${method.parent.typeName}.${method.name}`
  if (name.startsWith(".")) {
    const found = byName.get(name.slice(1))
    if (found !== undefined) return found
  } else {
    const scope = method.parent.file.proto.package.split(".").filter((p) => p.length > 0)
    for (let i = scope.length; i >= 0; i--) {
      const found = byName.get([...scope.slice(0, i), name].join("."))
      if (found !== undefined) return found
    }
  }
  throw new Error(`${where}: declared error "${name}" is not a message known to this generation (import its file)`)
}

/** The first field that cannot live on an error instance (the rule of `DomainError.Class`). */
const clashingField = (desc: DescMessage): string | undefined => {
  for (const m of desc.members) {
    if (m.localName === "_tag" || m.localName === "cause") return m.localName
    if (m.localName === "name" || m.localName === "message" || m.localName === "stack") {
      if (!(m.kind === "field" && m.fieldKind === "scalar" && m.scalar === ScalarType.STRING)) return m.localName
    }
  }
  return undefined
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
const sourceComments = (desc: DescService | DescMethod | DescMessage): string => {
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

/** The exported class name of a domain error message: protoc-gen-es's name for its shape. */
const errorClassName = (f: GeneratedFile, message: DescMessage): string => f.importShape(message).name

/** Generates `<file>_connect.ts` for one proto file. */
const generateFile = (schema: Schema<Options>, file: DescFile, byName: ReadonlyMap<string, DescMessage>): void => {
  const fileName = `${file.name}_connect.ts`
  const f: GeneratedFile = schema.generateFile(fileName)
  f.preamble(file)
  const options = schema.options

  // Exported names first: they are the API and win over import identifiers.
  const taken = new Set<string>()
  const errorClasses: Array<[DescMessage, ErrorDeclaration, string]> = []
  for (const message of messagesOf(file)) {
    const declaration = errorDeclaration(message, options)
    if (declaration === undefined) continue
    const clash = clashingField(message)
    if (clash !== undefined) {
      throw new Error(`${message.typeName}: field "${clash}" clashes with a property of Effect errors (_tag, cause; name, message and stack unless strings); rename it to use the message as a domain error`)
    }
    const name = errorClassName(f, message)
    errorClasses.push([message, declaration, name])
    taken.add(name)
  }
  const names = new Map<DescService, ServiceNames>()
  for (const service of file.services) {
    const n = serviceNames(service, taken)
    names.set(service, n)
    for (const name of Object.values(n)) taken.add(name)
  }
  const imports = new ImportManager(taken)
  const hasMethods = file.services.some((s) => s.methods.length > 0)
  const hasServices = file.services.length > 0
  const Context = hasServices ? imports.namespace("Context", "effect/Context", false) : "Context"
  const Effect = hasServices ? imports.namespace("Effect", "effect/Effect", true) : "Effect"
  const Layer = hasServices ? imports.namespace("Layer", "effect/Layer", false) : "Layer"
  const Scope = hasServices ? imports.namespace("Scope", "effect/Scope", true) : "Scope"
  const Client = hasServices ? imports.namespace("Client", "@connect-effect/core/Client", false) : "Client"
  const Router = hasServices ? imports.namespace("Router", "@connect-effect/core/Router", false) : "Router"
  const Rpc = hasMethods ? imports.namespace("Rpc", "@connect-effect/core/Rpc", true) : "Rpc"
  const DomainError = errorClasses.length > 0 ? imports.namespace("DomainError", "@connect-effect/core/DomainError", false) : "DomainError"
  const Transport = hasServices ? imports.named("Transport", "@connect-effect/core/Transport", true) : "Transport"
  const descriptors = new Map<DescService, string>()
  for (const service of file.services) {
    const symbol = f.importSchema(service)
    descriptors.set(service, imports.named(symbol.name, symbol.from, false, `${service.name}Descriptor`))
  }
  const schemaOf = (message: DescMethod["input"], typeOnly = true): string => {
    const symbol = f.importSchema(message, typeOnly)
    return imports.named(symbol.name, symbol.from, typeOnly)
  }
  const methodTypes = (method: DescMethod): [string, string] => [schemaOf(method.input), schemaOf(method.output)]
  /** The domain error classes a method declares, as identifiers usable in this file. */
  const declaredErrors = (method: DescMethod): Array<string> => {
    const declared = [
      ...(hasOption(method, errorsOption) ? getOption(method, errorsOption) : []),
      ...(options.methodErrors.get(`${method.parent.typeName}.${method.name}`) ?? [])
    ]
    const out: Array<string> = []
    for (const name of declared) {
      const message = resolveErrorName(method, name, byName)
      if (errorDeclaration(message, options) === undefined) {
        throw new Error(`${method.parent.typeName}.${method.name}: declared error ${message.typeName} is not marked as an error (option (connecteffect.v1.error) or error=)`)
      }
      const className = errorClassName(f, message)
      const id = message.file === file ? className : imports.named(className, `./${message.file.name}_connect.js`, false)
      if (!out.includes(id)) out.push(id)
    }
    return out
  }

  const body: Array<ReadonlyArray<Printable>> = []
  const line = (...printables: ReadonlyArray<Printable>) => body.push(printables)
  /** A JSDoc block; one-liners stay on one line. */
  const doc = (text: string, indentation = ""): Printable =>
    text.includes("\n") ? f.jsDoc(text, indentation) : `${indentation}/** ${text.split("*/").join("*\\/")} */`

  for (const [message, declaration, name] of errorClasses) {
    const info = [`code: ${JSON.stringify(declaration.code)}`]
    if (declaration.reason !== "") info.push(`reason: ${JSON.stringify(declaration.reason)}`)
    if (declaration.domain !== "") info.push(`domain: ${JSON.stringify(declaration.domain)}`)
    line(f.jsDoc(paragraphs(
      sourceComments(message),
      `A domain error: a handler fails with it (\`yield* new ${name}({ … })\`), the server sends it as a ` +
        `\`${declaration.code}\` error with the message as a detail and a \`google.rpc.ErrorInfo\`, ` +
        `and clients of a method that declares it catch it by its tag (\`Effect.catchTag(${JSON.stringify(name)}, …)\`).`,
      `@generated from message ${message.typeName}` + (message.deprecated ? "\n@deprecated" : "")
    )))
    line(
      `export class ${name} extends ${DomainError}.Class(${JSON.stringify(name)}, ${schemaOf(message, false)}, { ${info.join(", ")} }) {}`
    )
    line()
  }

  for (const service of file.services) {
    const n = names.get(service)!
    const descriptor = descriptors.get(service)!
    const deprecated = isDeprecated(service) ? "\n@deprecated" : ""
    const typeName = service.typeName
    const errors = new Map(service.methods.map((m) => [m, declaredErrors(m)] as const))
    const errorType = (method: DescMethod): string => {
      const e = errors.get(method)!
      return e.length === 0 ? "" : `, ${e.join(" | ")}`
    }
    const withErrors = service.methods.filter((m) => errors.get(m)!.length > 0)

    line(f.jsDoc(paragraphs(
      sourceComments(service),
      `Handlers of ${typeName}, as Effect values (they may require \`R\`).`,
      `@generated from service ${typeName}${deprecated}`
    )))
    line(`export interface ${n.handlers}<R = never> {`)
    for (const method of service.methods) {
      const [input, output] = methodTypes(method)
      line(f.jsDoc(methodDoc(method), "  "))
      line(`  readonly ${method.localName}: ${Rpc}.${handlerType[method.methodKind]}<typeof ${input}, typeof ${output}, R${errorType(method)}>;`)
    }
    line(`}`)
    line()

    line(f.jsDoc(paragraphs(
      `The implementation of ${typeName} as an Effect service.\n` +
        `Provide it with \`${n.service}.layer(...)\`; serve it with \`Router.fromServices(${n.service})\`, ` +
        `or pass \`${n.service}\` and handlers to \`Router.service\`.`,
      `@generated from service ${typeName}${deprecated}`
    )))
    line(`export class ${n.service} extends ${Context}.Service<${n.service}, ${n.handlers}>()(${JSON.stringify(typeName)}) {`)
    line(`  /** The protobuf-es descriptor of the service. */`)
    line(`  static readonly descriptor = ${descriptor};`)
    if (withErrors.length > 0) {
      line(`  /** The domain errors each method declares. */`)
      line(`  static readonly errors = {`)
      for (const method of withErrors) line(`    ${method.localName}: [${errors.get(method)!.join(", ")}],`)
      line(`  } as const;`)
    }
    line(`  /**`)
    line(`   * Builds the implementation from an Effect. Its requirements become the layer's, and so do the`)
    line(`   * services the handlers require (\`RH\`): the layer captures them when it is built and provides`)
    line(`   * them to every call.`)
    line(`   */`)
    line(`  static readonly layer = <E, R, RH = never>(make: ${Effect}.Effect<${n.handlers}<RH>, E, R>): ${Layer}.Layer<${n.service}, E, Exclude<R, ${Scope}.Scope> | RH> =>`)
    line(`    ${Layer}.effect(${n.service}, ${Router}.captureContext<${n.handlers}, RH, E, R>(make));`)
    line(`}`)
    line()

    line(doc(`A typed client of ${typeName}.${deprecated}`))
    line(`export interface ${n.clientInterface} {`)
    for (const method of service.methods) {
      const [input, output] = methodTypes(method)
      line(f.jsDoc(methodDoc(method), "  "))
      line(`  readonly ${method.localName}: ${Rpc}.${callType[method.methodKind]}<typeof ${input}, typeof ${output}${errorType(method)}>;`)
    }
    line(`}`)
    line()

    const clientService = withErrors.length > 0 ? n.service : descriptor
    line(doc(
      `The ${service.name} client as an Effect service; \`${n.clientTag}.layer\` builds it over the Transport in context.${deprecated}`
    ))
    line(`export class ${n.clientTag} extends ${Context}.Service<${n.clientTag}, ${n.clientInterface}>()(${JSON.stringify(`${typeName}/Client`)}) {`)
    line(`  /** The protobuf-es descriptor of the service. */`)
    line(`  static readonly descriptor = ${descriptor};`)
    line(`  /** Builds the client over the \`Transport\` in context. */`)
    line(`  static readonly layer: ${Layer}.Layer<${n.clientTag}, never, ${Transport}> = ${Layer}.effect(${n.clientTag}, ${Client}.make<${n.clientInterface}>(${clientService}));`)
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
  parseOptions,
  generateTs(schema) {
    const byName = new Map<string, DescMessage>()
    for (const file of schema.allFiles) for (const message of messagesOf(file)) byName.set(message.typeName, message)
    for (const file of schema.files) {
      if (file.services.length > 0 || messagesOf(file).some((m) => errorDeclaration(m, schema.options) !== undefined)) {
        generateFile(schema, file, byName)
      }
    }
  }
})
