/**
 * Metrics stage: records every finished request into `http_requests_total` and
 * `http_request_duration_seconds` by ROUTE TEMPLATE. The endpoint that serves them,
 * `GET /metrics`, is a route: src/routes/metrics.ts.
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
 * ```
 */
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
