/**
 * Go's `chan T` for async code: buffered (`capacity > 0`, send waits only when full) and
 * unbuffered (`capacity 0`, send waits until a receiver takes the value: a rendezvous), `close`,
 * `for await` iteration, and {@link select} (in `select.ts`) over several channels.
 *
 * Semantics, following Go where JS allows:
 * - values are received in send order; waiting senders and receivers are served FIFO;
 * - `close()` lets receivers drain the buffer, then every receive answers `{ ok: false }`;
 *   senders blocked at close time, and later sends, reject with {@link ChannelClosedError}
 *   (Go panics). Closing twice is a no-op (Go panics): shutdown paths may race to close;
 * - an aborted `send`/`receive` leaves its queue and rejects with `signal.reason`; an
 *   already-aborted signal rejects at once and the operation has no effect.
 *
 * @example
 * ```ts
 * const jobs = new Channel<Job>(100)
 * void (async () => { for await (const job of jobs) await handle(job) })()
 * await jobs.send(job, request.signal)   // waits while 100 are queued
 * jobs.close()                           // the consumer loop ends once the buffer is drained
 * ```
 */
import { RESOLVED, WaitList, abortReason, type WaitNode } from './wait-list.ts'

/**
 * Sending on a closed channel (Go panics; here the send rejects).
 *
 * @example
 * ```ts
 * await out.send(v).catch((e) => { if (!(e instanceof ChannelClosedError)) throw e })
 * ```
 */
export class ChannelClosedError extends Error {
  constructor(message = 'send on closed channel') {
    super(message)
    this.name = 'ChannelClosedError'
  }
}

/** What a receive yields: a value, or `ok: false` once the channel is closed and drained. */
export type ReceiveResult<T> = { value: T; ok: true } | { value: undefined; ok: false }

/** Shared state of one `select` call: whichever channel fires first sets `done`. */
export interface SelectGroup {
  done: boolean
}

/** @internal a parked receiver (plain `receive` or one case of a `select`). */
export interface RecvWaiter<T> extends WaitNode<RecvWaiter<T>> {
  group: SelectGroup | null
  deliver(value: T | undefined, ok: boolean): void
}

/** @internal a parked sender. */
export interface SendWaiter<T> extends WaitNode<SendWaiter<T>> {
  group: SelectGroup | null
  value: T
  accepted(): void
  fail(err: Error): void
}

const CLOSED: { value: undefined; ok: false } = Object.freeze({ value: undefined, ok: false as const })

/** @internal hooks `select` uses; not part of the public surface. */
export const channelInternals = Symbol('highperf.channel.internals')

/** Internal operations of a channel, reached through {@link channelInternals}. */
export interface ChannelInternals<T> {
  pollRecv(): ReceiveResult<T> | undefined
  offer(value: T): boolean
  parkRecv(w: RecvWaiter<T>): void
  unparkRecv(w: RecvWaiter<T>): void
  parkSend(w: SendWaiter<T>): void
  unparkSend(w: SendWaiter<T>): void
}

/** A Go-style channel; see the module comment. */
export class Channel<T> {
  readonly #capacity: number
  // Ring buffer: a fixed array indexed modulo capacity, so steady-state traffic allocates nothing.
  readonly #buf: Array<T | undefined>
  #head = 0
  #count = 0
  #closed = false
  readonly #recvq = new WaitList<RecvWaiter<T>>()
  readonly #sendq = new WaitList<SendWaiter<T>>()
  #internals: ChannelInternals<T> | undefined

  /**
   * @param capacity buffer size; 0 (default) makes an unbuffered, rendezvous channel
   * @example
   * ```ts
   * const done = new Channel<void>()      // unbuffered
   * const results = new Channel<Result>(16)
   * ```
   */
  constructor(capacity = 0) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`Channel capacity must be a non-negative integer, got ${capacity}`)
    this.#capacity = capacity
    this.#buf = new Array<T | undefined>(capacity)
  }

  /** Buffer size given to the constructor. */
  get capacity(): number {
    return this.#capacity
  }

  /** Values buffered and not yet received. */
  get length(): number {
    return this.#count
  }

  /** Receivers parked in `receive` or a `select` (a gauge for "consumers idle"). */
  get waitingReceivers(): number {
    return this.#recvq.size
  }

  /** Senders parked in `send` or a `select` (a gauge for "producers blocked"). */
  get waitingSenders(): number {
    return this.#sendq.size
  }

  /** True once `close()` was called (values may still be buffered). */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Sends `value`: resolves once a receiver took it or it is buffered.
   *
   * @example
   * ```ts
   * await ch.send(item, AbortSignal.timeout(50))
   * ```
   */
  send(value: T, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal))
    if (this.#closed) return Promise.reject(new ChannelClosedError())
    if (this.#offer(value)) return RESOLVED
    return new Promise<void>((resolve, reject) => {
      let onAbort: (() => void) | undefined
      const w: SendWaiter<T> = {
        prev: null,
        next: null,
        linked: false,
        group: null,
        value,
        accepted() {
          if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        fail(err) {
          if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
          reject(err)
        },
      }
      if (signal !== undefined) {
        onAbort = () => {
          if (this.#sendq.remove(w)) reject(abortReason(signal))
        }
        signal.addEventListener('abort', onAbort, { once: true })
      }
      this.#sendq.push(w)
    })
  }

  /**
   * Sends without waiting: false when the value could not be buffered or handed over now.
   * Throws {@link ChannelClosedError} on a closed channel (a closed channel never has room).
   *
   * @example
   * ```ts
   * if (!events.trySend(ev)) dropped++
   * ```
   */
  trySend(value: T): boolean {
    if (this.#closed) throw new ChannelClosedError()
    return this.#offer(value)
  }

  /**
   * Receives the next value; `{ ok: false }` once the channel is closed and drained.
   *
   * @example
   * ```ts
   * const r = await ch.receive(signal)
   * if (r.ok) use(r.value)
   * ```
   */
  receive(signal?: AbortSignal): Promise<ReceiveResult<T>> {
    if (signal?.aborted) return Promise.reject(abortReason(signal))
    const r = this.#pollRecv()
    if (r !== undefined) return Promise.resolve(r)
    return new Promise<ReceiveResult<T>>((resolve, reject) => {
      let onAbort: (() => void) | undefined
      const w: RecvWaiter<T> = {
        prev: null,
        next: null,
        linked: false,
        group: null,
        deliver(value, ok) {
          if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
          resolve(ok ? { value: value as T, ok: true } : CLOSED)
        },
      }
      if (signal !== undefined) {
        onAbort = () => {
          if (this.#recvq.remove(w)) reject(abortReason(signal))
        }
        signal.addEventListener('abort', onAbort, { once: true })
      }
      this.#recvq.push(w)
    })
  }

  /**
   * Receives without waiting: undefined when nothing is ready (check `closed && length === 0`
   * to tell "closed and drained" from "empty for now").
   *
   * @example
   * ```ts
   * for (let r = ch.tryReceive(); r; r = ch.tryReceive()) batch.push(r.value)
   * ```
   */
  tryReceive(): { value: T; ok: true } | undefined {
    const r = this.#pollRecv()
    return r !== undefined && r.ok ? r : undefined
  }

  /**
   * Closes the channel: waiting receivers get `{ ok: false }`, waiting senders reject with
   * {@link ChannelClosedError}; buffered values can still be received. Idempotent.
   *
   * @example
   * ```ts
   * producerDone.then(() => ch.close())
   * ```
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (let w = this.#takeReceiver(); w !== null; w = this.#takeReceiver()) w.deliver(undefined, false)
    for (let w = this.#takeSender(); w !== null; w = this.#takeSender()) w.fail(new ChannelClosedError('channel closed while sending'))
  }

  /**
   * Yields every value until the channel is closed and drained (`for v := range ch`).
   *
   * @example
   * ```ts
   * for await (const v of ch) console.log(v)
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const r = await this.receive()
      if (!r.ok) return
      yield r.value
    }
  }

  /** @internal */
  get [channelInternals](): ChannelInternals<T> {
    return (this.#internals ??= {
      pollRecv: () => this.#pollRecv(),
      offer: (value) => this.#offer(value),
      parkRecv: (w) => this.#recvq.push(w),
      unparkRecv: (w) => void this.#recvq.remove(w),
      parkSend: (w) => this.#sendq.push(w),
      unparkSend: (w) => void this.#sendq.remove(w),
    })
  }

  /** Hands `value` to a waiting receiver or buffers it; false when neither is possible. */
  #offer(value: T): boolean {
    const r = this.#takeReceiver()
    if (r !== null) {
      r.deliver(value, true)
      return true
    }
    if (this.#count < this.#capacity) {
      this.#buf[(this.#head + this.#count) % this.#capacity] = value
      this.#count++
      return true
    }
    return false
  }

  /** Takes a value if one is ready; CLOSED when closed and drained; undefined when it must wait. */
  #pollRecv(): ReceiveResult<T> | undefined {
    if (this.#count > 0) {
      const value = this.#buf[this.#head] as T
      this.#buf[this.#head] = undefined
      this.#head = (this.#head + 1) % this.#capacity
      this.#count--
      // A slot opened: move the longest-waiting sender's value in, keeping send order.
      const s = this.#takeSender()
      if (s !== null) {
        this.#buf[(this.#head + this.#count) % this.#capacity] = s.value
        this.#count++
        s.accepted()
      }
      return { value, ok: true }
    }
    const s = this.#takeSender()
    if (s !== null) {
      s.accepted()
      return { value: s.value, ok: true }
    }
    return this.#closed ? CLOSED : undefined
  }

  /** Next receiver still able to take a value (skips `select` cases whose select already fired). */
  #takeReceiver(): RecvWaiter<T> | null {
    return takeLive(this.#recvq)
  }

  /** Next sender still able to hand over its value (same rule as {@link Channel.#takeReceiver}). */
  #takeSender(): SendWaiter<T> | null {
    return takeLive(this.#sendq)
  }
}

/**
 * Pops waiters until one can still be served: a plain waiter, or a `select` case whose select has
 * not fired yet (which it then marks fired, so no other case of that select is served too).
 */
function takeLive<W extends WaitNode<W> & { group: SelectGroup | null }>(q: WaitList<W>): W | null {
  for (let w = q.shift(); w !== null; w = q.shift()) {
    if (w.group === null) return w
    if (!w.group.done) {
      w.group.done = true
      return w
    }
  }
  return null
}
