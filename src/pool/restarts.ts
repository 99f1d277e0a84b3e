/**
 * How long the pool waits before replacing a lost worker, so that a crash loop never becomes a
 * CPU loop and a worker that cannot even start (a broken task module) is not respawned hot.
 *
 * - A worker that was ready and crashed is replaced at once, unless more than 2 × workers
 *   crashes came within the last second: then 25 ms per recent crash, at most 1 s.
 * - A worker that died before it was ready backs off exponentially: 100 ms, 200 ms, … up to 30 s,
 *   until one starts.
 *
 * @example
 * ```ts
 * const backoff = new RestartBackoff(2)
 * backoff.next(true)  // 0: replace it now
 * backoff.next(false) // 100: it never started; wait
 * ```
 */

/** Counts recent losses and gives the delay before the next spawn. */
export class RestartBackoff {
  /** When recent crashes happened (performance.now ms), oldest first, within the last second. */
  readonly #crashes: number[] = []
  /** Workers lost in a row before they were ready. */
  #startFailures = 0

  constructor(private readonly workers: number) {}

  /** Records a loss and returns the delay (ms) before its replacement; `wasReady`: it had started. */
  next(wasReady: boolean, now = performance.now()): number {
    this.#crashes.push(now)
    while (this.#crashes.length > 0 && (this.#crashes[0] as number) < now - 1000) this.#crashes.shift()
    this.#startFailures = wasReady ? 0 : this.#startFailures + 1
    if (this.#startFailures > 0) return Math.min(30_000, 50 * 2 ** Math.min(this.#startFailures, 10))
    return this.#crashes.length > 2 * this.workers ? Math.min(1000, 25 * this.#crashes.length) : 0
  }
}
