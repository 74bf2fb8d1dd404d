/**
 * Message codecs: binary protobuf and JSON, over protobuf-es descriptors.
 *
 * @since 0.1.0
 */
import type { DescMessage, MessageInitShape, MessageShape, Registry } from "@bufbuild/protobuf"
import { create, fromJsonString, isMessage, toJsonString } from "@bufbuild/protobuf"
import * as BinaryDecoder from "./internal/binaryDecoder.ts"
import * as BinaryEncoder from "./internal/binaryEncoder.ts"

/**
 * Serializes and parses messages of any schema. Methods throw on malformed input; protocols map that to codes.
 *
 * @category models
 * @since 0.1.0
 */
export interface Codec {
  /** The codec's name in content types: `proto` or `json`. */
  readonly name: string
  readonly encode: <Desc extends DescMessage>(schema: Desc, message: MessageInitShape<Desc>) => Uint8Array
  readonly decode: <Desc extends DescMessage>(schema: Desc, bytes: Uint8Array) => MessageShape<Desc>
  /**
   * Optional: parses `bytes[start, end)`, as `decode(schema, bytes.subarray(start, end))` would,
   * without making the view. Streams of small messages use it when it is there.
   */
  readonly decodeRange?: <Desc extends DescMessage>(schema: Desc, bytes: Uint8Array, start: number, end: number) => MessageShape<Desc>
}

/**
 * Turns an init shape into a message, without copying when it already is one.
 *
 * @category utils
 * @since 0.1.0
 */
export const toMessage = <Desc extends DescMessage>(schema: Desc, value: MessageInitShape<Desc>): MessageShape<Desc> =>
  isMessage(value, schema) ? (value as MessageShape<Desc>) : create(schema, value)

/**
 * Binary protobuf. Messages are written into one right-sized buffer (the same bytes as
 * protobuf-es's `toBinary`).
 *
 * @category codecs
 * @since 0.1.0
 */
export const proto: Codec = {
  name: "proto",
  encode: (schema, message) => BinaryEncoder.encode(schema, toMessage(schema, message)),
  decode: (schema, bytes) => BinaryDecoder.decode(schema, bytes),
  decodeRange: (schema, bytes, start, end) => BinaryDecoder.decodeRange(schema, bytes, start, end)
}

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

/**
 * Options of the JSON codec.
 *
 * @category options
 * @since 0.1.0
 */
export interface JsonOptions {
  /** Resolves `google.protobuf.Any` and extensions. */
  readonly registry?: Registry | undefined
  /** Accept unknown fields when parsing (default false: they are an error). */
  readonly ignoreUnknownFields?: boolean | undefined
}

/**
 * Protobuf JSON (canonical proto3 JSON mapping).
 *
 * @category codecs
 * @since 0.1.0
 */
export const json = (options: JsonOptions = {}): Codec => {
  const read = { ignoreUnknownFields: options.ignoreUnknownFields ?? false, ...(options.registry ? { registry: options.registry } : {}) }
  const write = options.registry ? { registry: options.registry } : {}
  return {
    name: "json",
    encode: (schema, message) => encoder.encode(toJsonString(schema, toMessage(schema, message), write)),
    decode: (schema, bytes) => fromJsonString(schema, decoder.decode(bytes), read)
  }
}

/**
 * The default JSON codec (no registry, strict on unknown fields).
 *
 * @category codecs
 * @since 0.1.0
 */
export const jsonDefault: Codec = json()
