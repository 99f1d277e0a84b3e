/**
 * The rate limiter behind the rate-limit plugin: an interface any store can implement (a Redis
 * one for several hosts, later) and the in-process implementation, a token bucket per client in a
 * bounded LRU table.
 *
 * Memory is bounded by `maxClients`: the table holds at most that many buckets and evicts the
 * least recently used one to admit a new client. An idle bucket refills to full, and a full bucket
 * is indistinguishable from a fresh one, so evicting it changes nobody's limit. Only when more than
 * `maxClients` clients are active within one refill period (burst / rps seconds) can an evicted,
 * partly drained bucket come back full: the limit errs towards letting traffic through, memory
 * never grows.
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
 * promise and sets `async: true` so the plugin mounts an async hook; the in-process one answers
 * synchronously.
 *
 * @example
 * ```ts
 * class RedisRateLimiter implements RateLimiter {
 *   readonly async = true
 *   async consume(key: string): Promise<Decision> { ... }
 * }
 * ```
 */
export interface RateLimiter {
  readonly async?: boolean
  consume(key: string): Decision | Promise<Decision>
}

/** Settings of {@link MemoryRateLimiter}. */
export interface MemoryRateLimiterOptions {
  /** Tokens per second per client (> 0). */
  rps: number
  /** Bucket size per client (>= 1). */
  burst: number
  /** Most clients remembered at once (default 50 000, about 5 MB). */
  maxClients?: number
  /** Clock in ms (default `performance.now`); tests inject one. */
  now?: () => number
}

/** The default bound of the per-client table. */
export const DEFAULT_MAX_CLIENTS = 50_000

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
  readonly #now: () => number
  readonly #table: LRUCache<string, TokenBucket>
  readonly #decision: Decision

  constructor(options: MemoryRateLimiterOptions) {
    if (!(options.rps > 0)) throw new RangeError(`rate limit rps must be > 0, got ${options.rps}`)
    this.rps = options.rps
    this.burst = options.burst
    this.#now = options.now ?? (() => performance.now())
    this.#table = new LRUCache<string, TokenBucket>({ max: options.maxClients ?? DEFAULT_MAX_CLIENTS })
    this.#decision = { allowed: true, limit: options.burst, remaining: options.burst, resetSec: 0, retryAfterSec: 0 }
  }

  /** Clients currently remembered (never above `maxClients`). */
  get size(): number {
    return this.#table.size
  }

  consume(key: string): Decision {
    let bucket = this.#table.get(key)
    if (bucket === undefined) {
      bucket = new TokenBucket(this.rps, this.burst, this.#now)
      this.#table.set(key, bucket)
    }
    const d = this.#decision
    d.allowed = bucket.take()
    d.remaining = bucket.remaining
    d.resetSec = Math.ceil(bucket.resetMs() / 1000)
    d.retryAfterSec = d.allowed ? 0 : Math.max(1, Math.ceil(bucket.retryAfterMs() / 1000))
    return d
  }
}
