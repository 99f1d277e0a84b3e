/**
 * `RATE_LIMIT_URL=redis://…`: per-client limits shared by every highperf node through Redis,
 * with rate-limiter-flexible's `RateLimiterRedis` over ioredis, and the local limiter as insurance
 * while Redis cannot answer.
 *
 * The window. `RateLimiterRedis` is a fixed window (`SET NX EX` + `INCRBY` in one Lua script), not
 * a token bucket. It is mapped onto the same two settings as the in-process bucket: a client may
 * make `RATE_LIMIT_BURST` requests per window of `ceil(BURST / RPS)` seconds, so the long-run
 * rate is at most `RATE_LIMIT_RPS` (exactly it when RPS divides BURST). Unlike the bucket, a
 * client can spend a whole window's allowance at the end of one window and again at the start of
 * the next: up to 2 × BURST within a moment, never more than BURST per window. The `RateLimit-*`
 * headers keep their meaning: Limit is BURST, Remaining what is left in this window, Reset the
 * seconds until the window ends (and `Retry-After` on a 429).
 *
 * The client. ioredis, not Bun's built-in `RedisClient`: ioredis has a per-command timeout
 * (`commandTimeout`), Bun's client has none, and a check that waits on a hung Redis holds its
 * request with it (a command in flight when Redis hung waited > 40 s here). The settings are the
 * measured ones (docs/resilience.md#rate-limits-across-hosts): `commandTimeout` 50 ms,
 * `enableOfflineQueue: false` and `rejectIfRedisNotReady` (no queueing while disconnected: fail at
 * once), `maxRetriesPerRequest: 1` (a command in flight when the connection drops is not carried
 * through 20 reconnects).
 *
 * The fallback. Any Redis failure (down, refused, timed out, not ready yet) answers that check from
 * `insurance`, the limiter this process would use without Redis, so a Redis outage never fails or
 * stalls a request. Meanwhile every process limits alone: N processes allow up to N × the limit.
 * The first fallback of an outage logs one warning, the first Redis answer after it one info line;
 * each fallback counts in `http_rate_limit_fallbacks_total`.
 *
 * @example
 * ```ts
 * const limiter = new RedisRateLimiter({ url: 'redis://127.0.0.1:6379', rps: 100, burst: 200, insurance: new MemoryRateLimiter({ rps: 100, burst: 200 }) })
 * const d = await limiter.consume('203.0.113.9') // { allowed: true, limit: 200, remaining: 199, resetSec: 2, retryAfterSec: 0 }
 * await limiter.close()
 * ```
 */
import { Redis } from 'ioredis'
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible'
import type { Logger } from '../../log.ts'
import { fillTracingChannelHasSubscribers } from '../../node-compat.ts'
import type { Decision, RateLimiter } from './limiter.ts'

/** Milliseconds a Redis command may take before the check falls back (ioredis `commandTimeout`). */
export const REDIS_COMMAND_TIMEOUT_MS = 50

/** Settings of {@link RedisRateLimiter}. */
export interface RedisRateLimiterOptions {
  /** `RATE_LIMIT_URL`: redis:// or rediss://. */
  url: string
  /** `RATE_LIMIT_RPS` (> 0). */
  rps: number
  /** `RATE_LIMIT_BURST` (>= 1): the requests allowed per window. */
  burst: number
  /** Answers while Redis cannot: the process's own limiter. */
  insurance: RateLimiter
  /** Prefix of the Redis keys (default `highperf:rl`); nodes that share limits share it. */
  keyPrefix?: string
  /** Default {@link REDIS_COMMAND_TIMEOUT_MS}. */
  commandTimeoutMs?: number
  /** Where the outage and recovery lines go. */
  log?: Pick<Logger, 'warn' | 'info'>
  /** Called once per check answered by the insurance (the fallback metric). */
  onFallback?: () => void
}

/**
 * The window of `RATE_LIMIT_BURST` requests that keeps the long-run rate at most `RATE_LIMIT_RPS`:
 * `ceil(burst / rps)` seconds, at least 1.
 *
 * @example windowSeconds(1000, 2000) // 2; windowSeconds(3, 10) // 4
 */
export function windowSeconds(rps: number, burst: number): number {
  return Math.max(1, Math.ceil(burst / rps))
}

/** See the module comment. */
export class RedisRateLimiter implements RateLimiter {
  readonly #client: Redis
  readonly #limiter: RateLimiterRedis
  readonly #insurance: RateLimiter
  readonly #burst: number
  readonly #log: Pick<Logger, 'warn' | 'info'> | undefined
  readonly #onFallback: (() => void) | undefined
  #down = false
  #fallbacks = 0

  constructor(options: RedisRateLimiterOptions) {
    if (!(options.rps > 0)) throw new RangeError(`rate limit rps must be > 0, got ${options.rps}`)
    this.#burst = options.burst
    this.#insurance = options.insurance
    this.#log = options.log
    this.#onFallback = options.onFallback
    // ioredis traces every command on Bun unless this getter exists (src/node-compat.ts).
    fillTracingChannelHasSubscribers()
    this.#client = new Redis(options.url, {
      commandTimeout: options.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // Reconnect soon after an outage, at most a second apart.
      retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
    })
    // Without a listener ioredis prints every connection error; the outage is logged once below.
    this.#client.on('error', () => {})
    this.#limiter = new RateLimiterRedis({
      storeClient: this.#client,
      keyPrefix: options.keyPrefix ?? 'highperf:rl',
      points: options.burst,
      duration: windowSeconds(options.rps, options.burst),
      rejectIfRedisNotReady: true,
    })
  }

  /**
   * Resolves once the connection is ready, or after `timeoutMs` (never rejects): checks made
   * before that are answered by the insurance. `buildDeps` waits a moment at start.
   *
   * @example const shared = await limiter.ready(500) // false: Redis did not answer in time
   */
  async ready(timeoutMs: number): Promise<boolean> {
    if (this.#client.status === 'ready') return true
    const client = this.#client
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer)
        client.off('ready', onReady)
        resolve(ok)
      }
      const onReady = () => done(true)
      const timer = setTimeout(() => done(false), timeoutMs)
      client.on('ready', onReady)
    })
  }

  /** Checks answered by the insurance since start. */
  get fallbacks(): number {
    return this.#fallbacks
  }

  consume(key: string): Promise<Decision> {
    return this.#limiter.consume(key).then((res) => this.#decision(true, res), (err: unknown) => {
      if (err instanceof RateLimiterRes) return this.#decision(false, err)
      return this.#fallback(err, key)
    })
  }

  #decision(allowed: boolean, res: RateLimiterRes): Decision {
    if (this.#down) {
      this.#down = false
      this.#log?.info('rate limit: Redis answers again; limits are shared across nodes again')
    }
    const resetSec = Math.max(0, Math.ceil(res.msBeforeNext / 1000))
    return { allowed, limit: this.#burst, remaining: res.remainingPoints, resetSec, retryAfterSec: allowed ? 0 : Math.max(1, resetSec) }
  }

  async #fallback(err: unknown, key: string): Promise<Decision> {
    this.#fallbacks++
    this.#onFallback?.()
    if (!this.#down) {
      this.#down = true
      this.#log?.warn({ err }, 'rate limit: Redis (RATE_LIMIT_URL) does not answer; each process limits alone until it does')
    }
    // Copied: the in-process limiter reuses its Decision object.
    return { ...(await this.#insurance.consume(key)) }
  }

  /** Closes the connection (at once: a down Redis would never answer a QUIT). */
  close(): void {
    this.#client.disconnect()
  }
}
