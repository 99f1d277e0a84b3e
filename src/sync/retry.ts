/**
 * Retry with exponential backoff and full jitter (the scheme of AWS's "Exponential Backoff And
 * Jitter" and of Go's `cenkalti/backoff` with full randomisation), honouring a server's
 * `Retry-After`, and cancellable at every point.
 *
 * @example
 * ```ts
 * const res = await retry(async () => {
 *   const r = await fetch(url, { signal })
 *   if (r.status >= 500 || r.status === 429) throw new UpstreamError(r)
 *   return r
 * }, { attempts: 4, baseMs: 100, maxMs: 2_000, signal, retryAfterMs: (e) => (e as UpstreamError).retryAfterMs })
 * ```
 */
import { sleep } from './timeout.ts'

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Total calls of `fn`, the first included (>= 1). */
  attempts: number
  /** Backoff scale: the delay after failed attempt k is at most `baseMs * 2^(k-1)`. */
  baseMs: number
  /** Upper bound of any delay, Retry-After included (default 30 000 ms). */
  maxMs?: number
  /** Abort: rejects at once with `signal.reason`, even mid-sleep. */
  signal?: AbortSignal
  /** Whether an error is worth retrying (default: every error). */
  retryable?: (err: unknown) => boolean
  /** The delay a server asked for (e.g. parsed `Retry-After`), used instead of the backoff. */
  retryAfterMs?: (err: unknown) => number | undefined
  /** Source of randomness in [0, 1) (default `Math.random`); inject one in tests. */
  random?: () => number
  /** Called before each sleep (logs, metrics). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void
}

/** Default cap of a single delay. */
export const DEFAULT_MAX_BACKOFF_MS = 30_000

/**
 * How a backoff delay is drawn below its exponential ceiling `c` (AWS Architecture Blog,
 * "Exponential Backoff And Jitter"): `full` is uniform in `[0, c)` and spreads many clients that
 * failed together best; `equal` is uniform in `[c/2, c]`, which keeps a floor so a retry never
 * fires at once (jobs use it: a job retried immediately after a crash would likely fail again).
 */
export type Jitter = 'full' | 'equal'

/**
 * The delay after failed attempt `attempt` (1-based): a jittered draw below
 * `min(maxMs, baseMs * 2^(attempt-1))` (see {@link Jitter}). Jitter spreads retries of many
 * clients that failed together, instead of having them return in synchronised waves.
 *
 * @example
 * ```ts
 * backoffDelay(3, 100, 5_000, () => 0.5) // 200: half of min(5000, 100 * 4)
 * backoffDelay(3, 1000, 60_000, () => 0, 'equal') // 2000: the floor c/2 of c = 4000
 * ```
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random, jitter: Jitter = 'full'): number {
  // The exponent is capped so a huge attempt count cannot overflow to Infinity before the cap.
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, Math.floor(attempt) - 1)))
  return jitter === 'full' ? Math.floor(random() * ceiling) : Math.floor(ceiling / 2 + random() * (ceiling / 2))
}

/**
 * Calls `fn(attempt)` (attempt = 1, 2, …) until it resolves, an error is not `retryable`, or
 * `attempts` calls failed; then rejects with the last error. Between attempts it sleeps the
 * server's Retry-After when given (capped by `maxMs`), else {@link backoffDelay}.
 *
 * @example
 * ```ts
 * const data = await retry((n) => callUpstream(n), { attempts: 3, baseMs: 200, signal })
 * ```
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const { attempts, baseMs, signal } = opts
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`retry attempts must be a positive integer, got ${attempts}`)
  if (!(baseMs >= 0)) throw new RangeError(`retry baseMs must be >= 0, got ${baseMs}`)
  const maxMs = opts.maxMs ?? DEFAULT_MAX_BACKOFF_MS
  const random = opts.random ?? Math.random
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted()
    try {
      return await fn(attempt)
    } catch (err) {
      if (attempt >= attempts || signal?.aborted || (opts.retryable !== undefined && !opts.retryable(err))) throw err
      const asked = opts.retryAfterMs?.(err)
      const delay = asked !== undefined && asked >= 0 ? Math.min(asked, maxMs) : backoffDelay(attempt, baseMs, maxMs, random)
      opts.onRetry?.(err, attempt, delay)
      await sleep(delay, signal)
    }
  }
}
