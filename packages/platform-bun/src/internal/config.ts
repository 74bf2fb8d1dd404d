import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"

/**
 * `Config.unwrap(config)` as an Effect, with `effect/Config` imported when a `layerConfig` layer is
 * built rather than when this package is: the module is built on `effect/Schema`, whose module
 * graph costs about 6 MB of heap in every process, and a program that passes `Config`s has it
 * loaded already.
 */
export const unwrapConfig = <A>(config: Config.Wrap<A>): Effect.Effect<A, Config.ConfigError> =>
  Effect.flatMap(Effect.promise(() => import("effect/Config")), (Config) => Config.unwrap(config))
