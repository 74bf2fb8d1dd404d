/**
 * The conformance client under test: reads ClientCompatRequests from stdin until EOF, runs
 * each as a real RPC with the connect-effect Connect client on Node, and writes one
 * ClientCompatResponse per request.
 */
import { create, fromBinary, toBinary, type DescMethod } from "@bufbuild/protobuf"
import { anyUnpack } from "@bufbuild/protobuf/wkt"
import * as Deferred from "effect/Deferred"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Context from "effect/Context"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Code from "@connect-effect/core/Code"
import * as Codec from "@connect-effect/core/Codec"
import * as ConnectError from "@connect-effect/core/ConnectError"
import { HttpClient } from "@connect-effect/core/Http"
import * as ProtocolConnect from "@connect-effect/core/ProtocolConnect"
import * as ProtocolGrpc from "@connect-effect/core/ProtocolGrpc"
import * as NodeCompression from "@connect-effect/platform-node/NodeCompression"
import * as NodeHttpClient from "@connect-effect/platform-node/NodeHttpClient"
import * as BunTransport from "@connect-effect/platform-bun/BunTransport"
import * as FetchHttpClient from "@connect-effect/core/FetchHttpClient"
import {
  ClientCompatRequestSchema,
  ClientCompatResponseSchema,
  ClientResponseResultSchema,
  type ClientCompatRequest
} from "../gen/connectrpc/conformance/v1/client_compat_pb.ts"
import { Code as CodeEnum, Codec as CodecEnum, Protocol, Compression as CompressionEnum, HTTPVersion, StreamType } from "../gen/connectrpc/conformance/v1/config_pb.ts"
import {
  ConformancePayloadSchema,
  ConformanceService,
  ErrorSchema,
  type ConformancePayload,
  type Header
} from "../gen/connectrpc/conformance/v1/service_pb.ts"
import { registry } from "./service.ts"
import { flushWrites, readMessages, writeMessage } from "./stdio.ts"

/**
 * True when this program calls with Bun's fetch: on Bun, unless `--impl=node` (`bin/client --runtime
 * bun-node`) asks for the Node transports (node:http / node:http2) under Bun.
 */
const isBun = (globalThis as { Bun?: unknown }).Bun !== undefined && !process.argv.includes("--impl=node")

/** The part of Deno's API used here (`Deno.createHttpClient`; no Deno types in this repo). */
interface DenoFetch {
  createHttpClient(options: {
    caCerts?: Array<string>
    cert?: string
    key?: string
    http1?: boolean
    http2?: boolean
  }): { close(): void }
}

/** Deno's namespace when this program runs on Deno. */
const deno = (globalThis as { Deno?: DenoFetch }).Deno

const headersToProto = (headers: Headers | undefined): Array<Header> => {
  const out: Array<Header> = []
  headers?.forEach((value, name) => {
    out.push({ $typeName: "connectrpc.conformance.v1.Header", name, value: value.split(", ") })
  })
  return out
}

const errorToProto = (error: ConnectError.ConnectError) =>
  create(ErrorSchema, {
    code: Code.toGrpcNumber(error.code) as CodeEnum,
    message: error.message,
    details: (error.details ?? []).map((d) => ({ typeUrl: `type.googleapis.com/${d.type}`, value: d.value }))
  })

const compressionName = (c: CompressionEnum): string | undefined => {
  switch (c) {
    case CompressionEnum.GZIP:
      return "gzip"
    case CompressionEnum.BR:
      return "br"
    case CompressionEnum.ZSTD:
      return "zstd"
    default:
      return undefined
  }
}

const jsonCodec = Codec.json({ registry })

/** A marker failure for the test's own cancellation. */
const canceled = () => ConnectError.make("canceled", "canceled by the client")

/** HTTP transports, one per HTTP version and TLS setup, built on first use and kept for the run. */
class Transports {
  private readonly cache = new Map<string, Promise<HttpClient["Service"]>>()
  private readonly scope: Scope.Closeable
  constructor(scope: Scope.Closeable) {
    this.scope = scope
  }
  get(request: ClientCompatRequest): Promise<HttpClient["Service"]> {
    const http2 = request.httpVersion === HTTPVersion.HTTP_VERSION_2
    const ca = request.serverTlsCert
    const creds = request.clientTlsCreds
    const key = `${http2 ? 2 : 1}|${Buffer.from(ca).toString("base64")}|${
      creds === undefined ? "" : Buffer.from(creds.cert).toString("base64")
    }`
    let found = this.cache.get(key)
    if (found === undefined) {
      const tls = ca.length === 0 ? undefined : {
        ca: Buffer.from(ca),
        ...(creds !== undefined ? { cert: Buffer.from(creds.cert), key: Buffer.from(creds.key) } : {})
      }
      const layer = deno !== undefined
        // Deno: its fetch, through a Deno.HttpClient (passed as `client` in the fetch init) that
        // trusts the runner's CA, presents the client certificate and speaks only the asked-for
        // HTTP version. (FetchHttpClient knows that Deno's fetch decodes gzip and br, not zstd.)
        ? FetchHttpClient.layer({ init: { client: this.denoClient(deno, http2, tls) } as RequestInit })
        : isBun
        // Bun: its fetch (HTTP/1.1, TLS options as Bun's `tls` init field)
        ? BunTransport.layerHttp(tls !== undefined ? { tls } : {})
        : http2
        ? NodeHttpClient.layerHttp2(tls !== undefined ? { tls } : {})
        : NodeHttpClient.layerHttp1(tls !== undefined ? { tls } : {})
      found = Effect.runPromise(Layer.buildWithScope(layer, this.scope)).then((ctx) => Context.get(ctx, HttpClient))
      this.cache.set(key, found)
    }
    return found
  }
  private denoClient(
    deno: DenoFetch,
    http2: boolean,
    tls: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer } | undefined
  ) {
    const client = deno.createHttpClient({
      http1: !http2,
      http2,
      ...(tls !== undefined ? { caCerts: [tls.ca.toString()] } : {}),
      ...(tls?.cert !== undefined && tls.key !== undefined ? { cert: tls.cert.toString(), key: tls.key.toString() } : {})
    })
    Effect.runSync(Scope.addFinalizer(this.scope, Effect.sync(() => client.close())))
    return client
  }
}

const runCase = (request: ClientCompatRequest, http: HttpClient["Service"]) =>
  Effect.suspend(() => {
    const method: DescMethod | undefined = ConformanceService.methods.find((m) => m.name === request.method)
    if (method === undefined) return Effect.fail(`unknown method ${request.method}`)
    const sendCompressionName = compressionName(request.compression)
    const config: ProtocolConnect.ClientConfig = {
      baseUrl: `${request.serverTlsCert.length > 0 ? "https" : "http"}://${request.host}:${request.port}`,
      codec: request.codec === CodecEnum.JSON ? jsonCodec : Codec.proto,
      useHttpGet: request.useGetHttpMethod,
      compressions: NodeCompression.all,
      sendCompression: NodeCompression.all.find((c) => c.name === sendCompressionName),
      compressMinBytes: 0,
      readMaxBytes: request.messageReceiveLimit > 0 ? request.messageReceiveLimit : 4 * 1024 * 1024,
      writeMaxBytes: Infinity,
      interceptors: [],
      timeoutMs: undefined
    }
    const transport = request.protocol === Protocol.GRPC
      ? ProtocolGrpc.makeTransport(http, config, false)
      : request.protocol === Protocol.GRPC_WEB
      ? ProtocolGrpc.makeTransport(http, config, true)
      : ProtocolConnect.makeTransport(http, config)
    const headers = new Headers()
    for (const h of request.requestHeaders) for (const v of h.value) headers.append(h.name, v)
    const messages = request.requestMessages.map((any) => {
      const m = anyUnpack(any, registry)
      if (m === undefined) throw new Error(`cannot unpack ${any.typeUrl}`)
      return m
    })
    let responseHeaders: Headers | undefined
    let responseTrailers: Headers | undefined
    const options = {
      headers,
      ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
      onHeaders: (h: Headers) => {
        responseHeaders = h
      },
      onTrailers: (t: Headers) => {
        responseTrailers = t
      }
    }
    const payloads: Array<ConformancePayload> = []
    const collect = (m: unknown) => {
      payloads.push((m as { payload?: ConformancePayload }).payload ?? create(ConformancePayloadSchema))
    }
    const cancel = request.cancel?.cancelTiming
    const cancelRequested = request.cancel !== undefined
    let sent = 0
    const delay = request.requestDelayMs

    const program = Effect.gen(function*() {
      const trigger = yield* Deferred.make<void>()
      const closed = yield* Deferred.make<void>()
      const fire = Deferred.succeed(trigger, undefined)
      const requestStream = (lockStep: Queue.Queue<boolean> | undefined) => {
        let base: Stream.Stream<unknown> = Stream.fromIterable(messages).pipe(
          Stream.mapEffect((m, i) =>
            Effect.gen(function*() {
              if (lockStep !== undefined && i > 0) {
                const more = yield* Queue.take(lockStep)
                if (!more) return undefined
              }
              if (delay > 0) yield* Effect.sleep(delay)
              return m
            })
          ),
          Stream.takeWhile((m) => m !== undefined),
          Stream.tap(() => Effect.sync(() => sent++))
        )
        if (lockStep !== undefined) {
          // full duplex: read the response to the last request before closing (or canceling)
          base = Stream.concat(base, Stream.unwrap(Effect.as(Queue.take(lockStep), Stream.empty)))
        }
        if (cancel?.case === "beforeCloseSend") {
          return Stream.concat(base, Stream.unwrap(Effect.as(fire, Stream.never)))
        }
        base = Stream.concat(base, Stream.unwrap(Effect.as(Deferred.succeed(closed, undefined), Stream.empty)))
        return base
      }
      // when the cancellation should fire
      let cancelAfter: Effect.Effect<void> = Effect.never
      if (cancelRequested) {
        if (cancel?.case === "afterCloseSendMs" || cancel?.case === undefined) {
          const ms = cancel?.case === "afterCloseSendMs" ? cancel.value : 0
          const streamingRequest = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming"
          cancelAfter = Effect.andThen(streamingRequest ? Deferred.await(closed) : Effect.void, Effect.sleep(ms))
        } else if (cancel.case === "beforeCloseSend") {
          cancelAfter = Deferred.await(trigger)
        } else if (cancel.case === "afterNumResponses") {
          cancelAfter = Deferred.await(trigger)
        }
      }
      const afterNum = cancel?.case === "afterNumResponses" ? cancel.value : undefined
      const onResponse = (m: unknown) =>
        Effect.suspend(() => {
          collect(m)
          if (afterNum !== undefined && payloads.length >= afterNum) return fire
          return Effect.void
        })
      let call: Effect.Effect<void, ConnectError.ConnectError>
      switch (method.methodKind) {
        case "unary":
          call = Effect.flatMap(transport.unary(method, messages[0], options), (m) => {
            sent = 1
            return onResponse(m)
          })
          break
        case "server_streaming":
          sent = 1
          call = Stream.runForEach(transport.stream(method, Stream.make(messages[0]), options), onResponse)
          break
        case "client_streaming":
          call = Effect.flatMap(
            Stream.runCollect(transport.stream(method, requestStream(undefined), options)),
            (all) =>
              all.length === 1
                ? onResponse(all[0])
                : Effect.fail(ConnectError.make("unimplemented", `expected one response message, got ${all.length}`))
          )
          break
        case "bidi_streaming": {
          const fullDuplex = request.streamType === StreamType.FULL_DUPLEX_BIDI_STREAM
          if (fullDuplex) {
            const lock = yield* Queue.unbounded<boolean>()
            call = Stream.runForEach(
              transport.stream(method, requestStream(lock), options),
              (m) => Effect.andThen(onResponse(m), Queue.offer(lock, true))
            ).pipe(Effect.ensuring(Queue.offer(lock, false)))
          } else {
            call = Stream.runForEach(transport.stream(method, requestStream(undefined), options), onResponse)
          }
          break
        }
      }
      const raced = cancelRequested
        ? Effect.raceFirst(call, Effect.andThen(cancelAfter, Effect.fail(canceled())))
        : call
      return yield* Effect.matchEffect(raced, {
        onSuccess: () => Effect.succeed(undefined),
        onFailure: (e) => Effect.succeed(e)
      })
    })
    return Effect.map(program, (error) =>
      create(ClientCompatResponseSchema, {
        testName: request.testName,
        result: {
          case: "response",
          value: create(ClientResponseResultSchema, {
            responseHeaders: headersToProto(responseHeaders ?? error?.metadata),
            payloads,
            ...(error !== undefined ? { error: errorToProto(error) } : {}),
            responseTrailers: headersToProto(responseTrailers),
            numUnsentRequests: Math.max(0, messages.length - sent)
          })
        }
      }))
  })

const main = async () => {
  const scope = Effect.runSync(Scope.make())
  const transports = new Transports(scope)
  const inflight = new Set<Promise<void>>()
  // bounded concurrency: thousands of cases arrive at once, and a case's deadline starts when its
  // call starts, not while it waits behind others for an HTTP/2 stream slot
  const semaphore = Semaphore.makeUnsafe(48)
  for await (const bytes of readMessages()) {
    const request = fromBinary(ClientCompatRequestSchema, bytes)
    const p: Promise<void> = Effect.runPromise(
      Effect.catchCause(Semaphore.withPermit(semaphore, Effect.flatMap(Effect.promise(() => transports.get(request)), (http) => runCase(request, http))), (cause) =>
        Effect.succeed(create(ClientCompatResponseSchema, {
          testName: request.testName,
          result: { case: "error", value: { message: String(cause) } }
        })))
    ).then((response) => writeMessage(toBinary(ClientCompatResponseSchema, response)))
    inflight.add(p)
    void p.finally(() => inflight.delete(p))
  }
  await Promise.all(inflight)
  await flushWrites()
  await Effect.runPromise(Scope.close(scope, Exit.void))
  process.exit(0)
}

process.on("SIGTERM", () => process.exit(0))
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
