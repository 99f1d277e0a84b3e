/**
 * A token bucket (Go's `golang.org/x/time/rate.Limiter` in its `Allow`/`Reserve` subset): holds up
 * to `burst` tokens, refills at `ratePerSec`, and each admitted event takes tokens.
 *
 * `take()` is on the rate limiter's hot path (one call per request), so it allocates nothing and
 * never returns a promise: the bucket is two numbers refilled lazily from the clock on use, with
 * no timer per bucket. bench/sync measures it at ~0.07-0.15x the cost of the same bucket behind a
 * promise-returning `consume()` (`bun bench/sync/index.ts`). A bucket
 * whose `resetMs()` is 0 is full, i.e. indistinguishable from a fresh one, so a per-client table
 * may evict it without changing anyone's limit.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket(1000, 1000)        // 1000 req/s, bursts of 1000
 * if (!bucket.take()) {
 *   set.headers['retry-after'] = String(Math.ceil(bucket.retryAfterMs() / 1000))
 *   throw new AppError('rate_limited')
 * }
 * ```
 */

/** A lazily refilled token bucket; see the module comment. */
export class TokenBucket {
  readonly ratePerSec: number
  readonly burst: number
  readonly #perMs: number
  readonly #now: () => number
  #tokens: number
  #last: number

  /**
   * @param ratePerSec tokens added per second (> 0)
   * @param burst bucket size and initial fill (>= 1)
   * @param now clock in milliseconds (default `performance.now`, monotonic); inject one in tests
   * @example
   * ```ts
   * let t = 0
   * const b = new TokenBucket(10, 5, () => t)
   * ```
   */
  constructor(ratePerSec: number, burst: number, now: () => number = () => performance.now()) {
    if (!(ratePerSec > 0) || !Number.isFinite(ratePerSec)) throw new RangeError(`TokenBucket rate must be a positive number, got ${ratePerSec}`)
    if (!(burst >= 1) || !Number.isFinite(burst)) throw new RangeError(`TokenBucket burst must be >= 1, got ${burst}`)
    this.ratePerSec = ratePerSec
    this.burst = burst
    this.#perMs = ratePerSec / 1000
    this.#now = now
    this.#tokens = burst
    this.#last = now()
  }

  /**
   * Takes `n` tokens if the bucket holds them; never waits. Taking 0 just refills.
   *
   * `now` (same clock as the constructor's) lets a caller that already read the time for this
   * request pass it in: a clock read costs ~40-100 ns on this machine, about 5x the rest of `take()`
   * (`bun bench/sync/index.ts`, bench/results/sync.md).
   *
   * @example
   * ```ts
   * if (!bucket.take()) return tooMany()
   * if (!bucket.take(1, requestStart)) return tooMany()
   * ```
   */
  take(n = 1, now?: number): boolean {
    this.#refill(now)
    if (this.#tokens < n) return false
    this.#tokens -= n
    return true
  }

  /** Whole tokens available now (the `RateLimit-Remaining` header). */
  get remaining(): number {
    this.#refill()
    return Math.floor(this.#tokens)
  }

  /**
   * Milliseconds until `n` tokens will be available (0 if they are now; Infinity if `n > burst`,
   * which can never succeed). Feeds `Retry-After`. `now` as in {@link TokenBucket.take}.
   *
   * @example
   * ```ts
   * const seconds = Math.ceil(bucket.retryAfterMs() / 1000)
   * ```
   */
  retryAfterMs(n = 1, now?: number): number {
    if (n > this.burst) return Infinity
    this.#refill(now)
    return this.#tokens >= n ? 0 : (n - this.#tokens) / this.#perMs
  }

  /**
   * Milliseconds until the bucket is full again (the `RateLimit-Reset` header; 0 when full).
   * `now` as in {@link TokenBucket.take}.
   *
   * @example
   * ```ts
   * set.headers['ratelimit-reset'] = String(Math.ceil(bucket.resetMs() / 1000))
   * ```
   */
  resetMs(now?: number): number {
    this.#refill(now)
    return (this.burst - this.#tokens) / this.#perMs
  }

  #refill(at?: number): void {
    const now = at ?? this.#now()
    const elapsed = now - this.#last
    this.#last = now
    // A clock that stepped back grants nothing (and does not take tokens away either).
    if (elapsed > 0) {
      const t = this.#tokens + elapsed * this.#perMs
      this.#tokens = t > this.burst ? this.burst : t
    }
  }
}
