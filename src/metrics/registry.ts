/**
 * The server's metrics: one prom-client `Registry` per instance (never the global default, so two
 * apps in one process, as in tests, never collide) and every metric object, typed.
 *
 * Other parts record through the small methods of {@link Metrics} rather than prom-client, so the
 * metric names live in this file and in docs/observability.md only.
 *
 * In a cluster (`cluster` option) each metric is declared for the merged scrape (cluster.ts): a
 * counter or histogram has no `process` label and is summed across processes; a gauge or summary
 * that describes this process (in-flight requests, its pool, its breakers, its runtime) carries
 * `process="<slot>"`, so the merge keeps one series per process. Alone, no `process` label exists.
 *
 * @example
 * ```ts
 * const metrics = createMetrics()
 * metrics.rateLimited()
 * metrics.breakerState('/users/:id', 'open')
 * metrics.pool.watch(() => pool.stats())
 * const text = await metrics.render() // Prometheus text exposition
 * ```
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from './prom.ts'
import { RequestSeries } from './series.ts'
import { DURATION_BUCKETS, RequestCounter, RequestHistogram } from './http.ts'
import { jobMetrics, poolMetrics, type JobMetrics, type PoolMetrics } from './pool.ts'
import { joinCluster, PROCESS_LABEL } from './cluster.ts'

/** Circuit breaker states as `circuit_breaker_state` encodes them. */
export const BREAKER_STATES = { closed: 0, half_open: 1, open: 2 } as const
/** A circuit breaker state. */
export type BreakerState = keyof typeof BREAKER_STATES
/** Why load shedding answered 503. */
export type ShedReason = 'max_inflight' | 'queue_full'

// prom-client default metrics that mean nothing on Bun (always 0) or that promtool flags for their
// `_total` suffix on a gauge; dropped so every exported series is meaningful and lint-clean.
const DROPPED_DEFAULTS = [
  'nodejs_active_resources', 'nodejs_active_resources_total', 'nodejs_active_handles', 'nodejs_active_handles_total',
  'nodejs_active_requests', 'nodejs_active_requests_total', 'nodejs_heap_space_size_total_bytes',
  'nodejs_heap_space_size_used_bytes', 'nodejs_heap_space_size_available_bytes',
]

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Process and runtime metrics (RSS, heap, GC, event-loop lag); default true. */
  defaults?: boolean
  /** Histogram buckets of `http_request_duration_seconds`, seconds. */
  buckets?: readonly number[]
  /**
   * This process is one server process of a cluster (`PROCESSES` > 1), in `slot` (1..N): its
   * per-process series get `process="<slot>"` and it joins prom-client's aggregation (cluster.ts).
   * Absent: a process alone; prom-client's cluster module is not loaded.
   */
  cluster?: { slot: number }
}

/** Every metric of the server and the methods other parts record with. */
export interface Metrics {
  readonly registry: Registry
  /** Per-request accumulators behind `http_requests_total` / `http_request_duration_seconds`. */
  readonly http: RequestSeries
  /** Pool gauges and task summaries; `metrics.pool.watch(() => pool.stats())`. */
  readonly pool: PoolMetrics
  /** Jobs by state; `metrics.jobs.watch(() => jobs.freshCounts())`. */
  readonly jobs: JobMetrics
  /** `Content-Type` of {@link Metrics.render}'s output. */
  readonly contentType: string
  /** The Prometheus text exposition of every metric. */
  render(): Promise<string>
  /** Sets where `http_requests_in_flight` comes from (the server's `pendingRequests`). */
  watchInflight(read: () => number): void
  /** `http_rate_limit_rejections_total` +1. */
  rateLimited(): void
  /** `http_rate_limit_fallbacks_total` +1: a check answered by the local limiter because Redis (RATE_LIMIT_URL) could not. */
  rateLimitFallback(): void
  /** `http_requests_shed_total{reason}` +1. */
  shed(reason: ShedReason): void
  /** `http_request_timeouts_total{route}` +1. */
  timedOut(route: string): void
  /** `circuit_breaker_state{route}` = 0 closed, 1 half-open, 2 open. */
  breakerState(route: string, state: BreakerState): void
  /** `circuit_breaker_rejections_total{route}` +1. */
  breakerRejected(route: string): void
}

/**
 * Builds a fresh registry with every metric registered.
 *
 * @example
 * ```ts
 * createMetrics()                          // a process alone
 * createMetrics({ cluster: { slot: 2 } })  // server process 2 of a cluster
 * ```
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry()
  // Per-process series: the label set every one of them adds (empty alone, so nothing changes).
  const proc: Record<string, string> = options.cluster ? { [PROCESS_LABEL]: String(options.cluster.slot) } : {}
  const procNames = Object.keys(proc)
  if (options.defaults !== false) {
    collectDefaultMetrics(options.cluster ? { register: registry, labels: proc } : { register: registry })
    for (const name of DROPPED_DEFAULTS) registry.removeSingleMetric(name)
    // prom-client omits the start time from a merge; with its process label it merges safely and
    // shows which process restarted.
    const start = registry.getSingleMetric('process_start_time_seconds') as { aggregator?: string } | undefined
    if (options.cluster && start) start.aggregator = 'max'
  }
  const http = new RequestSeries(options.buckets ?? DURATION_BUCKETS)
  new RequestCounter(http, registry)
  new RequestHistogram(http, registry)

  let inflight: (() => number) | undefined
  new Gauge({
    name: 'http_requests_in_flight', help: 'HTTP requests being handled now', labelNames: procNames, registers: [registry],
    collect() { this.set(proc, inflight ? inflight() : 0) },
  })
  // A plain number: a flood of 429s is exactly when the limiter's path must stay cheapest.
  let rateLimitedCount = 0
  new Counter({
    name: 'http_rate_limit_rejections_total', help: 'Requests answered 429 by the rate limiter', registers: [registry],
    collect() { this.reset(); this.inc(rateLimitedCount) },
  })
  let fallbackCount = 0
  new Counter({
    name: 'http_rate_limit_fallbacks_total', help: 'Rate-limit checks answered by this process alone because Redis (RATE_LIMIT_URL) did not answer', registers: [registry],
    collect() { this.reset(); this.inc(fallbackCount) },
  })
  const shed = new Counter({ name: 'http_requests_shed_total', help: 'Requests answered 503 by load shedding, by reason', labelNames: ['reason'], registers: [registry] })
  const timeouts = new Counter({ name: 'http_request_timeouts_total', help: 'Requests answered 504 because their deadline passed, by route template', labelNames: ['route'], registers: [registry] })
  // Each process has its own breakers: their states are per process, their rejections add up.
  const breaker = new Gauge({ name: 'circuit_breaker_state', help: 'Circuit breaker state by route template: 0 closed, 1 half-open, 2 open', labelNames: ['route', ...procNames], registers: [registry] })
  const breakerRejections = new Counter({ name: 'circuit_breaker_rejections_total', help: 'Requests answered 503 by an open circuit breaker, by route template', labelNames: ['route'], registers: [registry] })

  const pool = poolMetrics(registry, proc)
  // Job counts are read from the one jobs.sqlite every process shares: the same host-wide
  // figures from each process, so the merge takes one process's set (see jobMetrics).
  const jobs = jobMetrics(registry, options.cluster ? 'first' : 'sum')
  if (options.cluster) joinCluster(registry)
  return {
    registry,
    http,
    pool,
    jobs,
    contentType: registry.contentType,
    render() {
      pool.refresh()
      return registry.metrics()
    },
    watchInflight(read) { inflight = read },
    rateLimited() { rateLimitedCount++ },
    rateLimitFallback() { fallbackCount++ },
    shed(reason) { shed.inc({ reason }) },
    timedOut(route) { timeouts.inc({ route }) },
    breakerState(route, state) { breaker.set({ route, ...proc }, BREAKER_STATES[state]) },
    breakerRejected(route) { breakerRejections.inc({ route }) },
  }
}
