/**
 * The rate limiter behind the rate-limit plugin: an interface any store can implement (a Redis
 * one for several hosts, later) and the in-process implementation, a token bucket per client in a
 * bounded LRU table.
 *
 * Memory is bounded by `maxClients`: the table holds at most that many buckets and evicts the
 * least recently used one to admit a new client. It starts small ({@link INITIAL_CAPACITY}) and
 * grows fourfold whenever it is full, up to `maxClients`: an `LRUCache` allocates index arrays for
 * its whole `max` up front (~1.4 MB for 50 000), which an idle server or one with few clients
 * would carry for nothing (docs/operations.md#startup-time-and-memory).
 *
 * An idle bucket refills to full, and a full bucket is indistinguishable from a fresh one, so
 * evicting it changes nobody's limit. Only when more than `maxClients` clients are active within
 * one refill period (burst / rps seconds) can an evicted, partly drained bucket come back full:
 * the limit errs towards letting traffic through, memory never grows.
 *
 * @example
 * ```ts
 * const limiter = new MemoryRateLimiter({ rps: 1000, burst: 2000 })
 * const d = limiter.consume('203.0.113.9')
 * if (!d.allowed) throw new AppError('rate_limited', undefined, { retryAfter: d.retryAfterSec })
 * ```
 */
import { LRUCache } from 'lru-cache'
import { TokenBucket } from '../../sync/token-bucket.ts'

/** The verdict for one request. */
export interface Decision {
  allowed: boolean
  /** Bucket size (`RateLimit-Limit`). */
  limit: number
  /** Whole tokens left after this request (`RateLimit-Remaining`). */
  remaining: number
  /** Seconds until the bucket is full again (`RateLimit-Reset`). */
  resetSec: number
  /** Seconds until one token is available (`Retry-After` on a 429); 0 when allowed. */
  retryAfterSec: number
}

/**
 * Decides whether a client may make one more request. A shared store (Redis) answers with a
 * promise (the rate-limit stage returns it and the front awaits it); the in-process one answers
 * synchronously, so the common path never awaits.
 *
 * @example
 * ```ts
 * class RedisRateLimiter implements RateLimiter {
 *   async consume(key: string): Promise<Decision> { ... }
 * }
 * ```
 */
export interface RateLimiter {
  consume(key: string): Decision | Promise<Decision>
}

/** Settings of {@link MemoryRateLimiter}. */
export interface MemoryRateLimiterOptions {
  /** Tokens per second per client (> 0). */
  rps: number
  /** Bucket size per client (>= 1). */
  burst: number
  /** Most clients remembered at once (default 50 000, about 5 MB when that many are seen). */
  maxClients?: number
  /** Clock in ms (default `performance.now`); tests inject one. */
  now?: () => number
}

/** The default bound of the per-client table. */
export const DEFAULT_MAX_CLIENTS = 50_000

/** Buckets the table has room for before its first growth (then ×4 each time, up to `maxClients`). */
export const INITIAL_CAPACITY = 1024

/**
 * Token bucket per client in a bounded LRU table; see the module comment.
 *
 * `consume` returns the SAME Decision object every call (overwritten each time): the hot path
 * allocates nothing but a bucket for a client it has not seen. Read it before the next call.
 *
 * @example
 * ```ts
 * const limiter = new MemoryRateLimiter({ rps: 10, burst: 5, now: () => fakeNow })
 * limiter.consume('a').allowed // true, five times, then false
 * ```
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly rps: number
  readonly burst: number
  readonly maxClients: number
  readonly #now: () => number
  #table: LRUCache<string, TokenBucket>
  readonly #decision: Decision

  constructor(options: MemoryRateLimiterOptions) {
    if (!(options.rps > 0)) throw new RangeError(`rate limit rps must be > 0, got ${options.rps}`)
    this.rps = options.rps
    this.burst = options.burst
    this.maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS
    if (!(this.maxClients >= 1)) throw new RangeError(`rate limit maxClients must be >= 1, got ${options.maxClients}`)
    this.#now = options.now ?? (() => performance.now())
    this.#table = new LRUCache<string, TokenBucket>({ max: Math.min(INITIAL_CAPACITY, this.maxClients) })
    this.#decision = { allowed: true, limit: options.burst, remaining: options.burst, resetSec: 0, retryAfterSec: 0 }
  }

  /** Clients currently remembered (never above `maxClients`). */
  get size(): number {
    return this.#table.size
  }

  /** Buckets the table holds before it grows or, at `maxClients`, evicts. */
  get capacity(): number {
    return this.#table.max
  }

  consume(key: string): Decision {
    let bucket = this.#table.get(key)
    if (bucket === undefined) {
      bucket = new TokenBucket(this.rps, this.burst, this.#now)
      if (this.#table.size === this.#table.max && this.#table.max < this.maxClients) this.#grow()
      this.#table.set(key, bucket)
    }
    const d = this.#decision
    d.allowed = bucket.take()
    d.remaining = bucket.remaining
    d.resetSec = Math.ceil(bucket.resetMs() / 1000)
    d.retryAfterSec = d.allowed ? 0 : Math.max(1, Math.ceil(bucket.retryAfterMs() / 1000))
    return d
  }

  /** Moves every bucket to a table four times larger (a few ms at 16k clients, three times at most). */
  #grow(): void {
    const bigger = new LRUCache<string, TokenBucket>({ max: Math.min(this.#table.max * 4, this.maxClients) })
    // Least recently used first: re-inserting in this order keeps the eviction order.
    for (const key of this.#table.rkeys()) bigger.set(key, this.#table.peek(key) as TokenBucket)
    this.#table = bigger
  }
}
