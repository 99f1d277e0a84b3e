/**
 * A weighted, FIFO-fair counting semaphore: Go's `golang.org/x/sync/semaphore.Weighted`, with an
 * `AbortSignal` where Go takes a `context.Context`.
 *
 * Fairness: waiters are served strictly in arrival order, and a large request at the head blocks
 * smaller ones behind it (as in Go), so a heavy caller cannot be starved by a stream of light ones.
 * `tryAcquire` never barges ahead of a waiter.
 *
 * @example
 * ```ts
 * const llm = new Semaphore(4)                         // at most 4 upstream calls at once
 * const answer = await llm.use(() => fetch(url, { signal }), signal)
 * ```
 */
import { RESOLVED, WaitList, abortReason, type WaitNode } from './wait-list.ts'

interface Waiter extends WaitNode<Waiter> {
  weight: number
  resolve(): void
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

/** Counting semaphore with optional weights; see the module comment. */
export class Semaphore {
  readonly #capacity: number
  #available: number
  readonly #queue = new WaitList<Waiter>()

  /**
   * @param capacity total weight that may be held at once (a positive integer)
   * @example
   * ```ts
   * const sem = new Semaphore(2)
   * ```
   */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`Semaphore capacity must be a positive integer, got ${capacity}`)
    this.#capacity = capacity
    this.#available = capacity
  }

  /** Total weight the semaphore admits. */
  get capacity(): number {
    return this.#capacity
  }

  /** Weight that can be acquired right now (ignoring waiters ahead). */
  get available(): number {
    return this.#available
  }

  /** Number of callers queued in `acquire`. */
  get waiting(): number {
    return this.#queue.size
  }

  /**
   * Waits until `weight` units are free, in FIFO order. On abort the caller leaves the queue and
   * the promise rejects with `signal.reason`; an already-aborted signal rejects at once, even when
   * units are free (unlike Go, which may still succeed), so "aborted" always means "not held".
   *
   * @example
   * ```ts
   * await sem.acquire(AbortSignal.timeout(100))
   * try { await work() } finally { sem.release() }
   * ```
   */
  acquire(signal?: AbortSignal, weight = 1): Promise<void> {
    try {
      this.#check(weight)
    } catch (err) {
      return Promise.reject(err)
    }
    if (signal?.aborted) return Promise.reject(abortReason(signal))
    if (this.#queue.size === 0 && this.#available >= weight) {
      this.#available -= weight
      return RESOLVED
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { prev: null, next: null, linked: false, weight, resolve, signal, onAbort: undefined }
      if (signal !== undefined) {
        w.onAbort = () => {
          const wasHead = this.#queue.head === w
          if (!this.#queue.remove(w)) return
          reject(abortReason(signal))
          // The head may have been the only thing blocking smaller waiters behind it.
          if (wasHead) this.#wake()
        }
        signal.addEventListener('abort', w.onAbort, { once: true })
      }
      this.#queue.push(w)
    })
  }

  /**
   * Takes `weight` units if they are free and nobody is waiting; never blocks.
   *
   * @example
   * ```ts
   * if (!sem.tryAcquire()) throw new AppError('overloaded')
   * ```
   */
  tryAcquire(weight = 1): boolean {
    this.#check(weight)
    if (this.#queue.size !== 0 || this.#available < weight) return false
    this.#available -= weight
    return true
  }

  /**
   * Returns `weight` units and wakes the waiters they now satisfy. Releasing more than is held is
   * a bug and throws (Go panics), rather than silently raising the capacity.
   *
   * @example
   * ```ts
   * sem.release(3)
   * ```
   */
  release(weight = 1): void {
    this.#check(weight)
    if (this.#available + weight > this.#capacity) throw new Error('Semaphore: released more than held')
    this.#available += weight
    this.#wake()
  }

  /**
   * Acquires one unit, runs `fn`, and releases whatever happens.
   *
   * @example
   * ```ts
   * const body = await sem.use(() => fetch(url).then((r) => r.text()), signal)
   * ```
   */
  async use<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal)
    try {
      return await fn()
    } finally {
      this.release()
    }
  }

  #wake(): void {
    for (let w = this.#queue.head; w !== null && w.weight <= this.#available; w = this.#queue.head) {
      this.#queue.remove(w)
      this.#available -= w.weight
      if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort)
      w.resolve()
    }
  }

  #check(weight: number): void {
    if (!Number.isInteger(weight) || weight < 1 || weight > this.#capacity) {
      throw new RangeError(`Semaphore weight must be an integer in 1..${this.#capacity}, got ${weight}`)
    }
  }
}
