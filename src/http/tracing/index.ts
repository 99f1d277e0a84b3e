/**
 * Tracing middleware: W3C `traceparent` in and out, and one OpenTelemetry server span per request
 * when an OTLP endpoint is configured.
 *
 * Always: a valid incoming `traceparent` continues its trace, anything else starts a new one; the
 * response carries `traceparent` naming this request's server span, and `traceId` is on the
 * context for the access log. With `tracing` null (no `OTEL_EXPORTER_OTLP_ENDPOINT`) that is the
 * whole cost: one `onRequest` hook, no span objects, no after-response hook, no SDK loaded
 * (bench/tracing measures it). With a tracer, the span is named `METHOD /route/template` and carries
 * `http.request.method`, `http.route`, `http.response.status_code` and `url.path`.
 *
 * @example
 * ```ts
 * app.use(tracingPlugin(await createTracing(config)))
 * // GET /users/1 with traceparent: 00-<trace>-<parent>-01 -> response traceparent: 00-<trace>-<span>-01
 * ```
 */
import { Elysia } from 'elysia'
import { finalStatus, type RequestOutcome } from '../metrics/index.ts'
import type { Span, Tracing } from './exporter.ts'
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from './traceparent.ts'

/** The header, both ways. */
export const TRACEPARENT_HEADER = 'traceparent'

/** Elysia plugin: `traceparent` propagation, plus server spans when `tracing` is not null. */
export function tracingPlugin(tracing: Tracing | null) {
  // Decorated so the fields exist on every context from creation (no hidden-class change per request).
  const plugin = new Elysia({ name: 'highperf/tracing' })
    .decorate('traceId', '')
    .decorate('span', null as Span | null)
  if (tracing === null) {
    plugin.onRequest((ctx) => {
      const parent = parseTraceparent(ctx.request.headers.get(TRACEPARENT_HEADER))
      const traceId = parent === undefined ? newTraceId() : parent.traceId
      ctx.traceId = traceId
      // Not exporting, so this span is not recorded: keep the caller's sampled flag, else 00.
      ctx.set.headers[TRACEPARENT_HEADER] = formatTraceparent(traceId, newSpanId(), parent === undefined ? 0 : parent.flags)
    })
  } else {
    plugin
      .onRequest((ctx) => {
        // Elysia fills `path` before onRequest hooks run; its PreContext type does not declare it.
        const path = (ctx as unknown as { path: string }).path
        const span = tracing.startServerSpan(ctx.request.method, path, parseTraceparent(ctx.request.headers.get(TRACEPARENT_HEADER)))
        const sc = span.spanContext()
        ctx.span = span
        ctx.traceId = sc.traceId
        ctx.set.headers[TRACEPARENT_HEADER] = formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags)
      })
      .onAfterResponse({ as: 'global' }, (ctx) => {
        const span = ctx.span
        if (span === null) return
        ctx.span = null
        const c = ctx as RequestOutcome
        tracing.endServerSpan(span, ctx.request.method, ctx.route || undefined, finalStatus(c.response, ctx.set.status, c.error, c.code))
      })
  }
  return plugin.as('global')
}
