/**
 * Rate limiting: a token bucket per client (`RATE_LIMIT_RPS` refill, `RATE_LIMIT_BURST` size).
 * Over the limit → 429 `rate_limited` with `Retry-After`; every limited response carries
 * `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (IETF draft
 * "RateLimit header fields for HTTP"). `/healthz`, `/readyz` and `/metrics` are exempt.
 * `RATE_LIMIT_RPS=0` mounts nothing (benchmarks).
 *
 * The client is the socket peer (`X-Forwarded-For` only with `TRUST_PROXY`, see client-ip.ts;
 * IPv6 clients by their /64, which one host usually owns whole),
 * or, when `API_TOKEN` auth is on and the request carries the valid token, the token's identity:
 * all holders of the one token share one bucket, and an invalid token never buys a fresh bucket
 * (it is keyed by address like an anonymous request).
 *
 * Runs in `onRequest`, before auth (so token guessing is rate limited too) and before the body is
 * read. Hot path cost: one LRU lookup and three header strings; the Decision object is reused and
 * the `RateLimit-Limit` value is one precomputed string (bench/middleware).
 *
 * @example
 * ```ts
 * const limit = rateLimit({ rps: 1000, burst: 2000, trustProxy: false, apiToken: '' })
 * app.use(limit)
 * ```
 */
import { isProbePath } from '../probe-paths.ts'
import { Elysia } from 'elysia'
import { AppError } from '../../errors.ts'
import { clientAddress, clientBucket, serverOf } from '../client-ip.ts'
import { onRequestHook } from '../guard-hooks.ts'
import { verifierFor } from '../auth/index.ts'
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

/** The rate-limit key of requests that carry the valid API token (cannot collide with an address). */
export const TOKEN_CLIENT = 'api-token'

/**
 * Paths never rate limited.
 *
 * @example isRateLimitExempt('/metrics') // true
 */
export function isRateLimitExempt(path: string): boolean {
  return isProbePath(path)
}

/**
 * Elysia plugin: see the module comment. The returned plugin exposes `rejected()`, the 429 count.
 *
 * @example app.use(rateLimit({ rps: 1000, burst: 2000, trustProxy: false, apiToken: '', onRejected: () => metrics.rateLimited() }))
 */
export function rateLimit(options: RateLimitOptions) {
  let rejected = 0
  const plugin = new Elysia({ name: 'highperf/rate-limit', seed: { rps: options.rps, burst: options.burst, trustProxy: options.trustProxy } })
    // The client's address once resolved (shared with the access log; see the hooks below).
    .decorate('clientAddress', '')
  const stats = { rejected: () => rejected }
  if (options.rps <= 0 && options.limiter === undefined) return Object.assign(plugin, stats)

  const limiter: RateLimiter = options.limiter ?? new MemoryRateLimiter({
    rps: options.rps,
    burst: options.burst,
    ...(options.maxClients !== undefined ? { maxClients: options.maxClients } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
  })
  const trustProxy = options.trustProxy
  const verifier = options.apiToken === '' ? undefined : verifierFor(options.apiToken)
  const onRejected = options.onRejected
  let limitText = String(options.burst)
  let limitOf = options.burst

  const apply = (d: Decision, headers: Record<string, string | number>): void => {
    if (d.limit !== limitOf) {
      limitOf = d.limit
      limitText = String(d.limit)
    }
    headers['ratelimit-limit'] = limitText
    headers['ratelimit-remaining'] = String(d.remaining)
    headers['ratelimit-reset'] = String(d.resetSec)
    if (!d.allowed) {
      rejected++
      onRejected?.()
      throw new AppError('rate_limited', `Rate limit of ${d.limit} requests exceeded; retry in ${d.retryAfterSec} s`, { retryAfter: d.retryAfterSec })
    }
  }

  // The client address is shared with the access log through the context's `clientAddress`
  // (whichever hook runs first resolves it): Bun's server.requestIP() allocates an object and
  // formats the address on every call, and two calls per request were ~10 % of the server's CPU on
  // GET /users/:id under wrk (bun --cpu-prof on bench/http/profile.ts). Both plugins get
  // TRUST_PROXY from the same config. The hooks take the context whole but only read fields of it:
  // handing it to a function would make Elysia parse every request's query, headers and cookies.
  if (limiter.async === true) {
    plugin.onRequest(onRequestHook(async (ctx) => {
      if (isRateLimitExempt(ctx.path)) return
      const request = ctx.request
      let key = TOKEN_CLIENT
      if (verifier === undefined || !verifier.isAuthenticated(request)) {
        if (ctx.clientAddress === '') ctx.clientAddress = clientAddress(request, serverOf(plugin), trustProxy)
        key = clientBucket(ctx.clientAddress)
      }
      apply(await limiter.consume(key), ctx.set.headers)
    }))
  } else {
    plugin.onRequest(onRequestHook((ctx) => {
      if (isRateLimitExempt(ctx.path)) return
      const request = ctx.request
      let key = TOKEN_CLIENT
      if (verifier === undefined || !verifier.isAuthenticated(request)) {
        if (ctx.clientAddress === '') ctx.clientAddress = clientAddress(request, serverOf(plugin), trustProxy)
        key = clientBucket(ctx.clientAddress)
      }
      apply(limiter.consume(key) as Decision, ctx.set.headers)
    }))
  }
  return Object.assign(plugin, stats)
}
