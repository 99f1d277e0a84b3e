/**
 * Metrics middleware: records every finished request into `http_requests_total` and
 * `http_request_duration_seconds` by ROUTE TEMPLATE, and serves `GET /metrics`.
 *
 * The route label is Elysia's matched template (`/users/:id`), never the raw path, so a million
 * user ids make one series; a request that matched no route (404, or answered before routing,
 * e.g. by the rate limiter in `onRequest`) is labelled `unmatched`.
 *
 * Timing starts in the first `onRequest` hook (mount this plugin before the others) and ends in
 * `onAfterResponse`, which Elysia runs for successes, thrown errors and 404s alike. Status is
 * read from what was actually sent: see {@link finalStatus}.
 *
 * @example
 * ```ts
 * app.use(metricsPlugin(deps.metrics))   // first: hooks
 * app.use(metricsRoutes(deps.metrics))   // with the routes
 * // GET /metrics -> text/plain; version=0.0.4 ... http_requests_total{method="GET",route="/users/:id",status="200"} 2
 * ```
 */
import { Elysia, StatusMap } from 'elysia'
import type { Metrics } from '../../metrics/registry.ts'

/** The `route` label of requests that matched no route. */
export const UNMATCHED_ROUTE = 'unmatched'

/** What an `onAfterResponse` hook can see of a finished request (Elysia's context, narrowed). */
export interface RequestOutcome {
  route?: string
  set: { status?: number | string; headers: Record<string, unknown> }
  response?: unknown
  error?: unknown
  code?: unknown
}

/**
 * The status the client received, from the parts of an after-response context. Elysia leaves
 * `set.status` at 200 in two cases where it sent something else: an early `Response` (from a
 * hook or handler) carries its own status, and a 404 answered by the error handler only marks
 * the error. Both are checked before `set.status`.
 *
 * Hooks pass the fields, not the context: Elysia compiles each hook after reading its source, and
 * a hook that hands its whole context to a function makes Elysia parse the query, headers and
 * cookies of every request in case the function reads them (bench/tracing measured ~2.5 µs).
 *
 * @example finalStatus(undefined, 200, new Error('no route'), 'NOT_FOUND') // 404
 */
export function finalStatus(response: unknown, setStatus: number | string | undefined, error: unknown, code: unknown): number {
  if (response instanceof Response) return response.status
  const status = typeof setStatus === 'number' ? setStatus : setStatus === undefined ? 200 : (StatusMap as Record<string, number>)[setStatus] ?? 200
  if (status === 200 && error !== undefined && error !== null) {
    if (code === 'NOT_FOUND') return 404
    const e = (error as { status?: unknown }).status
    return typeof e === 'number' && e >= 400 && e <= 599 ? e : 500
  }
  return status
}

/** The route label: the matched template, or {@link UNMATCHED_ROUTE}. */
export function routeOf(route: string | undefined): string {
  return route === undefined || route === '' ? UNMATCHED_ROUTE : route
}

/**
 * Elysia plugin: `startedAt` (a `performance.now()` stamp) on every request's context.
 *
 * Declared with `decorate` so the field exists on the context from creation: assigning a new
 * property per request would change the context object's hidden class on every request. Shared by
 * the metrics, access-log and tracing plugins (deduplicated by name: one hook however many use it).
 */
export function requestTiming() {
  return new Elysia({ name: 'highperf/request-timing' })
    .decorate('startedAt', 0)
    .onRequest((ctx) => { ctx.startedAt = performance.now() })
    .as('global')
}

/**
 * Elysia plugin: records every request into the HTTP series. Mount it FIRST so its timing starts
 * before any other hook and its after-response hook covers every route.
 */
export function metricsPlugin(metrics: Metrics) {
  const series = metrics.http
  return new Elysia({ name: 'highperf/metrics' })
    .use(requestTiming())
    .onAfterResponse({ as: 'global' }, (ctx) => {
      const c = ctx as RequestOutcome
      series.record(ctx.request.method, routeOf(ctx.route), finalStatus(c.response, ctx.set.status, c.error, c.code), (performance.now() - ctx.startedAt) / 1000)
      // The pool refuses with AppError('queue_full') wherever a route runs a task: counted here,
      // once, rather than by every route. (max_inflight is counted by its own plugin.)
      if (c.code === 'queue_full') metrics.shed('queue_full')
    })
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
