/**
 * A request URL parsed into the parts Node's clients take, cached per URL string.
 *
 * @internal
 */
import * as ConnectError from "@connect-effect/core/ConnectError"

/** Parsed URL parts, cached per URL string (RPC clients call few distinct URLs). */
export interface Target {
  readonly https: boolean
  readonly hostname: string
  readonly port: number
  readonly path: string
  readonly origin: string
}

const targets = new Map<string, Target>()

/** The parts of `url`, or the `invalid_argument` error of a URL that does not parse. */
export const parse = (url: string): Target | ConnectError.ConnectError => {
  let t = targets.get(url)
  if (t !== undefined) return t
  let u: URL
  try {
    u = new URL(url)
  } catch (e) {
    return invalidUrl(url, e)
  }
  const isHttps = u.protocol === "https:"
  t = {
    https: isHttps,
    hostname: u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname,
    port: u.port === "" ? (isHttps ? 443 : 80) : Number(u.port),
    path: u.pathname + u.search,
    origin: u.origin
  }
  if (targets.size >= 1024) targets.clear()
  targets.set(url, t)
  return t
}

const invalidUrl = (url: string, e: unknown) =>
  ConnectError.make("invalid_argument", `invalid url ${url}: ${e instanceof Error ? e.message : String(e)}`)
