/**
 * Retry backoff of jobs: exponential with "equal jitter" (AWS Architecture Blog, "Exponential
 * Backoff And Jitter"): the delay before retry n is uniform in [c/2, c] with c = base·2^(n-1),
 * capped. The jitter spreads retries of jobs that failed together (e.g. after a worker crash)
 * instead of retrying them in lock-step; the floor of c/2 keeps a retry from firing at once.
 *
 * @example
 * ```ts
 * backoffDelay(1, 1000) // somewhere in [500, 1000] ms
 * backoffDelay(3, 1000) // somewhere in [2000, 4000] ms
 * ```
 */
export const MAX_BACKOFF_MS = 10 * 60_000

/** Delay in ms before retry `attempt` (1 = first retry); `random` is injectable for tests. */
export function backoffDelay(attempt: number, baseMs: number, random: () => number = Math.random, capMs = MAX_BACKOFF_MS): number {
  const n = Math.max(1, Math.floor(attempt))
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(n - 1, 30))
  return Math.floor(ceiling / 2 + random() * (ceiling / 2))
}
