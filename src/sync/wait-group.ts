/**
 * Go's `sync.WaitGroup`: count outstanding work, wait for the count to reach zero. The job
 * runner's `close()` uses it to wait for running jobs within the shutdown grace period.
 *
 * @example
 * ```ts
 * const wg = new WaitGroup()
 * for (const url of urls) {
 *   wg.add()
 *   fetch(url).finally(() => wg.done())
 * }
 * await wg.wait(AbortSignal.timeout(5_000))
 * ```
 */
import { RESOLVED, WaitList, abortReason, type WaitNode } from './wait-list.ts'

interface Waiter extends WaitNode<Waiter> {
  resolve(): void
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

/** Counter of outstanding work; see the module comment. */
export class WaitGroup {
  #count = 0
  readonly #waiters = new WaitList<Waiter>()

  /** Outstanding work. */
  get count(): number {
    return this.#count
  }

  /**
   * Adds `n` (may be negative) to the counter; waiters wake when it reaches zero. A counter that
   * would go negative throws and stays unchanged: more `done()` than `add()` is a bug (Go panics).
   *
   * @example
   * ```ts
   * wg.add(items.length)
   * ```
   */
  add(n = 1): void {
    if (!Number.isInteger(n)) throw new RangeError(`WaitGroup.add needs an integer, got ${n}`)
    const next = this.#count + n
    if (next < 0) throw new RangeError('WaitGroup: negative counter')
    this.#count = next
    if (next === 0) {
      for (let w = this.#waiters.shift(); w !== null; w = this.#waiters.shift()) {
        if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort)
        w.resolve()
      }
    }
  }

  /**
   * Marks one piece of work finished: `add(-1)`.
   *
   * @example
   * ```ts
   * try { await work() } finally { wg.done() }
   * ```
   */
  done(): void {
    this.add(-1)
  }

  /**
   * Resolves when the counter is zero (at once if it already is). On abort it rejects with
   * `signal.reason` and leaves the work running: a drain that gives up does not cancel anything.
   *
   * @example
   * ```ts
   * await wg.wait(AbortSignal.timeout(shutdownMs)).catch(() => log.warn('drain timed out'))
   * ```
   */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.#count === 0) return RESOLVED
    if (signal?.aborted) return Promise.reject(abortReason(signal))
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { prev: null, next: null, linked: false, resolve, signal, onAbort: undefined }
      if (signal !== undefined) {
        w.onAbort = () => {
          if (this.#waiters.remove(w)) reject(abortReason(signal))
        }
        signal.addEventListener('abort', w.onAbort, { once: true })
      }
      this.#waiters.push(w)
    })
  }
}
