/**
 * How long the primary waits before starting a server process again after it died: exponential,
 * from 100 ms doubling to 10 s, so a process that crashes at once keeps being retried without
 * spinning a core. The streak of a slot resets once its process has been ready for 30 s: a crash
 * after a long healthy run is restarted quickly again.
 *
 * @example
 * ```ts
 * const b = new Backoff()
 * b.next(0) // 100   (the process was never ready)
 * b.next(0) // 200
 * b.next(60_000) // 100 (it had been ready for a minute: the streak started over)
 * ```
 */

/** The settings of a {@link Backoff}; every field has a default. */
export interface BackoffOptions {
  /** First delay, ms (default 100). */
  initialMs?: number
  /** Longest delay, ms (default 10 s). */
  maxMs?: number
  /** A process ready at least this long (ms) resets the streak (default 30 s). */
  resetAfterMs?: number
}

/** The restart delays of one slot; see the module comment. */
export class Backoff {
  readonly initialMs: number
  readonly maxMs: number
  readonly resetAfterMs: number
  #streak = 0

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 100
    this.maxMs = options.maxMs ?? 10_000
    this.resetAfterMs = options.resetAfterMs ?? 30_000
  }

  /** Restarts in a row so far (after the reset rule). */
  get streak(): number {
    return this.#streak
  }

  /** The delay before the next restart, given how long (ms) the process that died had been ready (0: never). */
  next(readyForMs: number): number {
    if (readyForMs >= this.resetAfterMs) this.#streak = 0
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.#streak, 30))
    this.#streak++
    return delay
  }
}
