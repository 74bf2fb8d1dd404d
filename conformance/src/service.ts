/**
 * The ConformanceService implementation, written as connect-effect handlers: it answers the
 * way each request's response definition says and echoes what it received.
 */
import { create, createRegistry, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf"
import { anyPack, type Any } from "@bufbuild/protobuf/wkt"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Code from "@connect-effect/core/Code"
import * as ConnectError from "@connect-effect/core/ConnectError"
import type { HandlerContext } from "@connect-effect/core/HandlerContext"
import type { Handlers } from "@connect-effect/core/Rpc"
import {
  BidiStreamRequestSchema,
  ClientStreamRequestSchema,
  ConformancePayload_ConnectGetInfoSchema,
  ConformancePayload_RequestInfoSchema,
  ConformancePayloadSchema,
  ConformanceService,
  IdempotentUnaryRequestSchema,
  ServerStreamRequestSchema,
  UnaryRequestSchema,
  UnimplementedRequestSchema,
  type ConformancePayload,
  type ConformancePayload_RequestInfo,
  type Error as ErrorDefinition,
  type Header,
  type StreamResponseDefinition,
  type UnaryResponseDefinition
} from "../gen/connectrpc/conformance/v1/service_pb.ts"

/** Registry used by the JSON codec to print and parse the `Any` values of RequestInfo. */
export const registry = createRegistry(
  UnaryRequestSchema,
  IdempotentUnaryRequestSchema,
  ServerStreamRequestSchema,
  ClientStreamRequestSchema,
  BidiStreamRequestSchema,
  UnimplementedRequestSchema,
  ConformancePayload_RequestInfoSchema
)

const headersToProto = (headers: Headers): Array<Header> => {
  const out: Array<Header> = []
  headers.forEach((value, name) => {
    out.push({ $typeName: "connectrpc.conformance.v1.Header", name, value: value.split(", ") })
  })
  return out
}

const setHeaders = (target: Headers, headers: ReadonlyArray<Header>) => {
  for (const h of headers) for (const v of h.value) target.append(h.name, v)
}

const requestInfo = (
  ctx: HandlerContext,
  requests: ReadonlyArray<Any>
): ConformancePayload_RequestInfo => {
  const timeout = ctx.timeRemaining()
  let connectGetInfo
  if (ctx.httpMethod === "GET") {
    const url = new URL(ctx.url, "http://localhost")
    const queryParams: Array<Header> = []
    url.searchParams.forEach((value, name) => {
      queryParams.push({ $typeName: "connectrpc.conformance.v1.Header", name, value: [value] })
    })
    connectGetInfo = create(ConformancePayload_ConnectGetInfoSchema, { queryParams })
  }
  return create(ConformancePayload_RequestInfoSchema, {
    requestHeaders: headersToProto(ctx.requestHeaders),
    ...(timeout !== undefined ? { timeoutMs: BigInt(Math.round(timeout)) } : {}),
    requests: [...requests],
    ...(connectGetInfo !== undefined ? { connectGetInfo } : {})
  })
}

const pack = <D extends DescMessage>(schema: D, message: MessageShape<D>): Any => anyPack(schema, message)

const toError = (
  definition: ErrorDefinition,
  info: ConformancePayload_RequestInfo | undefined
): ConnectError.ConnectError => {
  const details: Array<ConnectError.ErrorDetail> = definition.details.map((d) => ({
    type: d.typeUrl.slice(d.typeUrl.lastIndexOf("/") + 1),
    value: d.value
  }))
  if (info !== undefined) {
    details.push({ type: ConformancePayload_RequestInfoSchema.typeName, value: toBinary(ConformancePayload_RequestInfoSchema, info) })
  }
  return ConnectError.make(Code.fromGrpcNumber(definition.code) ?? "unknown", definition.message ?? "", { details })
}

const payload = (data: Uint8Array, info: ConformancePayload_RequestInfo | undefined): ConformancePayload =>
  create(ConformancePayloadSchema, { data, ...(info !== undefined ? { requestInfo: info } : {}) })

/** Answers a unary-shaped call (unary, idempotent unary, client stream). */
const respondUnary = (
  definition: UnaryResponseDefinition | undefined,
  ctx: HandlerContext,
  requests: ReadonlyArray<Any>
) =>
  Effect.suspend(() => {
    const info = requestInfo(ctx, requests)
    if (definition === undefined) return Effect.succeed({ payload: payload(new Uint8Array(0), info) })
    setHeaders(ctx.responseHeaders, definition.responseHeaders)
    setHeaders(ctx.responseTrailers, definition.responseTrailers)
    const respond = Effect.suspend(() => {
      switch (definition.response.case) {
        case "error":
          return Effect.fail(toError(definition.response.value, info))
        case "responseData":
          return Effect.succeed({ payload: payload(definition.response.value, info) })
        default:
          return Effect.succeed({ payload: payload(new Uint8Array(0), info) })
      }
    })
    return definition.responseDelayMs > 0
      ? Effect.andThen(Effect.sleep(definition.responseDelayMs), respond)
      : respond
  })

type Out = { readonly payload: ConformancePayload }

/** Streams responses `from` onwards with their delays, then the definition's error. `info` goes on message 0. */
const respondStream = (
  definition: StreamResponseDefinition,
  info: ConformancePayload_RequestInfo,
  from: number,
  sentBefore: number
): Stream.Stream<Out, ConnectError.ConnectError> => {
  const datas = definition.responseData.slice(from)
  const messages = Stream.fromIterable(
    datas.map((data, i): Out => ({ payload: payload(data, i === 0 && from === 0 ? info : undefined) }))
  )
  const delayed = definition.responseDelayMs > 0
    ? Stream.mapEffect(messages, (m) => Effect.as(Effect.sleep(definition.responseDelayMs), m))
    : messages
  const error = definition.error
  if (error === undefined) return delayed
  const sentAny = sentBefore + datas.length > 0
  return Stream.concat(delayed, Stream.fail(toError(error, sentAny ? undefined : info)))
}

/** The handlers of connectrpc.conformance.v1.ConformanceService. */
export const handlers: Handlers<typeof ConformanceService> = {
  unary: (request, ctx) => respondUnary(request.responseDefinition, ctx, [pack(UnaryRequestSchema, request)]),
  idempotentUnary: (request, ctx) =>
    respondUnary(request.responseDefinition, ctx, [pack(IdempotentUnaryRequestSchema, request)]),
  unimplemented: () =>
    Effect.fail(
      ConnectError.make("unimplemented", "connectrpc.conformance.v1.ConformanceService.Unimplemented is not implemented")
    ),
  serverStream: (request, ctx) =>
    Stream.unwrap(Effect.sync(() => {
      const info = requestInfo(ctx, [pack(ServerStreamRequestSchema, request)])
      const definition = request.responseDefinition
      if (definition === undefined) return Stream.empty
      setHeaders(ctx.responseHeaders, definition.responseHeaders)
      setHeaders(ctx.responseTrailers, definition.responseTrailers)
      return respondStream(definition, info, 0, 0)
    })),
  clientStream: (requests, ctx) =>
    Effect.flatMap(Stream.runCollect(requests), (all) =>
      respondUnary(all[0]?.responseDefinition, ctx, all.map((r) => pack(ClientStreamRequestSchema, r)))),
  bidiStream: (requests, ctx) =>
    Stream.unwrap(Effect.sync(() => {
      let definition: StreamResponseDefinition | undefined
      let fullDuplex = false
      let first = true
      let sent = 0
      let pending: Array<Any> = []
      const all: Array<Any> = []
      const onRequest = (request: MessageShape<typeof BidiStreamRequestSchema>) => {
        const packed = pack(BidiStreamRequestSchema, request)
        all.push(packed)
        pending.push(packed)
        if (first) {
          first = false
          definition = request.responseDefinition
          fullDuplex = request.fullDuplex
          if (definition !== undefined) {
            setHeaders(ctx.responseHeaders, definition.responseHeaders)
            setHeaders(ctx.responseTrailers, definition.responseTrailers)
          }
        }
      }
      // Full duplex: one response per request while responses remain.
      const duplex = requests.pipe(
        Stream.mapEffect((request) => {
          onRequest(request)
          if (!fullDuplex || definition === undefined || sent >= definition.responseData.length) {
            return Effect.succeed<ReadonlyArray<Out>>([])
          }
          const info = requestInfo(ctx, pending)
          pending = []
          const data = definition.responseData[sent]!
          sent++
          const message: Out = { payload: payload(data, info) }
          return definition.responseDelayMs > 0
            ? Effect.as(Effect.sleep(definition.responseDelayMs), [message])
            : Effect.succeed([message])
        }),
        // once every response is out, stop reading: the client waits for the end of the stream
        Stream.takeUntil(() => fullDuplex && (definition === undefined || sent >= definition.responseData.length)),
        Stream.flattenIterable
      )
      const rest = Stream.suspend((): Stream.Stream<Out, ConnectError.ConnectError> => {
        if (definition === undefined) return Stream.empty
        if (fullDuplex) return respondStream(definition, requestInfo(ctx, pending), sent, sent)
        return respondStream(definition, requestInfo(ctx, all), 0, 0)
      })
      return Stream.concat(duplex, rest)
    }))
}
