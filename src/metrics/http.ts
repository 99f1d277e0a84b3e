/**
 * prom-client views over {@link RequestSeries}: `http_requests_total` and
 * `http_request_duration_seconds`, whose values are read from the plain accumulators only when the
 * registry is scraped (see series.ts for why the hot path does not call prom-client).
 *
 * @example
 * ```ts
 * const series = new RequestSeries(DURATION_BUCKETS)
 * new RequestCounter(series, registry)
 * new RequestHistogram(series, registry)
 * series.record('GET', '/healthz', 200, 0.0004)
 * await registry.metrics() // http_requests_total{method="GET",route="/healthz",status="200"} 1 ...
 * ```
 */
import { Counter, Histogram, type Registry } from './prom.ts'
import type { RequestSeries } from './series.ts'

type Label = 'method' | 'route' | 'status'
type HistogramData = Awaited<ReturnType<Histogram<Label>['get']>>
const HISTOGRAM_HELP = 'HTTP request duration in seconds by method, route template and status'
const LABELS: Label[] = ['method', 'route', 'status']

/** Default duration buckets, seconds: sub-millisecond hot reads up to multi-second tasks. */
export const DURATION_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** `http_requests_total{method,route,status}` computed from a {@link RequestSeries}. */
export class RequestCounter extends Counter<Label> {
  // A plain field, not #private: prom-client calls reset() from its constructor, before subclass fields exist.
  readonly series: RequestSeries

  constructor(series: RequestSeries, registry: Registry) {
    super({ name: 'http_requests_total', help: 'Finished HTTP requests by method, route template and status', labelNames: LABELS, registers: [registry] })
    this.series = series
  }

  override async get(): Promise<Awaited<ReturnType<Counter<Label>['get']>>> {
    const base = await super.get()
    const values: typeof base.values = []
    for (const e of this.series.entries()) values.push({ labels: e.labels, value: e.count })
    return { ...base, values }
  }

  override reset(): void {
    super.reset()
    this.series?.reset()
  }
}

/** `http_request_duration_seconds{method,route,status}` computed from a {@link RequestSeries}. */
export class RequestHistogram extends Histogram<Label> {
  // A plain field, not #private: prom-client calls reset() from its constructor, before subclass fields exist.
  readonly series: RequestSeries

  constructor(series: RequestSeries, registry: Registry) {
    super({ name: 'http_request_duration_seconds', help: HISTOGRAM_HELP, labelNames: LABELS, buckets: [...series.bounds], registers: [registry] })
    this.series = series
  }

  // prom-client's registry renders a histogram through getForPromString() when it exists.
  async getForPromString(): Promise<HistogramData> {
    return this.get()
  }

  override async get(): Promise<HistogramData> {
    const values: HistogramData['values'] = []
    const bounds = this.series.bounds
    const name = 'http_request_duration_seconds'
    for (const e of this.series.entries()) {
      let cumulative = 0
      for (let i = 0; i < bounds.length; i++) {
        cumulative += e.buckets[i] ?? 0
        values.push({ metricName: `${name}_bucket`, labels: { ...e.labels, le: bounds[i] }, value: cumulative } as HistogramData['values'][number])
      }
      values.push({ metricName: `${name}_bucket`, labels: { ...e.labels, le: '+Inf' }, value: e.count } as HistogramData['values'][number])
      values.push({ metricName: `${name}_sum`, labels: e.labels, value: e.sum })
      values.push({ metricName: `${name}_count`, labels: e.labels, value: e.count })
    }
    // Not super.get(): prom-client's Histogram.get() calls getForPromString(), i.e. back here.
    // Its typings declare `type` as a numeric enum while the registry prints the string.
    return { name, help: HISTOGRAM_HELP, type: 'histogram', aggregator: 'sum', values } as unknown as HistogramData
  }

  override reset(): void {
    super.reset()
    this.series?.reset()
  }
}
