/**
 * The bench's CPU task, identical for every pool: `iterations` rounds of integer mixing (about
 * 50 µs for the calibrated count). Pure computation, deterministic result.
 *
 * @example cpuWork(20_000) // a 32-bit number
 */
export function cpuWork(iterations: number): number {
  let x = 0x9e3779b9
  for (let i = 0; i < iterations; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    x = (x + i) | 0
  }
  return x >>> 0
}

/** Iterations that take about `us` microseconds on this thread (after warm-up). */
export function calibrate(us: number): number {
  let n = 1000
  for (let round = 0; round < 8; round++) {
    const reps = 200
    const t0 = performance.now()
    for (let r = 0; r < reps; r++) cpuWork(n)
    const per = ((performance.now() - t0) * 1000) / reps
    n = Math.max(100, Math.round((n * us) / Math.max(per, 0.01)))
  }
  return n
}
