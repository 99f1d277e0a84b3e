/**
 * One timer set to the earliest moment something is due (the next delayed job's `runAt`): asking
 * for a later moment keeps the earlier one, asking for an earlier one moves it.
 *
 * Why the cap: `setTimeout` honours at most 2^31 - 1 ms (~24.8 days) and fires after 1 ms past
 * it; a job delayed 30 days (delayMs allows it) made the runner poll every millisecond.
 *
 * @example
 * ```ts
 * const wake = new WakeTimer(() => pump(), Date.now)
 * wake.at(Date.now() + 5000) // pump() in 5 s
 * wake.at(Date.now() + 9000) // no change: 5 s is earlier
 * wake.clear()
 * ```
 */
import { MAX_TIMER_MS } from '../sync/wait-list.ts'

/** See the file comment. */
export class WakeTimer {
  #timer: ReturnType<typeof setTimeout> | undefined
  #at = Infinity

  /** `fire` runs once at the earliest moment asked; `now` is the clock the moments are read on. */
  constructor(private readonly fire: () => void, private readonly now: () => number) {}

  /** Fires at `at` (ms on the clock) unless an earlier wake is already set. The timer is unref'd. */
  at(at: number): void {
    if (at >= this.#at) return
    this.clear()
    this.#at = at
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - this.now()))
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#at = Infinity
      this.fire()
    }, delay)
    this.#timer.unref?.()
  }

  /** Cancels the pending wake, if any. */
  clear(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#at = Infinity
  }
}
