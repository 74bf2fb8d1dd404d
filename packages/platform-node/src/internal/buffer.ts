/**
 * Bytes for a Node write. Node turns a plain Uint8Array into a Buffer over its `.buffer`; a small
 * typed array (V8 keeps those of up to 64 bytes inside its heap) must then be moved to an
 * external backing store first, which costs about five times a copy and adds GC work. Small
 * ones are therefore copied into Buffer's pool; Buffers and large arrays are passed through.
 */
export const forWrite = (bytes: Uint8Array): Uint8Array =>
  bytes.byteLength > 64 || Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)
