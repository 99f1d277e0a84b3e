/**
 * Tracing middleware: W3C `traceparent` in and out, and one OpenTelemetry server span per request
 * when an OTLP endpoint is configured.
 *
 * With a tracer (`OTEL_EXPORTER_OTLP_ENDPOINT` set): a valid incoming `traceparent` continues its
 * trace, anything else starts a new one; every response carries `traceparent` naming this
 * request's server span, and `traceId` is on the request's state for the access log. The span is
 * named `METHOD /route/template` and carries `http.request.method`, `http.route`,
 * `http.response.status_code` and `url.path`.
 *
 * Without one, tracing costs one header lookup: a request with a valid `traceparent` is
 * propagated (the response and the access log carry its trace id, with a fresh parent id), one
 * without starts nothing, so no ids are made and no header is sent. No span objects, no `after`,
 * no SDK loaded (bench/tracing measures it).
 *
 * @example
 * ```ts
 * createFront(app, [tracingStage(await createTracing(config)), ...], options)
 * // GET /users/1 with traceparent: 00-<trace>-<parent>-01 -> response traceparent: 00-<trace>-<span>-01
 * ```
 */
import type { Stage } from '../front/index.ts'
import { UNMATCHED_ROUTE } from '../route-policy.ts'
import type { Tracing } from './exporter.ts'
import { formatTraceparent, newSpanId, parseTraceparent } from './traceparent.ts'

/** The header, both ways. */
export const TRACEPARENT_HEADER = 'traceparent'

/**
 * Stage: `traceparent` propagation, plus a server span per request when `tracing` is not null.
 *
 * @example createFront(app, [tracingStage(await createTracing(config)), ...], options)
 */
export function tracingStage(tracing: Tracing | null): Stage {
  if (tracing === null) {
    return {
      name: 'tracing',
      before(state) {
        const header = state.request.headers.get(TRACEPARENT_HEADER)
        // No trace context and no exporter: nothing to continue and nothing to record, so no ids
        // are made and no header is sent (the "zero cost when unset" of docs/observability.md).
        if (header === null) return
        const parent = parseTraceparent(header)
        if (parent === undefined) return
        state.traceId = parent.traceId
        // This hop is part of the caller's trace but records no span: a fresh parent id for the
        // hops after it, the caller's sampled flag kept.
        state.traceparent = formatTraceparent(parent.traceId, newSpanId(), parent.flags)
      },
    }
  }
  return {
    name: 'tracing',
    before(state) {
      const span = tracing.startServerSpan(state.method, state.path, parseTraceparent(state.request.headers.get(TRACEPARENT_HEADER)))
      const sc = span.spanContext()
      state.span = span
      state.traceId = sc.traceId
      state.traceparent = formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags)
    },
    after(state, response) {
      const span = state.span
      if (span === undefined) return
      state.span = undefined
      tracing.endServerSpan(span, state.method, state.route === UNMATCHED_ROUTE ? undefined : state.route, response.status)
    },
  }
}
