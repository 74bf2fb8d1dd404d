/**
 * Protobuf wire-format helpers shared by the binary encoder and decoder.
 */
import { ScalarType } from "@bufbuild/protobuf"

/** The wire type of a scalar field (0 varint, 1 64-bit, 2 length-delimited, 5 32-bit). */
export const wireTypeOf = (t: ScalarType): number => {
  switch (t) {
    case ScalarType.BYTES:
    case ScalarType.STRING:
      return 2
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return 1
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT:
      return 5
    default:
      return 0
  }
}
