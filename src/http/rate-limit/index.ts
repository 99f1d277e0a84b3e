/**
 * Rate limiting: a token bucket per client (`RATE_LIMIT_RPS` refill, `RATE_LIMIT_BURST` size).
 * Over the limit → 429 `rate_limited` with `Retry-After`; every limited response carries
 * `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (IETF draft
 * "RateLimit header fields for HTTP"). Routes whose policy exempts them (`exempt.rateLimit`: the
 * probes and the scrape, src/routes/policy.ts) are never counted.
 * `RATE_LIMIT_RPS=0` adds no work (benchmarks).
 *
 * With `RATE_LIMIT_URL` the limiter is Redis-backed and shared by every node (./redis.ts: a
 * fixed window, the local limiter as insurance while Redis cannot answer); `buildDeps` builds it
 * and passes it as `limiter`.
 *
 * The client is the socket peer (`X-Forwarded-For` only with `TRUST_PROXY`, see client-ip.ts;
 * IPv6 clients by their /64, which one host usually owns whole),
 * or, when `API_TOKEN` auth is on and the request carries the valid token, the token's identity:
 * all holders of the one token share one bucket, and an invalid token never buys a fresh bucket
 * (it is keyed by address like an anonymous request).
 *
 * Runs in the front's `before`, before auth (so token guessing is rate limited too) and before the body is
 * read. Hot path cost: one LRU lookup and three header strings; the Decision object is reused and
 * the `RateLimit-Limit` value is one precomputed string (bench/middleware).
 *
 * @example
 * ```ts
 * const limit = rateLimit({ rps: 1000, burst: 2000, trustProxy: false, apiToken: '' })
 * createFront(app, [..., limit, ...], options)
 * ```
 */
import { AppError } from '../../errors.ts'
import { TokenVerifier } from '../bearer-token.ts'
import { clientBucket } from '../client-ip.ts'
import type { Stage } from '../front/index.ts'
import type { Quota, RequestState } from '../request-state.ts'
import { MemoryRateLimiter, type Decision, type RateLimiter } from './limiter.ts'

export { MemoryRateLimiter, DEFAULT_MAX_CLIENTS, type Decision, type RateLimiter } from './limiter.ts'

/** Settings of {@link rateLimit}. */
export interface RateLimitOptions {
  /** Refill per client per second; 0 disables the plugin. */
  rps: number
  burst: number
  trustProxy: boolean
  /** `API_TOKEN`: when set, a request with the valid token is keyed by the token, not the address. */
  apiToken: string
  /** A limiter to use instead of the in-process one (e.g. Redis-backed). */
  limiter?: RateLimiter
  /** Bound of the in-process table. */
  maxClients?: number
  /** Clock for the in-process limiter (tests). */
  now?: () => number
  /** Called once per 429 (the metrics part counts `http_rate_limit_rejections_total`). */
  onRejected?: () => void
}

/**
 * The limiter of this host alone: what the stage uses without `RATE_LIMIT_URL`, and the Redis
 * limiter's insurance while Redis cannot answer. One place to choose it, so both follow the same
 * choice.
 *
 * @example localLimiter({ rps: 1000, burst: 2000, trustProxy: false, apiToken: '' }).consume('a').allowed // true
 */
export function localLimiter(options: RateLimitOptions): RateLimiter {
  return new MemoryRateLimiter({
    rps: options.rps,
    burst: options.burst,
    ...(options.maxClients !== undefined ? { maxClients: options.maxClients } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
  })
}

/** The rate-limit key of requests that carry the valid API token (cannot collide with an address). */
export const TOKEN_CLIENT = 'api-token'

// What `after` needs of a Decision: one small object of one shape per limited request.
class DecidedQuota implements Quota {
  constructor(readonly limit: number, readonly remaining: number, readonly resetSec: number) {}
}

/**
 * Stage: see the module comment. It exposes `rejected()`, the 429 count.
 *
 * @example stages.push(rateLimit({ rps: 1000, burst: 2000, trustProxy: false, apiToken: '', onRejected: () => metrics.rateLimited() }))
 */
export function rateLimit(options: RateLimitOptions): Stage & { rejected(): number } {
  let rejected = 0
  const stats = { rejected: () => rejected }
  if (options.rps <= 0 && options.limiter === undefined) return { name: 'rate-limit', ...stats }

  const limiter: RateLimiter = options.limiter ?? localLimiter(options)
  const verifier = options.apiToken === '' ? undefined : new TokenVerifier(options.apiToken)
  const onRejected = options.onRejected
  let limitText = String(options.burst)
  let limitOf = options.burst

  const keyOf = (state: RequestState): string =>
    verifier !== undefined && state.authenticated(verifier) ? TOKEN_CLIENT : clientBucket(state.client())

  const decide = (state: RequestState, d: Decision): void => {
    // The quota, kept for `after`, which puts the RateLimit-* headers on whatever the answer turns
    // out to be (the 429 included). Copied out of the Decision, which the in-process limiter
    // reuses for every call.
    state.quota = new DecidedQuota(d.limit, d.remaining, d.resetSec)
    if (!d.allowed) {
      rejected++
      onRejected?.()
      throw new AppError('rate_limited', `Rate limit of ${d.limit} requests exceeded; retry in ${d.retryAfterSec} s`, { retryAfter: d.retryAfterSec })
    }
  }

  return {
    name: 'rate-limit',
    ...stats,
    before(state) {
      if (state.policy.exempt.rateLimit) return
      const decision = limiter.consume(keyOf(state))
      if (decision instanceof Promise) return decision.then((d) => decide(state, d))
      decide(state, decision)
    },
    after(state, response) {
      const d = state.quota
      if (d === undefined) return
      state.quota = undefined
      if (d.limit !== limitOf) {
        limitOf = d.limit
        limitText = String(d.limit)
      }
      const h = response.headers
      h.set('ratelimit-limit', limitText)
      h.set('ratelimit-remaining', String(d.remaining))
      h.set('ratelimit-reset', String(d.resetSec))
    },
  }
}
