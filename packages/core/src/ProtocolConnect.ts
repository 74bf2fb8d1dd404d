/**
 * The Connect protocol (https://connectrpc.com/docs/protocol), server and client side:
 * unary POST and GET, streaming with envelopes and the end-stream message, error JSON,
 * `trailer-` prefixed unary trailers, timeouts and compression negotiation.
 *
 * The implementation lives in `protocol-connect/` (wire format, server, client); this module is
 * its public face.
 *
 * @since 0.1.0
 */
import type { HttpClient } from "./Http.ts"
import type { ClientConfig } from "./protocol/client.ts"
import { make, type TransportShape } from "./Transport.ts"

export type { ClientConfig }
export { classify, serve } from "./protocol-connect/server.ts"
export {
  allowsGet,
  type ContentType,
  endStreamFromJson,
  endStreamToJson,
  errorFromJson,
  type ErrorJson,
  errorToJson,
  parseContentType,
  parseTimeout,
  PROTOCOL_VERSION
} from "./protocol-connect/wire.ts"

/**
 * Builds a Connect-protocol `Transport` over an `HttpClient` (`Transport.make("connect", …)`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeTransport = (http: HttpClient["Service"], config: ClientConfig): TransportShape =>
  make("connect", http, config)
