/**
 * Reading a Node `Readable` (an `IncomingMessage` or an `Http2Stream`) as a pull-based
 * Stream or as one Buffer, without fibers, queues or async iterators.
 *
 * @internal
 */
import type { Readable } from "node:stream"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Arr from "effect/Array"
import * as ConnectError from "@connect-effect/core/ConnectError"

/** How a body maps Node events to `ConnectError`s. */
export interface BodyOptions {
  /** Maps an `'error'` event. */
  readonly onError: (error: unknown) => ConnectError.ConnectError
  /** The error when the readable closes before `'end'`. */
  readonly onPrematureClose: () => ConnectError.ConnectError
  /** Called once when `readAll` gave up on the body because it was too large (with the readable). */
  readonly onAbandon?: ((readable: Readable) => void) | undefined
  /**
   * Checked on `'end'`: true when the readable ended because the exchange was reset (an
   * HTTP/2 stream emits `'end'` after RST_STREAM), which then counts as a premature close.
   */
  readonly isAborted?: ((readable: Readable) => boolean) | undefined
  /**
   * Reports the end one tick later (an HTTP/1.1 client response: Node's agent returns the
   * socket to its pool on a `nextTick` after `'end'`, and the next call should find it there).
   */
  readonly deferEnd?: boolean | undefined
  /** Bytes queued before the readable is paused (default 256 KiB). */
  readonly highWaterMark?: number | undefined
  /**
   * The owner keeps an `'error'` listener on the readable for its whole life and, once the
   * reader is `attached`, forwards `'error'` to `onErrorEvent` and `'close'` to `onClose` (an
   * HTTP/2 stream): the reader adds neither listener (nor a `noop` one when done), which spares
   * an open stream two listener arrays.
   */
  readonly forwarded?: boolean | undefined
}

const EMPTY = new Uint8Array(0)

type Resume<A> = (effect: Effect.Effect<A, ConnectError.ConnectError>) => void

type Chunks = Arr.NonEmptyReadonlyArray<Uint8Array>
type BodyPull = Effect.Effect<Chunks, ConnectError.ConnectError | Cause.Done>

const isEnded = (readable: Readable): boolean =>
  (readable as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true

/** Too-large body error, the way connect implementations word it. */
export const tooLarge = (maxBytes: number): ConnectError.ConnectError =>
  ConnectError.make("resource_exhausted", `message is larger than configured max ${maxBytes} bytes`)

/**
 * One reader per body. `stream` and `readAll` share the same state, so a body can only
 * be consumed once.
 */
export class BodyReader {
  readonly readable: Readable
  readonly options: BodyOptions
  readonly highWaterMark: number
  chunks: Array<Buffer> = []
  queued = 0
  done = false
  failure: ConnectError.ConnectError | undefined = undefined
  attached = false
  paused = false
  /**
   * Pending stream pull: its fiber's resume, woken with `pull` (left behind by an interrupted
   * pull, it is ignored by its fiber, and replaced by the next pull).
   */
  waiter: ((effect: BodyPull) => void) | undefined = undefined
  /** Pending `readAll`. */
  allResume: Resume<Uint8Array> | undefined = undefined
  allMax = Infinity
  /** Listeners told once the body ended, failed or was abandoned. */
  onSettled: (() => void) | undefined = undefined

  constructor(readable: Readable, options: BodyOptions) {
    this.readable = readable
    this.options = options
    this.highWaterMark = options.highWaterMark ?? 256 * 1024
  }

  private attach(): void {
    if (this.attached) return
    this.attached = true
    const r = this.readable
    if (r.destroyed && !isEnded(r)) {
      this.fail(this.options.onPrematureClose())
      return
    }
    ;(r as Owned)[kReader] = this
    r.on("data", onDataListener)
    r.on("end", onEndListener)
    if (this.options.forwarded === true) return
    r.on("error", onErrorListener)
    r.on("close", onCloseListener)
  }

  private detach(): void {
    const r = this.readable
    r.removeListener("data", onDataListener)
    r.removeListener("end", onEndListener)
    if (this.options.forwarded === true) return
    r.removeListener("error", onErrorListener)
    r.removeListener("close", onCloseListener)
  }

  onData(chunk: Buffer): void {
    if (this.failure !== undefined) return
    this.chunks.push(chunk)
    this.queued += chunk.length
    if (this.allResume !== undefined) {
      if (this.queued > this.allMax) this.abandon(this.allMax)
      return
    }
    if (this.waiter !== undefined) {
      const w = this.waiter
      this.waiter = undefined
      w(this.pull)
    }
    if (this.queued >= this.highWaterMark && !this.paused) {
      this.paused = true
      this.readable.pause()
    }
  }

  onEnd(): void {
    if (this.options.deferEnd === true) process.nextTick(endLater, this)
    else this.ended_()
  }

  /** A method, not a bound field (one closure less per open body): `endLater` calls it a tick later. */
  ended_(): void {
    if (this.done || this.failure !== undefined) return
    if (this.options.isAborted?.(this.readable) === true) {
      this.fail(this.options.onPrematureClose())
      return
    }
    this.done = true
    // the listeners stay: nothing emits 'data' or 'end' again, and a late 'error' or 'close' finds
    // the body done (and the error listener keeps a late error from crashing the process);
    // removing four listeners per request cost more than the rest of the body's bookkeeping
    const all = this.allResume
    if (all !== undefined) {
      this.allResume = undefined
      all(Effect.succeed(this.takeAll()))
    } else if (this.waiter !== undefined) {
      const w = this.waiter
      this.waiter = undefined
      w(this.pull)
    }
    this.settle()
  }

  onErrorEvent(error: unknown): void {
    this.fail(this.options.onError(error))
  }

  onClose(): void {
    if (this.done) return
    // 'close' can come before 'end' although the whole body arrived: an HTTP/2 peer that sends
    // END_STREAM and then RST_STREAM(NO_ERROR) (allowed once its response is complete). The
    // end-of-stream was received (and every byte delivered) when the readable state says so.
    const state = (this.readable as { _readableState?: { ended?: boolean } })._readableState
    if (this.readable.readableEnded || (state?.ended === true && this.readable.readableLength === 0)) this.ended_()
    else this.fail(this.options.onPrematureClose())
  }

  private settle(): void {
    const f = this.onSettled
    if (f !== undefined) {
      this.onSettled = undefined
      f()
    }
  }

  /** Fails the body (idempotent); pending readers are woken. */
  fail(error: ConnectError.ConnectError): void {
    if (this.done || this.failure !== undefined) return
    this.failure = error
    this.chunks = []
    this.queued = 0
    const all = this.allResume
    if (all !== undefined) {
      this.allResume = undefined
      all(Effect.fail(error))
    } else if (this.waiter !== undefined) {
      const w = this.waiter
      this.waiter = undefined
      w(this.pull)
    }
    this.settle()
  }

  /**
   * The response is complete and nobody will read the rest of the body: drop what is queued and
   * let the remainder flow into the void, so a peer still uploading is not stalled by flow
   * control (HTTP/2) and the connection stays usable (HTTP/1.1).
   */
  discard(): void {
    if (this.done) return
    this.done = true
    if (this.attached) this.detach()
    this.chunks = []
    this.queued = 0
    this.guardErrors()
    this.paused = false
    this.readable.resume()
  }

  /** Keeps a late `'error'` of a readable nobody reads any more from crashing the process. */
  private guardErrors(): void {
    if (this.options.forwarded !== true) this.readable.on("error", noop)
  }

  private abandon(maxBytes: number): void {
    this.readable.pause()
    this.paused = true
    this.fail(tooLarge(maxBytes))
    this.options.onAbandon?.(this.readable)
  }

  private takeAll(): Uint8Array {
    const chunks = this.chunks
    const n = this.queued
    this.chunks = []
    this.queued = 0
    if (chunks.length === 0) return EMPTY
    if (chunks.length === 1) return chunks[0]!
    return Buffer.concat(chunks, n)
  }

  private unpause(): void {
    if (this.paused) {
      this.paused = false
      this.readable.resume()
    }
  }

  /** Reads the whole body into one buffer, failing with `resource_exhausted` past `maxBytes`. */
  readAll(maxBytes: number): Effect.Effect<Uint8Array, ConnectError.ConnectError> {
    return Effect.suspend(() => {
      if (this.failure !== undefined) return Effect.fail(this.failure)
      const r = this.readable
      if (!this.attached && isEnded(r) && !r.destroyed) {
        // everything is already buffered inside the readable: take it synchronously
        const buf = (r.read() as Buffer | null) ?? EMPTY
        this.done = true
        this.guardErrors()
        this.settle()
        if (buf.length > maxBytes) {
          this.failure = tooLarge(maxBytes)
          this.options.onAbandon?.(this.readable)
          return Effect.fail(this.failure)
        }
        return Effect.succeed(buf)
      }
      if (this.queued > maxBytes) {
        this.abandon(maxBytes)
        return Effect.fail(this.failure!)
      }
      if (this.done) return Effect.succeed(this.takeAll())
      return Effect.callback<Uint8Array, ConnectError.ConnectError>((resume) => {
        this.allMax = maxBytes
        this.allResume = resume
        this.attach()
        if (this.failure !== undefined) return
        this.paused = false
        r.resume()
        return Effect.sync(() => {
          if (this.allResume === resume) {
            this.allResume = undefined
            this.paused = true
            r.pause()
          }
        })
      })
    })
  }

  private pull_: BodyPull | undefined = undefined

  /**
   * One pull of the body stream: all chunks queued so far, or waits for the next. Built on first
   * use (a body read whole never needs it), with the wait it yields: a pull allocates nothing,
   * and an open stream waiting for a message keeps no closure of its own alive.
   */
  get pull(): BodyPull {
    return (this.pull_ ??= this.makePull())
  }

  private makePull(): BodyPull {
    // no cancel callback: an interrupted fiber ignores its resume, and its waiter is replaced
    // by the next pull (a cancel callback kept two closures and a frame per waiting stream)
    const wait = Effect.callback<Chunks, ConnectError.ConnectError | Cause.Done>((resume) => {
      this.waiter = resume
      this.attach()
      if (this.waiter !== resume) return // failed while attaching (already woken)
      this.paused = false
      this.readable.resume()
    })
    return Effect.suspend(() => {
      if (this.queued > 0) {
        const chunks = this.chunks
        this.chunks = []
        this.queued = 0
        this.unpause()
        return Effect.succeed(chunks as unknown as Chunks)
      }
      if (this.failure !== undefined) return Effect.fail(this.failure)
      if (this.done) return Cause.done()
      if (!this.attached) {
        const r = this.readable
        if (isEnded(r) && !r.destroyed && r.readableLength === 0) {
          this.done = true
          this.guardErrors()
          r.resume()
          this.settle()
          return Cause.done()
        }
      }
      return wait
    })
  }

  private stream_: Stream.Stream<Uint8Array, ConnectError.ConnectError> | undefined = undefined

  /** The body as a Stream (pull-based, with backpressure); built on first use. */
  get stream(): Stream.Stream<Uint8Array, ConnectError.ConnectError> {
    return (this.stream_ ??= Stream.fromPull(Effect.succeed(this.pull)))
  }

  /** True once the body has been read to its end. */
  get ended(): boolean {
    return this.done
  }
}

const noop = (): void => {}

const endLater = (reader: BodyReader): void => reader.ended_()

/**
 * The reader of a readable, for the listeners below: one set of listener functions for all
 * bodies instead of four bound closures per body (an open stream keeps them alive).
 */
const kReader = Symbol("@connect-effect/platform-node/BodyReader")
type Owned = Readable & { [kReader]?: BodyReader }

// EventEmitter calls listeners with the emitter as `this`
function onDataListener(this: Owned, chunk: Buffer): void {
  this[kReader]!.onData(chunk)
}
function onEndListener(this: Owned): void {
  this[kReader]!.onEnd()
}
function onErrorListener(this: Owned, error: unknown): void {
  this[kReader]!.onErrorEvent(error)
}
function onCloseListener(this: Owned): void {
  this[kReader]!.onClose()
}
