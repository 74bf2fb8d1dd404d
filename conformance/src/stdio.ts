// Framing helpers for the conformance runner's stdin/stdout protocol.
//
// The runner (connectrpc.com/conformance, internal/delimited.go) exchanges
// binary protobuf messages, each preceded by its length as a 4-byte
// big-endian unsigned integer. Our programs read ServerCompatRequest /
// ClientCompatRequest messages from stdin and write ServerCompatResponse /
// ClientCompatResponse messages to stdout. This module only deals with
// bytes; encoding/decoding is left to the callers.

import process from "node:process";

const PREFIX_BYTES = 4;
// Stop pulling from stdin while this much unread data is buffered.
const HIGH_WATER_MARK = 8 * 1024 * 1024;

interface InputState {
  readonly chunks: Array<Uint8Array>;
  length: number;
  ended: boolean;
  failure: Error | undefined;
  listening: boolean;
  wake: (() => void) | undefined;
}

const input: InputState = {
  chunks: [],
  length: 0,
  ended: false,
  failure: undefined,
  listening: false,
  wake: undefined,
};

// Reads are serialized so that concurrent callers each get whole messages.
let readChain: Promise<unknown> = Promise.resolve();
// Writes are serialized so that frames from concurrent responses never
// interleave, and so that they reach stdout in call order.
let writeChain: Promise<void> = Promise.resolve();

const notify = (): void => {
  const wake = input.wake;
  input.wake = undefined;
  wake?.();
};

const listen = (): void => {
  if (input.listening) return;
  input.listening = true;
  const stdin = process.stdin;
  stdin.on("data", (chunk: Buffer | string) => {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "binary") : chunk;
    input.chunks.push(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    input.length += bytes.byteLength;
    if (input.length >= HIGH_WATER_MARK) stdin.pause();
    notify();
  });
  stdin.on("end", () => {
    input.ended = true;
    notify();
  });
  stdin.on("error", (error: Error) => {
    input.failure = error;
    input.ended = true;
    notify();
  });
  stdin.resume();
};

// Waits until at least `count` bytes are buffered or stdin has ended.
const fill = async (count: number): Promise<void> => {
  while (input.length < count && !input.ended) {
    if (process.stdin.isPaused()) process.stdin.resume();
    await new Promise<void>((resolve) => {
      input.wake = resolve;
    });
  }
};

// Removes exactly `count` buffered bytes (caller guarantees availability).
const take = (count: number): Uint8Array => {
  const out = new Uint8Array(count);
  let offset = 0;
  while (offset < count) {
    const head = input.chunks[0];
    if (head === undefined) throw new Error("stdio: internal buffer underflow");
    const needed = count - offset;
    if (head.byteLength <= needed) {
      out.set(head, offset);
      offset += head.byteLength;
      input.chunks.shift();
    } else {
      out.set(head.subarray(0, needed), offset);
      input.chunks[0] = head.subarray(needed);
      offset += needed;
    }
  }
  input.length -= count;
  if (input.length < HIGH_WATER_MARK && process.stdin.isPaused() && !input.ended) {
    process.stdin.resume();
  }
  return out;
};

const readOne = async (): Promise<Uint8Array | undefined> => {
  listen();
  await fill(PREFIX_BYTES);
  if (input.length === 0 && input.ended) {
    if (input.failure !== undefined) throw input.failure;
    return undefined;
  }
  if (input.length < PREFIX_BYTES) {
    throw new Error(`stdio: stdin ended inside a length prefix (${input.length}/${PREFIX_BYTES} bytes)`);
  }
  const prefix = take(PREFIX_BYTES);
  const size = new DataView(prefix.buffer, prefix.byteOffset, PREFIX_BYTES).getUint32(0, false);
  await fill(size);
  if (input.length < size) {
    throw new Error(`stdio: stdin ended inside a message (${input.length}/${size} bytes)`);
  }
  return take(size);
};

/**
 * Reads one size-prefixed message from stdin. Resolves to `undefined` on a
 * clean end of input (EOF exactly at a message boundary); rejects if stdin
 * ends in the middle of a message or fails.
 */
export const readMessage = (): Promise<Uint8Array | undefined> => {
  const result = readChain.then(readOne);
  readChain = result.catch(() => undefined);
  return result;
};

/** Yields every size-prefixed message from stdin until EOF. */
export async function* readMessages(): AsyncIterable<Uint8Array> {
  for (;;) {
    const message = await readMessage();
    if (message === undefined) return;
    yield message;
  }
}

const writeFrame = (frame: Uint8Array): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    process.stdout.write(frame, (error) => {
      if (error) reject(error);
      else resolve();
    });
  });

/**
 * Writes one message to stdout, preceded by its 4-byte big-endian length.
 * Concurrent calls are queued; each frame is written with a single write
 * call after the previous one has been handed to the OS. Resolves once this
 * frame has been written.
 */
export const writeMessage = (bytes: Uint8Array): Promise<void> => {
  const frame = new Uint8Array(PREFIX_BYTES + bytes.byteLength);
  new DataView(frame.buffer).setUint32(0, bytes.byteLength, false);
  frame.set(bytes, PREFIX_BYTES);
  const result = writeChain.then(() => writeFrame(frame));
  writeChain = result.catch(() => undefined);
  return result;
};

/** Resolves once every message queued so far has been written. */
export const flushWrites = (): Promise<void> => writeChain;
