/**
 * Node.js platform for connect-effect: server, client transports and compression.
 *
 * @since 0.1.0
 */

/** Serving handlers over HTTP/1.1 and h2c on one port. */
export * as NodeServer from "./NodeServer.ts"

/** Client transports over `node:http` and `node:http2`. */
export * as NodeHttpClient from "./NodeHttpClient.ts"

/** gzip, br and zstd through `node:zlib`. */
export * as NodeCompression from "./NodeCompression.ts"

/** Connect client transports for Node (protocol + HTTP transport + compressions). */
export * as NodeTransport from "./NodeTransport.ts"

/** Scaling a server over CPU cores with `node:cluster` (N workers sharing one port). */
export * as NodeCluster from "./NodeCluster.ts"

/** Mounting a router in your own Node server: a request listener, Express middleware, a Fastify plugin. */
export * as NodeAdapter from "./NodeAdapter.ts"
