/**
 * Which {@link RateLimiter} a server uses, from its configuration: one place to extend when
 * another store arrives (a `RATE_LIMIT_URL` Redis limiter for several hosts goes first here).
 *
 * - `RATE_LIMIT_RPS=0`: none (the stage adds no work);
 * - several processes on one host (`HIGHPERF_CLUSTER_RATE_TABLE`, set by the cluster primary):
 *   {@link SharedRateLimiter} over the table file every process maps;
 * - else: undefined, and the stage builds today's in-process {@link MemoryRateLimiter}.
 *
 * @example
 * ```ts
 * rateLimit({ rps: config.rateLimitRps, burst: config.rateLimitBurst, ..., limiter: selectRateLimiter(config) })
 * ```
 */
import type { RateLimiter } from './limiter.ts'
import { SharedRateLimiter } from './shared-limiter.ts'

/** The settings {@link selectRateLimiter} reads (a structural slice of the `Config`). */
export interface RateLimiterSettings {
  rateLimitRps: number
  rateLimitBurst: number
  /** Path of the host's shared table ('' when the process runs alone). */
  clusterRateTable: string
}

/**
 * The limiter for these settings, or undefined for the stage's in-process default.
 *
 * @example selectRateLimiter({ rateLimitRps: 10, rateLimitBurst: 20, clusterRateTable: '' }) // undefined
 */
export function selectRateLimiter(settings: RateLimiterSettings): RateLimiter | undefined {
  if (settings.rateLimitRps <= 0) return undefined
  if (settings.clusterRateTable !== '') {
    return new SharedRateLimiter({ table: settings.clusterRateTable, rps: settings.rateLimitRps, burst: settings.rateLimitBurst })
  }
  return undefined
}
