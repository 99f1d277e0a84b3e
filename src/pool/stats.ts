/**
 * Cheap latency histograms for the pool: fixed log-scale buckets (4 per power of two of
 * microseconds, up to ~2^34 µs), so recording is a few integer ops and no allocation, and a
 * percentile is read back within ~19 % (the bucket's upper bound is reported).
 *
 * @example
 * ```ts
 * const h = new Histogram()
 * h.record(1234) // µs
 * h.percentileMs(0.99) // ≈ 1.3
 * ```
 */

const SUB = 4 // buckets per power of two
const BUCKETS = 35 * SUB

/** A fixed-bucket log histogram of durations in microseconds. */
export class Histogram {
  readonly #counts = new Uint32Array(BUCKETS)
  count = 0

  /** Adds one duration (µs). */
  record(us: number): void {
    const v = us < 1 ? 1 : us > 0x3fffffff ? 0x3fffffff : us | 0
    const exp = 31 - Math.clz32(v)
    // Two bits below the leading one pick the quarter within [2^exp, 2^(exp+1)).
    const frac = exp >= 2 ? (v >>> (exp - 2)) & 3 : exp === 1 ? (v & 1) << 1 : 0
    const i = exp * SUB + frac
    this.#counts[i] = (this.#counts[i] as number) + 1
    this.count++
  }

  /** The `q`-quantile (0..1) in milliseconds, 0 when empty. */
  percentileMs(q: number): number {
    if (this.count === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i] as number
      if (seen >= rank) return upperUs(i) / 1000
    }
    return upperUs(BUCKETS - 1) / 1000
  }

  /** p50/p90/p99 in milliseconds, rounded to µs. */
  summary(): { p50: number; p90: number; p99: number } {
    const r = (x: number) => Math.round(x * 1000) / 1000
    return { p50: r(this.percentileMs(0.5)), p90: r(this.percentileMs(0.9)), p99: r(this.percentileMs(0.99)) }
  }
}

function upperUs(i: number): number {
  const exp = Math.floor(i / SUB)
  const frac = i % SUB
  return 2 ** exp * (1 + (frac + 1) / SUB)
}

/** Counters and histograms of one task name. */
export class TaskCounters {
  ok = 0
  failed = 0
  canceled = 0
  timedOut = 0
  readonly wait = new Histogram()
  readonly run = new Histogram()

  /** The shape `GET /pool` shows. */
  snapshot() {
    return {
      ok: this.ok,
      failed: this.failed,
      canceled: this.canceled,
      timedOut: this.timedOut,
      queueWaitMs: this.wait.summary(),
      runMs: this.run.summary(),
    }
  }
}
