/**
 * The rate limiter of several server processes on one host (`PROCESSES` > 1, or `REUSE_PORT`
 * with `HIGHPERF_CLUSTER_RATE_TABLE`): the same token bucket per client as
 * {@link MemoryRateLimiter}, kept in a table every process maps (shared-table.ts), so a client's
 * allowance is the configured one whichever processes its connections land on.
 *
 * Why shared memory and not the bus or a store: a check is one hash, one clock read and one
 * uncontended compare-and-swap with no message, syscall or await (bench/rate-limit has the cost
 * next to the in-process limiter); the bus would add a round trip to every request, and Redis is
 * for several hosts (`RATE_LIMIT_URL`).
 *
 * "Within one burst": the buckets are exact across processes (every update is made under the
 * slot's lock), with three bounded ways to err, all towards letting traffic through:
 * - eviction, as in the in-process table: when all {@link PROBE} slots of a key's window are
 *   taken, the bucket that has refilled the most is forgotten (a full bucket is a fresh one);
 * - two processes inserting the same new key at the same instant can each create a bucket for it
 *   (their lock-free scans both miss the other's half-written key): at most one extra burst, once;
 * - a lock stolen from a holder that was descheduled, not dead (shared-table.ts): one token.
 *
 * Time is `Date.now()`: the wall clock is the one clock all processes read alike (a process's
 * `performance.now()` counts from its own start). Stamps from two processes can arrive a
 * millisecond out of order, so a bucket's time only moves forward; a clock stepped back by more
 * than {@link CLOCK_STEP_MS} is taken as the new time (as the in-process bucket does), so an NTP
 * step cannot freeze the refill.
 *
 * @example
 * ```ts
 * const limiter = new SharedRateLimiter({ table: config.clusterRateTable, rps: 1000, burst: 2000 })
 * limiter.consume('203.0.113.9').allowed
 * ```
 */
import type { Decision, RateLimiter } from './limiter.ts'
import { SharedTable, PROBE } from './shared-table.ts'

export { PROBE }

/** A backwards clock jump larger than this (ms) resets a bucket's time instead of freezing it. */
export const CLOCK_STEP_MS = 1000

/** Settings of {@link SharedRateLimiter}. */
export interface SharedRateLimiterOptions {
  /** The table file's path (zero-filled, a multiple of 4096 bytes), or a table already mapped. */
  table: string | SharedTable
  /** Tokens per second per client (> 0). */
  rps: number
  /** Bucket size per client (>= 1). */
  burst: number
  /** Clock in ms shared by every process (default `Date.now`); tests inject one. */
  now?: () => number
}

/**
 * Token bucket per client in a table shared by the processes of one host; see the module
 * comment. Like {@link MemoryRateLimiter}, `consume` returns the SAME Decision object every call.
 *
 * @example
 * ```ts
 * const a = new SharedRateLimiter({ table: path, rps: 1, burst: 4 }) // process 1
 * const b = new SharedRateLimiter({ table: path, rps: 1, burst: 4 }) // process 2
 * // four allowed between them, then one per second
 * ```
 */
export class SharedRateLimiter implements RateLimiter {
  readonly rps: number
  readonly burst: number
  readonly table: SharedTable
  readonly #perMs: number
  readonly #now: () => number
  readonly #decision: Decision
  // The time of the check in progress, for #fill (a method, not a closure per call).
  #at = 0
  readonly #fill = (slot: number): number => this.table.tokens(slot) + (this.#at - this.table.last(slot)) * this.#perMs

  constructor(options: SharedRateLimiterOptions) {
    if (!(options.rps > 0) || !Number.isFinite(options.rps)) throw new RangeError(`rate limit rps must be > 0, got ${options.rps}`)
    if (!(options.burst >= 1) || !Number.isFinite(options.burst)) throw new RangeError(`rate limit burst must be >= 1, got ${options.burst}`)
    this.rps = options.rps
    this.burst = options.burst
    this.#perMs = options.rps / 1000
    this.#now = options.now ?? Date.now
    this.table = typeof options.table === 'string' ? SharedTable.open(options.table) : options.table
    this.#decision = { allowed: true, limit: options.burst, remaining: options.burst, resetSec: 0, retryAfterSec: 0 }
  }

  consume(key: string): Decision {
    const t = this.table
    const burst = this.burst
    const now = this.#now()
    this.#at = now
    t.hash(key)
    const slot = t.candidate(this.#fill)
    const stamp = t.lock(slot)
    let tokens: number
    let last: number
    if (t.owner(slot) === 1) {
      tokens = t.tokens(slot)
      last = t.last(slot)
      // Whatever a torn or stolen update left, a bucket holds 0..burst tokens.
      if (!(tokens <= burst)) tokens = burst
      else if (!(tokens >= 0)) tokens = 0
    } else {
      // Empty, or the victim (or a key that took the slot since the scan: it loses a nearly
      // full bucket, see the module comment).
      t.claim(slot)
      tokens = burst
      last = now
    }
    const elapsed = now - last
    if (elapsed > 0) {
      tokens += elapsed * this.#perMs
      if (tokens > burst) tokens = burst
      last = now
    } else if (!(elapsed >= -CLOCK_STEP_MS)) {
      last = now
    }
    const allowed = tokens >= 1
    if (allowed) tokens -= 1
    t.write(slot, tokens, last)
    t.unlock(slot, stamp)

    const d = this.#decision
    d.allowed = allowed
    d.remaining = Math.floor(tokens)
    d.resetSec = Math.ceil((burst - tokens) / this.#perMs / 1000)
    d.retryAfterSec = allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / this.#perMs / 1000))
    return d
  }

  /**
   * The slot holding `key`'s bucket, or -1 when the table has none (diagnostics and tests).
   *
   * @example limiter.slotOf('203.0.113.9') // e.g. 40213
   */
  slotOf(key: string): number {
    this.table.hash(key)
    return this.table.lookup()
  }
}
