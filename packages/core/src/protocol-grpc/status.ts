/**
 * `google.rpc.Status` (code, message, details), the binary form of `grpc-status-details-bin`,
 * encoded and decoded by hand (no generated code in core for it).
 */
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire"
import type { ErrorDetail } from "../ConnectError.ts"

/** `google.rpc.Status` as carried in `grpc-status-details-bin`. */
export interface Status {
  readonly code: number
  readonly message: string
  readonly details: ReadonlyArray<ErrorDetail>
}

const TYPE_PREFIX = "type.googleapis.com/"

/** Encodes a google.rpc.Status (code 1, message 2, details 3 as google.protobuf.Any). */
export const encode = (status: Status): Uint8Array => {
  const w = new BinaryWriter()
  if (status.code !== 0) w.tag(1, WireType.Varint).int32(status.code)
  if (status.message !== "") w.tag(2, WireType.LengthDelimited).string(status.message)
  for (const d of status.details) {
    w.tag(3, WireType.LengthDelimited).fork()
    w.tag(1, WireType.LengthDelimited).string(TYPE_PREFIX + d.type)
    w.tag(2, WireType.LengthDelimited).bytes(d.value)
    w.join()
  }
  return w.finish()
}

/** Decodes a google.rpc.Status; throws on malformed input. */
export const decode = (bytes: Uint8Array): Status => {
  const r = new BinaryReader(bytes)
  let code = 0
  let message = ""
  const details: Array<ErrorDetail> = []
  while (r.pos < r.len) {
    const [field, wireType] = r.tag()
    if (field === 1 && wireType === WireType.Varint) code = r.int32()
    else if (field === 2 && wireType === WireType.LengthDelimited) message = r.string()
    else if (field === 3 && wireType === WireType.LengthDelimited) {
      const any = new BinaryReader(r.bytes())
      let typeUrl = ""
      let value: Uint8Array = new Uint8Array(0)
      while (any.pos < any.len) {
        const [f, t] = any.tag()
        if (f === 1 && t === WireType.LengthDelimited) typeUrl = any.string()
        else if (f === 2 && t === WireType.LengthDelimited) value = any.bytes()
        else any.skip(t, f)
      }
      details.push({ type: typeUrl.slice(typeUrl.lastIndexOf("/") + 1), value })
    } else r.skip(wireType, field)
  }
  return { code, message, details }
}
