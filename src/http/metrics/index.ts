/**
 * Metrics middleware: records every finished request into `http_requests_total` and
 * `http_request_duration_seconds` by ROUTE TEMPLATE, and serves `GET /metrics`.
 *
 * The route label is Elysia's matched template (`/users/:id`), never the raw path, so a million
 * user ids make one series; a request that matched no route (404) is labelled `unmatched`.
 *
 * Timing starts when the front takes the request and ends when the answer is handed back, for
 * successes, errors, refusals and 404s alike; the status is the answer's own.
 *
 * @example
 * ```ts
 * createFront(app, [metricsStage(deps.metrics), ...], options) // first stage: its after runs last
 * app.use(metricsRoutes(deps.metrics))                          // with the routes
 * // GET /metrics -> text/plain; version=0.0.4 ... http_requests_total{method="GET",route="/users/:id",status="200"} 2
 * ```
 */
import { Elysia } from 'elysia'
import { AppError } from '../../errors.ts'
import type { Stage } from '../front/index.ts'
import type { Metrics } from '../../metrics/registry.ts'

/**
 * Stage: records every answered request into the HTTP series, by the route template the front
 * matched (see the module comment). Duration is the time until the response is handed to Bun:
 * for a stream or a file, the time to its headers.
 */
export function metricsStage(metrics: Metrics): Stage {
  const series = metrics.http
  return {
    name: 'metrics',
    after(state, response) {
      series.record(state.method, state.route, response.status, (performance.now() - state.startedAt) / 1000)
      // The pool refuses with AppError('queue_full') wherever a route runs a task: counted here,
      // once, rather than by every route. (max_inflight is counted by its own stage.)
      const error = state.error
      if (error instanceof AppError && error.code === 'queue_full') metrics.shed('queue_full')
    },
  }
}

/** Elysia plugin: `GET /metrics`, the Prometheus text exposition of `metrics`. */
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
