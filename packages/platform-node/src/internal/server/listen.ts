/**
 * The listening socket of the server: accepts TCP (or TLS) connections, hands each to the
 * HTTP/1.1 or the HTTP/2 server (by the preface sniffed on cleartext, by ALPN on TLS), counts
 * them, and shuts down gracefully when the scope closes.
 *
 * @internal
 */
import type * as http from "node:http"
import * as net from "node:net"
import * as tls from "node:tls"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Exchange from "./exchange.ts"
import type * as Http2 from "./http2.ts"

/** Settings of the listener (defaults resolved). */
export interface Config {
  readonly host: string
  readonly port: number
  /** Protocols spoken on the port. */
  readonly mode: "1.1" | "2" | "auto"
  /** Certificate and client-certificate policy of a TLS server (cleartext when absent). */
  readonly tls: tls.TlsOptions | undefined
  readonly headersTimeoutMs: number
  readonly gracePeriodMs: number
}

/** A bound listener. */
export interface Listening {
  readonly port: number
  /** Number of open TCP connections (both protocols). */
  readonly connections: () => number
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1")
const noop = (): void => {}

/**
 * Listens until the scope closes. Closing the scope stops accepting connections, lets
 * in-flight requests finish for up to `gracePeriodMs`, then interrupts the remaining handlers
 * and destroys the connections. Fails with Node's error when it cannot listen.
 */
export const listen = (
  state: Exchange.State,
  h1: http.Server,
  h2: Http2.Server,
  config: Config
): Effect.Effect<Listening, Error, Scope.Scope> => {
  const { headersTimeoutMs, mode } = config
  const sessions = h2.sessions
  /** Open connections (for TLS: the raw socket until the handshake completes, then the TLS socket). */
  const sockets = new Set<net.Socket>()
  const http1Sockets = new Set<net.Socket>()
  /** Sockets handed to the HTTP/2 server (their sessions close them gracefully). */
  const http2Sockets = new Set<net.Socket>()

  const toHttp1 = (socket: net.Socket) => {
    http1Sockets.add(socket)
    h1.emit("connection", socket)
  }

  const toHttp2 = (socket: net.Socket) => {
    http2Sockets.add(socket)
    h2.server.emit("connection", socket)
  }

  const sniff = (socket: net.Socket) => {
    let seen: Buffer | undefined
    // one deadline from the accept, not an inactivity timer: a client dripping the preface a
    // byte at a time must not hold the connection longer than headersTimeoutMs
    const timer = headersTimeoutMs > 0 ? setTimeout(() => socket.destroy(), headersTimeoutMs).unref() : undefined
    const cleanup = () => {
      socket.removeListener("data", onData)
      socket.removeListener("close", cleanup)
      clearTimeout(timer)
    }
    const onData = (chunk: Buffer) => {
      const buf: Buffer = seen === undefined ? chunk : Buffer.concat([seen, chunk])
      const n = Math.min(buf.length, PREFACE.length)
      const isH2 = buf.compare(PREFACE, 0, n, 0, n) === 0
      if (isH2 && buf.length < PREFACE.length) {
        seen = buf
        return
      }
      cleanup()
      socket.pause()
      socket.unshift(buf)
      if (isH2) {
        // the HTTP/2 session reads the unshifted bytes itself
        toHttp2(socket)
      } else {
        toHttp1(socket)
        socket.resume()
      }
    }
    socket.once("close", cleanup)
    socket.on("data", onData)
  }

  const track = (socket: net.Socket) => {
    sockets.add(socket)
    socket.on("error", noop)
    socket.once("close", () => {
      sockets.delete(socket)
      http1Sockets.delete(socket)
      http2Sockets.delete(socket)
    })
  }

  const onConnection = (socket: net.Socket) => {
    track(socket)
    if (state.closing) {
      socket.destroy()
      return
    }
    if (mode === "1.1") toHttp1(socket)
    else if (mode === "2") toHttp2(socket)
    else sniff(socket)
  }

  /** A TLS connection completed its handshake: dispatch by the ALPN protocol. */
  const onSecureConnection = (socket: tls.TLSSocket) => {
    // the TLS socket replaces the raw one counted since the first byte
    const raw = (socket as unknown as { readonly _parent?: net.Socket | null })._parent
    if (raw != null) sockets.delete(raw)
    track(socket)
    if (state.closing) {
      socket.destroy()
      return
    }
    if (mode === "2" || (mode === "auto" && socket.alpnProtocol === "h2")) toHttp2(socket)
    else toHttp1(socket)
  }

  const tlsOptions = config.tls
  const server: net.Server = tlsOptions === undefined
    ? net.createServer({ noDelay: true }, onConnection)
    : tls.createServer({
      ...tlsOptions,
      noDelay: true,
      ALPNProtocols: mode === "1.1" ? ["http/1.1"] : mode === "2" ? ["h2"] : ["h2", "http/1.1"],
      handshakeTimeout: headersTimeoutMs
    }, onSecureConnection)
  if (tlsOptions !== undefined) {
    // connections are counted (and destroyed on shutdown) from the first byte
    server.on("connection", (socket: net.Socket) => {
      if (state.closing) socket.destroy()
      else track(socket)
    })
    server.on("tlsClientError", noop)
  }

  const bind = Effect.callback<Listening, Error>((resume) => {
    const onError = (error: Error) => {
      h1.close()
      resume(Effect.fail(error))
    }
    server.once("error", onError)
    server.listen({ port: config.port, host: config.host }, () => {
      server.removeListener("error", onError)
      server.on("error", noop)
      const address = server.address() as net.AddressInfo
      resume(Effect.succeed({ port: address.port, connections: () => sockets.size }))
    })
  })

  const shutdown = Effect.callback<void>((resume) => {
    state.closing = true
    let finished = false
    let graceTimer: ReturnType<typeof setTimeout> | undefined
    let forceTimer: ReturnType<typeof setTimeout> | undefined
    const finish = () => {
      if (finished) return
      finished = true
      if (graceTimer !== undefined) clearTimeout(graceTimer)
      if (forceTimer !== undefined) clearTimeout(forceTimer)
      state.onIdle = undefined
      // stops the header-timeout sweep started by the HTTP/1.1 server's emit("listening")
      h1.close()
      resume(Effect.void)
    }
    server.close(() => finish())
    h1.closeIdleConnections()
    for (const session of sessions) session.close()
    const onIdle = () => {
      // every exchange is done: finish the idle HTTP/1.1 connections gracefully
      h1.closeIdleConnections()
      for (const socket of http1Sockets) socket.end()
      // connections still sniffing or handshaking; HTTP/2 sessions close themselves after GOAWAY
      for (const socket of sockets) if (!http1Sockets.has(socket) && !http2Sockets.has(socket)) socket.destroy()
    }
    state.onIdle = onIdle
    if (state.inflight === 0) onIdle()
    graceTimer = setTimeout(() => {
      graceTimer = undefined
      // the connections go away first, so that clients see the server leaving (`unavailable`)
      // rather than a reset of each exchange; then the remaining handlers are interrupted.
      // Sockets before sessions: a destroyed HTTP/2 session resets its streams with
      // RST_STREAM(NO_ERROR), which Node clients take for a complete response.
      state.killed = true
      for (const socket of sockets) socket.destroy()
      for (const session of sessions) session.destroy()
      for (const fiber of state.running.fibers()) fiber.interruptUnsafe()
      forceTimer = setTimeout(() => {
        forceTimer = undefined
        for (const socket of sockets) socket.destroy()
      }, 1000)
    }, config.gracePeriodMs)
    return Effect.sync(finish)
  })

  return Effect.acquireRelease(bind, () => shutdown)
}
