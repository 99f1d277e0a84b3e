/**
 * Per-request HTTP series kept as plain numbers, handed to prom-client only when Prometheus scrapes.
 *
 * Why not `counter.labels(...).inc()` on every request: prom-client hashes the label object into a
 * string key on every `inc`/`observe` (and `labels()` allocates a fresh object and closure per
 * call), so each request would cost several short-lived strings and objects. Here the first request
 * of a (route, method, status) series allocates its entry once; every later one is two Map lookups
 * with small keys, a few additions and one bucket increment, and allocates nothing
 * (bench/tracing compares the hot path with and without the observability plugins).
 *
 * Cardinality stays bounded: routes are templates (or `unmatched`), methods outside the standard set
 * collapse to `OTHER`, statuses are 100..599.
 *
 * @example
 * ```ts
 * const s = new RequestSeries([0.005, 0.01, 0.1, 1])
 * s.record('GET', '/users/:id', 200, 0.0021)
 * for (const e of s.entries()) e.count // 1
 * ```
 */

/** One (method, route, status) series: request count, duration sum and histogram bucket counts. */
export interface SeriesEntry {
  readonly labels: { readonly method: string; readonly route: string; readonly status: string }
  count: number
  /** Sum of durations, seconds. */
  sum: number
  /** Non-cumulative counts per bucket; the last slot is `+Inf`. */
  readonly buckets: Float64Array
}

// Index of a method in a packed integer key; anything else is OTHER (keeps cardinality bounded).
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'OTHER'] as const

function methodIndex(method: string): number {
  switch (method) {
    case 'GET': return 0
    case 'POST': return 1
    case 'PUT': return 2
    case 'PATCH': return 3
    case 'DELETE': return 4
    case 'HEAD': return 5
    case 'OPTIONS': return 6
    default: return 7
  }
}

/** The request counter and duration histogram of every route, as plain accumulators. */
export class RequestSeries {
  /** Upper bounds of the histogram buckets, seconds, ascending (without `+Inf`). */
  readonly bounds: readonly number[]
  // route -> (status * 8 + method index) -> entry. An integer key needs no string building.
  readonly #byRoute = new Map<string, Map<number, SeriesEntry>>()

  constructor(bounds: readonly number[]) {
    this.bounds = [...bounds].sort((a, b) => a - b)
  }

  /** Records one finished request. `seconds` is its duration. */
  record(method: string, route: string, status: number, seconds: number): void {
    let byKey = this.#byRoute.get(route)
    if (byKey === undefined) {
      byKey = new Map()
      this.#byRoute.set(route, byKey)
    }
    const m = methodIndex(method)
    const key = status * 8 + m
    let e = byKey.get(key)
    if (e === undefined) {
      e = {
        labels: { method: METHODS[m] as string, route, status: String(status) },
        count: 0,
        sum: 0,
        buckets: new Float64Array(this.bounds.length + 1),
      }
      byKey.set(key, e)
    }
    e.count++
    e.sum += seconds
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && seconds > (bounds[i] as number)) i++
    e.buckets[i] = (e.buckets[i] ?? 0) + 1
  }

  /** Every series recorded so far. */
  *entries(): IterableIterator<SeriesEntry> {
    for (const byKey of this.#byRoute.values()) yield* byKey.values()
  }

  /** Forgets every series (prom-client `registry.resetMetrics()`). */
  reset(): void {
    this.#byRoute.clear()
  }
}
