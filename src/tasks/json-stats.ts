/**
 * `json.stats`: count, min, max, mean and the 50th/90th/99th percentiles of a numeric field over an
 * array of objects. `field` may be a dotted path (`price.amount`). Items whose field is missing or
 * not a finite number are counted in `skipped`, not failed: real data has holes. Percentiles use
 * the nearest-rank method (always an observed value). With no numeric value, the statistics are null.
 *
 * @example POST /tasks/json.stats {"field":"ms","items":[{"ms":3},{"ms":1},{"ms":2}]}
 *   -> {"field":"ms","count":3,"skipped":0,"min":1,"max":3,"mean":2,"p50":2,"p90":3,"p99":3}
 */
import { Type } from '@sinclair/typebox'
import { defineTask } from './types.ts'

/** Most items one call accepts: bounds the worker's time (sorting) and memory. */
export const JSON_STATS_MAX_ITEMS = 200_000

/** The result; statistics are null when no item had a numeric value. */
export interface JsonStats {
  field: string
  count: number
  skipped: number
  min: number | null
  max: number | null
  mean: number | null
  p50: number | null
  p90: number | null
  p99: number | null
}

function fieldOf(item: unknown, path: readonly string[]): unknown {
  let v: unknown = item
  for (const key of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) return undefined
    v = (v as Record<string, unknown>)[key]
  }
  return v
}

/** Nearest-rank percentile of sorted values: the smallest value with at least p% at or below it. */
function rank(sorted: Float64Array, p: number): number {
  const i = Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[i] as number
}

/**
 * The statistics of `field` over `items`.
 *
 * @example jsonStats([{ a: 1 }, { a: 'x' }], 'a').skipped // 1
 */
export function jsonStats(items: readonly unknown[], field: string): JsonStats {
  const path = field.split('.')
  // A typed array: its sort is numeric without a comparator callback, and it holds unboxed doubles.
  const values = new Float64Array(items.length)
  let count = 0
  let sum = 0
  for (const item of items) {
    const v = fieldOf(item, path)
    if (typeof v === 'number' && Number.isFinite(v)) {
      values[count++] = v
      sum += v
    }
  }
  const skipped = items.length - count
  if (count === 0) return { field, count, skipped, min: null, max: null, mean: null, p50: null, p90: null, p99: null }
  const sorted = values.subarray(0, count).sort()
  return {
    field,
    count,
    skipped,
    min: sorted[0] as number,
    max: sorted[count - 1] as number,
    mean: sum / count,
    p50: rank(sorted, 50),
    p90: rank(sorted, 90),
    p99: rank(sorted, 99),
  }
}

export const jsonStatsTask = defineTask({
  name: 'json.stats',
  summary: 'count/min/max/mean/p50/p90/p99 of a numeric field (dotted path) over an array of objects',
  input: Type.Object(
    {
      field: Type.String({ minLength: 1, maxLength: 200, description: 'Field name or dotted path', examples: ['price'] }),
      items: Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: JSON_STATS_MAX_ITEMS }),
    },
    { additionalProperties: false },
  ),
  example: { field: 'ms', items: [{ ms: 3 }, { ms: 1 }, { ms: 2 }] },
  handler: (input) => jsonStats(input.items, input.field),
})
