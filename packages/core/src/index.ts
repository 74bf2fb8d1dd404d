/**
 * connect-effect core: the Connect, gRPC and gRPC-Web protocols on Effect, with no platform
 * dependencies. Every module is also importable on its own (`@connect-effect/core/Router`).
 *
 * @since 0.1.0
 */

/** The 16 Connect codes, their HTTP statuses and gRPC numbers. */
export * as Code from "./Code.ts"
/** Typed Connect errors with metadata and details. */
export * as ConnectError from "./ConnectError.ts"
export * as ConnectErrorSchema from "./ConnectErrorSchema.ts"
/** Typed domain errors: protobuf messages a method declares it may fail with, as tagged Effect errors. */
export * as DomainError from "./DomainError.ts"
/** Options of a single call (headers, timeout, header/trailer callbacks). */
export * as CallOptions from "./CallOptions.ts"
/** Binary proto and JSON codecs. */
export * as Codec from "./Codec.ts"
/** Compression algorithms and their negotiation. */
export * as Compression from "./Compression.ts"
/** gzip, br and zstd on any module shaped like `node:zlib`. */
export * as ZlibCompression from "./ZlibCompression.ts"
/** Length-prefixed message framing. */
export * as Envelope from "./Envelope.ts"
/** The HTTP seam between the protocols and a runtime. */
export * as Http from "./Http.ts"
/** Handler and call types of the four RPC kinds. */
export * as Rpc from "./Rpc.ts"
/** The current call (headers, trailers, deadline) inside a handler. */
export * as HandlerContext from "./HandlerContext.ts"
/** Server and client interceptors. */
export * as Interceptor from "./Interceptor.ts"
/** Routing services to handlers; the HTTP handler a platform serves. */
export * as Router from "./Router.ts"
/** The Connect protocol. */
export * as ProtocolConnect from "./ProtocolConnect.ts"
/** The gRPC and gRPC-Web protocols. */
export * as ProtocolGrpc from "./ProtocolGrpc.ts"
/** Clients of services (generated clients build on it). */
export * as Client from "./Client.ts"
/** The protocol-level client transport: the service, and layers for each protocol over any HTTP client. */
export * as Transport from "./Transport.ts"
/** Serving a router as a web-standard fetch handler. */
export * as FetchHandler from "./adapters/FetchHandler.ts"
/** An HTTP transport over `fetch`. */
export * as FetchHttpClient from "./adapters/FetchHttpClient.ts"
/** Server and client in one process, for tests. */
export * as MemoryTransport from "./adapters/MemoryTransport.ts"
/** RPC routes inside an effect/http app. */
export * as HttpApp from "./adapters/HttpApp.ts"
/** CORS for browser clients. */
export * as Cors from "./extensions/Cors.ts"
/** grpc.health.v1 health checking. */
export * as Health from "./extensions/Health.ts"
/** gRPC server reflection (v1 and v1alpha). */
export * as Reflection from "./extensions/Reflection.ts"
/** Client retries with an Effect Schedule. */
export * as Retry from "./extensions/Retry.ts"
/** OpenTelemetry-style spans and trace propagation. */
export * as Telemetry from "./extensions/Telemetry.ts"
/** RPC call counts and durations with Effect's Metric. */
export * as Metrics from "./extensions/Metrics.ts"
