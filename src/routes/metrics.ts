/**
 * `GET /metrics`: the Prometheus text exposition of every series (docs/observability.md).
 *
 * Only the endpoint lives here; the stage that records each request into the HTTP series is
 * `src/http/metrics` (it runs in the front, for every request, matched or not).
 *
 * @example
 * ```ts
 * app.use(metricsRoutes(deps.metrics))
 * // GET /metrics -> text/plain; version=0.0.4 ... http_requests_total{method="GET",route="/users/:id",status="200"} 2
 * ```
 */
import { Elysia } from 'elysia'
import type { Metrics } from '../metrics/registry.ts'

/**
 * Elysia plugin: `GET /metrics`, the Prometheus text exposition of `metrics`.
 *
 * @example new Elysia().use(metricsRoutes(metrics))
 */
export function metricsRoutes(metrics: Metrics) {
  return new Elysia({ name: 'highperf/routes/metrics' })
    .get(
      '/metrics',
      async ({ set }) => {
        set.headers['content-type'] = metrics.contentType
        return metrics.render()
      },
      { detail: { summary: 'Prometheus metrics (text exposition format)', tags: ['observability'] } },
    )
}
