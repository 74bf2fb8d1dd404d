/**
 * The gRPC and gRPC-Web protocols, server and client side. Both frame every message in an
 * envelope; gRPC ends with HTTP/2 trailers (`grpc-status`, `grpc-message`,
 * `grpc-status-details-bin`), gRPC-Web with a trailer frame (flag 0x80) in the body, so it also
 * works over HTTP/1.1. A failure before any message is answered "trailers-only": the status in
 * the response headers and no body.
 *
 * The implementation lives in `protocol-grpc/` (wire format, server, client); this module is its
 * public face.
 *
 * @since 0.1.0
 */
import type { HttpClient } from "./Http.ts"
import type { ClientConfig } from "./protocol/client.ts"
import { make, type TransportShape } from "./Transport.ts"

export type { ClientConfig }
export { errorFromTrailers } from "./protocol-grpc/client.ts"
export { serve } from "./protocol-grpc/server.ts"
export {
  type ContentType,
  decodeBinaryHeader,
  decodeMessageHeader,
  encodeBinaryHeader,
  encodeMessageHeader,
  formatTimeout,
  parseContentType,
  parseTimeout,
  statusTrailers,
  trailersFromWebFrame,
  trailersToWebFrame
} from "./protocol-grpc/wire.ts"

/**
 * Builds a gRPC (`web: false`) or gRPC-Web (`web: true`) `Transport` over an `HttpClient`
 * (`Transport.make("grpc" | "grpc-web", …)`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeTransport = (http: HttpClient["Service"], config: ClientConfig, web: boolean): TransportShape =>
  make(web ? "grpc-web" : "grpc", http, config)
