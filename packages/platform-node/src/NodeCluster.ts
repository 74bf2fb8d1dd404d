/**
 * Scaling a server over CPU cores with `node:cluster`: the primary process forks N workers that
 * each build the same server layer (for example `NodeServer.layerRouter(...)`) and share its
 * port (the primary accepts connections and hands them out round-robin). Closing the primary's
 * scope shuts the workers down gracefully: each stops accepting, lets in-flight calls finish
 * (the server's `gracePeriodMs`) and exits.
 *
 * Call {@link make} / {@link layer} / {@link launch} at the top of your main module: the
 * workers run the same module, and in a worker these never return — they serve until the
 * primary tells them to stop, then exit the process.
 *
 * @since 0.1.0
 */
import cluster, { type Worker } from "node:cluster"
import * as os from "node:os"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { NodeServer } from "./NodeServer.ts"

/**
 * Options of {@link make}.
 *
 * @category options
 * @since 0.1.0
 */
export interface Options {
  /** Number of worker processes (default `os.availableParallelism()`). */
  readonly workers?: number | undefined
  /** Forks a new worker when one that was serving crashes or is killed (default true). */
  readonly respawn?: boolean | undefined
  /**
   * How long the primary waits for the workers to exit on shutdown before killing them
   * (default 15000 ms: longer than the servers' default `gracePeriodMs` of 5000).
   */
  readonly shutdownTimeoutMs?: number | undefined
  /** How long the primary waits for every worker to be listening (default 60000 ms). */
  readonly startTimeoutMs?: number | undefined
}

/**
 * The running cluster, as seen from the primary.
 *
 * @category models
 * @since 0.1.0
 */
export interface Info {
  /** The shared port. */
  readonly port: number
  /** The URL of the server (as the first worker reported it). */
  readonly url: string
  /** Process ids of the workers currently serving. */
  readonly workers: () => ReadonlyArray<number>
}

/**
 * The cluster could not start (a worker failed to build its server or did not listen in time).
 *
 * @category errors
 * @since 0.1.0
 */
export class ClusterError extends Data.TaggedError("ClusterError")<{ readonly message: string }> {}

/**
 * The running cluster, in the primary.
 *
 * @category services
 * @since 0.1.0
 */
export class NodeCluster extends Context.Service<NodeCluster, Info>()("@connect-effect/platform-node/NodeCluster") {}

/**
 * True in the primary process (or when not clustered at all).
 *
 * @category predicates
 * @since 0.1.0
 */
export const isPrimary = (): boolean => cluster.isPrimary

type ToPrimary =
  | { readonly _tag: "connect-effect/listening"; readonly port: number; readonly url: string }
  | { readonly _tag: "connect-effect/failed"; readonly message: string }

type ToWorker = { readonly _tag: "connect-effect/shutdown" }

const isMessage = (u: unknown): u is { readonly _tag: string } =>
  typeof u === "object" && u !== null && typeof (u as { _tag?: unknown })._tag === "string" &&
  (u as { _tag: string })._tag.startsWith("connect-effect/")

/**
 * Worker side: serve until the primary says stop (or the IPC channel closes, or SIGTERM/SIGINT),
 * shut the server down gracefully, exit. The stop signals are listened to from the start, so a
 * stop that arrives while the server is still being built is not lost. If the fiber is
 * interrupted instead (a runtime's own signal handling), the scope still closes the server.
 */
const serveInWorker = <E>(server: Layer.Layer<NodeServer, E>): Effect.Effect<never> => Effect.suspend(() => {
  let stopRequested = false
  let onStop: (() => void) | undefined
  const stop = () => {
    stopRequested = true
    onStop?.()
  }
  process.on("message", (m: unknown) => {
    if (isMessage(m) && (m as ToWorker)._tag === "connect-effect/shutdown") stop()
  })
  process.once("disconnect", stop)
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
  const send = (message: ToPrimary) =>
    Effect.callback<void>((resume) => {
      if (!process.connected) return resume(Effect.void)
      process.send!(message, undefined, undefined, () => resume(Effect.void))
    })
  const serve = Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(server)
    const info = Context.get(context, NodeServer)
    yield* send({ _tag: "connect-effect/listening", port: info.port, url: info.url })
    yield* Effect.callback<void>((resume) => {
      if (stopRequested) return resume(Effect.void)
      onStop = () => resume(Effect.void)
    })
  }))
  return serve.pipe(
    Effect.matchCauseEffect({
      onSuccess: () => Effect.sync(() => process.exit(0)),
      onFailure: (cause) =>
        Effect.andThen(
          send({ _tag: "connect-effect/failed", message: String(cause) }),
          Effect.sync(() => process.exit(1))
        )
    }),
    Effect.andThen(Effect.never)
  )
})

/** Primary side: fork, wait until every worker listens, respawn, shut down on scope close. */
const runPrimary = (options: Options): Effect.Effect<Info, ClusterError, Scope.Scope> => {
  const count = Math.max(1, options.workers ?? os.availableParallelism())
  const respawn = options.respawn ?? true
  const live = new Map<number, Worker>() // serving workers by worker id
  const forked = new Set<Worker>() // every worker of this cluster not yet exited (starting or serving)
  const crashes: Array<number> = [] // times of recent crashes, for the respawn backoff
  let respawnTimer: ReturnType<typeof setTimeout> | undefined
  let stopping = false
  let port = 0
  let url = ""

  const fork = (onListening: () => void, reportFailure: (message: string) => void): Worker => {
    // a worker that cannot serve says so and then exits: one report per worker
    let reported = false
    const onFailure = (message: string) => {
      if (reported) return
      reported = true
      reportFailure(message)
    }
    const worker = cluster.fork()
    forked.add(worker)
    let listening = false
    worker.on("message", (m: unknown) => {
      if (!isMessage(m)) return
      const message = m as ToPrimary
      if (message._tag === "connect-effect/listening") {
        listening = true
        port = message.port
        if (url === "") url = message.url
        live.set(worker.id, worker)
        onListening()
      } else if (message._tag === "connect-effect/failed") {
        onFailure(`worker ${worker.process.pid} could not serve: ${message.message}`)
      }
    })
    worker.on("error", () => {})
    worker.once("exit", (code, signal) => {
      live.delete(worker.id)
      forked.delete(worker)
      if (stopping) return
      // a worker that was asked to stop (SIGTERM/SIGINT, e.g. Ctrl-C reaching the whole process
      // group) is not replaced; one that crashed or was killed is
      const askedToStop = signal === "SIGTERM" || signal === "SIGINT" || code === 0 || code === 130 || code === 143
      if (!listening) {
        onFailure(`worker ${worker.process.pid} exited before listening (${signal ?? code})`)
      } else if (respawn && !askedToStop) {
        scheduleRespawn(`worker ${worker.process.pid} exited (${signal ?? code})`)
      }
    })
    return worker
  }

  /**
   * Replaces a crashed worker: at once for a first crash, then with a backoff doubling per crash
   * within the last minute (up to 30 s), so that a worker crashing in a loop does not fork-bomb the
   * machine. A replacement that cannot start is reported on stderr and retried the same way.
   */
  const scheduleRespawn = (why: string) => {
    const now = Date.now()
    crashes.push(now)
    while (crashes.length > 0 && crashes[0]! < now - 60_000) crashes.shift()
    const delay = crashes.length <= 1 ? 0 : Math.min(30_000, 100 * 2 ** (crashes.length - 1))
    process.stderr.write(`[NodeCluster] ${why}; starting a replacement${delay > 0 ? ` in ${delay} ms` : ""}\n`)
    const replace = () => {
      respawnTimer = undefined
      if (stopping) return
      fork(() => {}, (message) => scheduleRespawn(message))
    }
    if (delay === 0) replace()
    else respawnTimer = setTimeout(replace, delay)
  }

  const start = Effect.callback<Info, ClusterError>((resume) => {
    let ready = 0
    let done = false
    const timer = setTimeout(() => fail(`not every worker listened within ${options.startTimeoutMs ?? 60_000} ms`), options.startTimeoutMs ?? 60_000)
    const fail = (message: string) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resume(Effect.fail(new ClusterError({ message })))
    }
    for (let i = 0; i < count; i++) {
      fork(() => {
        ready++
        if (ready === count && !done) {
          done = true
          clearTimeout(timer)
          resume(Effect.succeed({ port, url, workers: () => Array.from(live.values(), (w) => w.process.pid!) }))
        }
      }, fail)
    }
    return Effect.sync(() => clearTimeout(timer))
  })

  const stop = Effect.callback<void>((resume) => {
    stopping = true
    if (respawnTimer !== undefined) clearTimeout(respawnTimer)
    // this cluster's workers only (another cluster of the same primary keeps its own)
    const workers = Array.from(forked).filter((w) => !w.isDead())
    if (workers.length === 0) return resume(Effect.void)
    let remaining = workers.length
    const timer = setTimeout(() => {
      for (const w of workers) if (!w.isDead()) w.process.kill("SIGKILL")
    }, options.shutdownTimeoutMs ?? 15_000)
    for (const w of workers) {
      w.once("exit", () => {
        remaining--
        if (remaining === 0) {
          clearTimeout(timer)
          resume(Effect.void)
        }
      })
      const message: ToWorker = { _tag: "connect-effect/shutdown" }
      try {
        w.send(message)
      } catch {
        w.process.kill("SIGTERM")
      }
    }
  })

  return Effect.acquireRelease(Effect.onError(start, () => stop), () => stop)
}

/**
 * In the primary: forks the workers, waits until each serves `server` on the shared port, and
 * returns the cluster's {@link Info}; closing the scope shuts the workers down gracefully. In a
 * worker: serves `server` until the primary shuts it down, then exits (never returns).
 *
 * Give the server a fixed `port`, or `0`: workers asking for port 0 share one port picked by
 * the primary.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <E>(server: Layer.Layer<NodeServer, E>, options: Options = {}): Effect.Effect<Info, ClusterError, Scope.Scope> =>
  cluster.isPrimary ? runPrimary(options) : serveInWorker(server)

/**
 * {@link make} as a layer providing {@link NodeCluster} (in the primary).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <E>(server: Layer.Layer<NodeServer, E>, options?: Options): Layer.Layer<NodeCluster, ClusterError> =>
  Layer.effect(NodeCluster, make(server, options))

/**
 * Runs the cluster until interrupted (for example by `NodeRuntime.runMain` on SIGINT/SIGTERM),
 * then shuts the workers down gracefully.
 *
 * @category running
 * @since 0.1.0
 */
export const launch = <E>(server: Layer.Layer<NodeServer, E>, options?: Options): Effect.Effect<never, ClusterError> =>
  Effect.scoped(Effect.flatMap(make(server, options), () => Effect.never))
