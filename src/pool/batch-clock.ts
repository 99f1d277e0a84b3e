/**
 * The pool's batch clock: `performance.now()` read at most once per microtask batch. A clock read
 * costs ~45 ns here (micro-benchmark), and queue-wait stats, deadlines and the hand-off's
 * `frontSince` read it per run: two reads per queued run were ~90 ns of the ~0.57 µs the main
 * thread spent per run in the pipelined echo (bench/pool "echo/s"). The value is at most one
 * batch of synchronous work old.
 *
 * @example
 * ```ts
 * const clock = new BatchClock()
 * run.acceptedAt = clock.now() // the same reading for the rest of this microtask batch
 * ```
 */

/** A `performance.now()` shared by everything that runs in one microtask batch. */
export class BatchClock {
  /** The reading of this batch (0: not read yet in this batch; #flush clears it). */
  #now = 0
  /** A #flush microtask is queued. */
  #flushQueued = false

  /** performance.now() as read once in this microtask batch. */
  now(): number {
    if (this.#now !== 0) return this.#now
    this.#now = performance.now()
    if (!this.#flushQueued) {
      this.#flushQueued = true
      queueMicrotask(this.#flush)
    }
    return this.#now
  }

  /** End of a microtask batch: forget the reading. */
  readonly #flush = (): void => {
    this.#flushQueued = false
    this.#now = 0
  }
}
