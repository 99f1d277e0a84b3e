/**
 * Order statistics shared by the benchmarks. Three medians exist on purpose: each benchmark keeps
 * the definition its earlier results used, so a table stays comparable with its own history. They
 * agree whenever the count is odd (every default round count but bench/http's).
 *
 * @example
 * ```ts
 * import { median, percentile } from '../lib/stats.ts'
 * median([3, 1, 2, 4]) // 2.5
 * percentile([1, 2, 3, 4], 99) // 4
 * ```
 */

const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b)

/**
 * The median, averaging the two middle values of an even count; NaN for no values.
 *
 * @example
 * ```ts
 * median([1, 2, 3, 10]) // 2.5
 * ```
 */
export function median(xs: readonly number[]): number {
  const s = sorted(xs)
  const m = s.length >> 1
  return s.length === 0 ? Number.NaN : s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

/**
 * The upper middle value (`sorted[floor(n / 2)]`): always one measured sample, never an average;
 * NaN for no values. Used by the in-process micro-benchmarks.
 *
 * @example
 * ```ts
 * upperMedian([1, 2, 3, 10]) // 3
 * ```
 */
export function upperMedian(xs: readonly number[]): number {
  return sorted(xs)[xs.length >> 1] ?? Number.NaN
}

/**
 * The nearest-rank median, `percentile(sorted, 50)`: the lower middle value of an even count;
 * NaN for no values. Used by bench/jobs and bench/tasks-http next to their percentiles.
 *
 * @example
 * ```ts
 * lowerMedian([1, 2, 3, 10]) // 2
 * ```
 */
export function lowerMedian(xs: readonly number[]): number {
  return percentile(sorted(xs), 50)
}

/**
 * Nearest-rank percentile `p` (0-100) of values ALREADY SORTED ascending (sort once, ask for
 * several percentiles); NaN for no values.
 *
 * @example
 * ```ts
 * const lat = samples.sort((a, b) => a - b)
 * percentile(lat, 50); percentile(lat, 99)
 * ```
 */
export function percentile(sortedAsc: readonly number[], p: number): number {
  if (sortedAsc.length === 0) return Number.NaN
  return sortedAsc[Math.min(sortedAsc.length - 1, Math.max(0, Math.ceil((p / 100) * sortedAsc.length) - 1))] as number
}
