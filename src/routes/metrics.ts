/**
 * `GET /metrics`: the Prometheus text exposition of every series (docs/observability.md).
 *
 * Alone, it is this process's registry. In a cluster (`PROCESSES` > 1) a scrape lands on any one
 * server process (they share the port), so that process asks the primary for the host's merged
 * text (src/metrics/cluster.ts) and serves it; when the primary does not answer in time the
 * answer is a 503 `metrics_unavailable`, never this process's own figures, which Prometheus would
 * take for the host's (a braid of counters that `rate()` reads as resets).
 *
 * Only the endpoint lives here; the stage that records each request into the HTTP series is
 * `src/http/metrics` (it runs in the front, for every request, matched or not).
 *
 * @example
 * ```ts
 * app.use(metricsRoutes({ metrics, bus, log }))
 * // GET /metrics -> text/plain; version=0.0.4 ... http_requests_total{method="GET",route="/users/:id",status="200"} 2
 * ```
 */
import { Elysia } from 'elysia'
import type { Metrics } from '../metrics/registry.ts'
import { METRICS_ASK_TIMEOUT_MS } from '../metrics/cluster.ts'
import type { Bus } from '../cluster/bus.ts'
import type { Logger } from '../log.ts'
import { AppError } from '../errors.ts'

/** What the metrics route needs. */
export interface MetricsRouteDeps {
  metrics: Metrics
  /** In a cluster, the way to the primary, which merges every process's metrics. */
  bus: Bus
  log: Logger
}

/**
 * Elysia plugin: `GET /metrics`, the Prometheus text exposition (the host's, merged, in a cluster).
 *
 * @example new Elysia().use(metricsRoutes({ metrics, bus: LOCAL_BUS, log }))
 */
export function metricsRoutes({ metrics, bus, log }: MetricsRouteDeps) {
  const render = bus.clustered ? () => merged(bus, log) : () => metrics.render()
  return new Elysia({ name: 'highperf/routes/metrics' })
    .get(
      '/metrics',
      async ({ set }) => {
        const text = await render()
        set.headers['content-type'] = metrics.contentType
        return text
      },
      { detail: { summary: 'Prometheus metrics (text exposition format); with PROCESSES > 1, every process merged', tags: ['observability'] } },
    )
}

/** The host's metrics from the primary, or a 503 `metrics_unavailable`. */
async function merged(bus: Bus, log: Logger): Promise<string> {
  let answer: unknown
  try {
    answer = await bus.askPrimary('metrics', null, METRICS_ASK_TIMEOUT_MS)
  } catch (err) {
    log.warn({ err }, 'GET /metrics: the primary did not return the merged metrics')
    throw new AppError('metrics_unavailable', undefined, { retryAfter: 1, cause: err })
  }
  if (typeof answer !== 'string' || answer === '') {
    log.warn({ answer: typeof answer }, 'GET /metrics: the primary answered without metrics text')
    throw new AppError('metrics_unavailable', undefined, { retryAfter: 1 })
  }
  return answer
}
