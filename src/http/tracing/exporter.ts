/**
 * Span export over OTLP/HTTP (JSON) with the OpenTelemetry SDK, loaded only when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 *
 * The SDK modules are imported dynamically: a server without an endpoint never loads them, so
 * startup and memory are unaffected (importing them costs ~100 ms on this machine). Spans go
 * through a `BatchSpanProcessor` (queued in memory, sent every few seconds or per 512 spans, off
 * the request path); `shutdown()` flushes what is queued, and `buildDeps` (src/deps.ts) registers
 * it as a closer.
 *
 * @example
 * ```ts
 * const tracing = await createTracing(config) // null when config.otelEndpoint is ''
 * const span = tracing?.startServerSpan('GET', '/users/1', parsed)
 * await tracing?.shutdown()
 * ```
 */
import type { Span } from '@opentelemetry/api'
import type { Config } from '../../config.ts'
import type { TraceParent } from './traceparent.ts'

export type { Span }

/** A started tracer: starts server spans and flushes them at shutdown. */
export interface Tracing {
  /** Starts the server span of a request, as a child of `parent` when the caller sent one. */
  startServerSpan(method: string, path: string, parent: TraceParent | undefined): Span
  /** Sets the route, status and name of a request's span and ends it. */
  endServerSpan(span: Span, method: string, route: string | undefined, status: number): void
  /** Exports every queued span now. */
  flush(): Promise<void>
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>
}

/** The OTLP/HTTP traces URL for an `OTEL_EXPORTER_OTLP_ENDPOINT` base (the spec appends `/v1/traces`). */
export function tracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '')
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`
}

/** Builds the tracer when `config.otelEndpoint` is set; null otherwise. */
export async function createTracing(config: Pick<Config, 'otelEndpoint' | 'otelServiceName'>): Promise<Tracing | null> {
  if (config.otelEndpoint === '') return null
  const [api, sdk, otlp, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ])
  const exporter = new otlp.OTLPTraceExporter({ url: tracesUrl(config.otelEndpoint) })
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': config.otelServiceName }),
    spanProcessors: [new sdk.BatchSpanProcessor(exporter)],
  })
  const tracer = provider.getTracer('highperf')
  const { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } = api

  return {
    startServerSpan(method, path, parent) {
      const ctx = parent === undefined
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.parentId, traceFlags: parent.flags, isRemote: true })
      return tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': path } }, ctx)
    },
    endServerSpan(span, method, route, status) {
      if (route !== undefined) {
        span.updateName(`${method} ${route}`)
        span.setAttribute('http.route', route)
      }
      span.setAttribute('http.response.status_code', status)
      // Semantic conventions: for a server span only 5xx is an error (4xx is the client's).
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
      span.end()
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  }
}
