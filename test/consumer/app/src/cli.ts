/**
 * What the Node and Bun programs share: command-line options, waiting for the signal to stop,
 * and running a main effect to an exit code.
 */
import { parseArgs } from "node:util"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/** `--port`, `--url`, `--protocol`, `--http`, `--codec`, `--duplex`, `--compression` (strings; undefined when absent). */
export const options = parseArgs({
  options: {
    port: { type: "string" },
    url: { type: "string" },
    protocol: { type: "string" },
    http: { type: "string" },
    codec: { type: "string" },
    duplex: { type: "string" },
    compression: { type: "string" }
  },
  strict: true
}).values

/** One of `allowed`, or exits with a usage error. */
export const oneOf = <const T extends string>(name: string, value: string | undefined, allowed: ReadonlyArray<T>, fallback: T): T => {
  const v = value ?? fallback
  if ((allowed as ReadonlyArray<string>).includes(v)) return v as T
  console.error(`--${name} must be one of ${allowed.join(", ")} (got ${v})`)
  return process.exit(2)
}

/** Succeeds when stdin ends (the parent closed it, or went away), or on SIGTERM / SIGINT. */
export const waitForStop: Effect.Effect<string> = Effect.callback<string>((resume) => {
  const onEnd = () => resume(Effect.succeed("stdin ended"))
  const onSignal = (signal: NodeJS.Signals) => resume(Effect.succeed(signal))
  process.stdin.once("end", onEnd).once("close", onEnd).resume()
  process.once("SIGTERM", onSignal).once("SIGINT", onSignal)
  return Effect.sync(() => {
    process.stdin.off("end", onEnd).off("close", onEnd).pause()
    process.off("SIGTERM", onSignal).off("SIGINT", onSignal)
  })
})

/** Runs `program` and exits: 0 when it succeeds, 1 (with the error on stderr) when it fails. */
export const runMain = <A, E>(program: Effect.Effect<A, E>): void => {
  Effect.runPromiseExit(program).then((exit) => {
    if (Exit.isFailure(exit)) {
      // an expected failure (a tagged error: CheckFailed, ConnectError, ServeError) prints its message; a defect its stack
      const error = Cause.squash(exit.cause)
      const tag = (error as { readonly _tag?: unknown } | null)?._tag
      console.error(typeof tag === "string" && error instanceof Error ? `${tag}: ${error.message}` : Cause.pretty(exit.cause))
      process.exit(1)
    }
    process.exit(0)
  })
}
