/**
 * The slice of Bun's global API the package uses, typed here.
 */
/** The slice of Bun's global API this package uses (typed here so the repo needs no Bun type package). */
export interface BunServer {
  readonly port: number
  readonly hostname: string
  readonly url: URL
  readonly pendingRequests: number
  stop(closeActiveConnections?: boolean): Promise<void>
  /** The client end of a request's connection (`null` once it is gone, or for a Unix socket). */
  requestIP(request: Request): { readonly address: string; readonly port: number } | null
}

/** TLS settings accepted by `Bun.serve`. */
export interface BunTlsOptions {
  readonly cert: string | Buffer
  readonly key: string | Buffer
  readonly ca?: string | Buffer | undefined
  readonly requestCert?: boolean | undefined
  readonly rejectUnauthorized?: boolean | undefined
}

/** Options of `Bun.serve` used here. */
export interface BunServeOptions {
  readonly port: number
  readonly hostname: string
  readonly fetch: (request: Request) => Response | Promise<Response>
  readonly tls?: BunTlsOptions | undefined
  readonly idleTimeout?: number | undefined
  /**
   * HTTP/2 besides HTTP/1.1 on the same port (Bun 1.4.5+): h2 by ALPN over TLS, h2c by prior
   * knowledge in cleartext. Older Bun versions ignore it and serve HTTP/1.1 only.
   */
  readonly http2?: boolean | undefined
  readonly maxRequestBodySize?: number | undefined
}

interface BunGlobal {
  readonly version: string
  serve(options: BunServeOptions): BunServer
}

/** The `Bun` global; throws a clear error outside Bun. */
export const bun = (): BunGlobal => {
  const b = (globalThis as { Bun?: BunGlobal }).Bun
  if (b === undefined) throw new Error("@connect-effect/platform-bun needs the Bun runtime (https://bun.sh)")
  return b
}

/** True when running on Bun. */
export const isBun = (): boolean => (globalThis as { Bun?: unknown }).Bun !== undefined
