/**
 * connect-effect on Bun: `BunServer` (Bun.serve), `BunTransport` (fetch), `BunCompression`.
 *
 * @since 0.1.0
 */
export * as BunCompression from "./BunCompression.ts"
export * as BunServer from "./BunServer.ts"
export * as BunTransport from "./BunTransport.ts"
