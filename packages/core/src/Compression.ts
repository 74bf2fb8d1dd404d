/**
 * Compression algorithms as an injectable service: core negotiates, platforms compress.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { ConnectError } from "./ConnectError.ts"

/**
 * One compression algorithm, named as on the wire (`gzip`, `br`, `zstd`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Compression {
  readonly name: string
  readonly compress: (data: Uint8Array) => Effect.Effect<Uint8Array, ConnectError>
  /**
   * Decompresses `data`, failing with `resource_exhausted` as soon as the output would exceed
   * `maxBytes` (without inflating the rest), and with `invalid_argument` on corrupt input.
   * `maxBytes` of `Infinity` means no limit.
   */
  readonly decompress: (data: Uint8Array, maxBytes: number) => Effect.Effect<Uint8Array, ConnectError>
}

/**
 * The compressions a platform offers, in order of preference.
 *
 * @category references
 * @since 0.1.0
 */
export const Compressions: Context.Reference<ReadonlyArray<Compression>> = Context.Reference<
  ReadonlyArray<Compression>
>("@connect-effect/core/Compressions", { defaultValue: () => [] })
