/**
 * `primes`: counts the primes below `n` with a segmented sieve of Eratosthenes. The CPU benchmark
 * task: pure computation, no I/O, cost roughly linear in `n` (about 5 ms per million on this
 * machine once warm; `n = 1_000_000` is the ~5 ms task of bench/tasks-http).
 *
 * The sieve works through 32 KiB segments (one L1-sized `Uint8Array`, reused) so memory stays
 * flat whatever `n` is, and it checks `ctx.signal` between segments so cancellation and deadlines
 * stop it within a fraction of a millisecond.
 *
 * @example POST /tasks/primes {"n": 100} -> {"n":100,"count":25}
 */
import { Type } from '@sinclair/typebox'
import { defineTask } from './types.ts'

/** The largest `n` accepted: about 5 s of one core, well inside TASK_TIMEOUT's default 30 s. */
export const PRIMES_MAX_N = 1_000_000_000

const SEGMENT = 32 * 1024

/** Base primes up to `limit` (inclusive) with a plain sieve; `limit` is at most sqrt(PRIMES_MAX_N). */
function smallPrimes(limit: number): Uint32Array {
  const composite = new Uint8Array(limit + 1)
  const out: number[] = []
  for (let i = 2; i <= limit; i++) {
    if (composite[i] === 0) {
      out.push(i)
      for (let j = i * i; j <= limit; j += i) composite[j] = 1
    }
  }
  return Uint32Array.from(out)
}

/**
 * Number of primes p with 2 <= p < n. Throws the signal's reason if it aborts mid-way.
 *
 * @example countPrimesBelow(10) // 4 (2, 3, 5, 7)
 */
export function countPrimesBelow(n: number, signal?: AbortSignal): number {
  if (n <= 2) return 0
  const limit = Math.floor(Math.sqrt(n - 1))
  const base = smallPrimes(limit)
  // next[i]: the first multiple of base[i] not yet crossed out, carried from segment to segment.
  const next = new Float64Array(base.length)
  for (let i = 0; i < base.length; i++) {
    const p = base[i] as number
    next[i] = p * p
  }
  const seg = new Uint8Array(SEGMENT)
  let count = 0
  for (let low = 2; low < n; low += SEGMENT) {
    if (signal?.aborted) throw signal.reason
    const high = Math.min(low + SEGMENT, n)
    const len = high - low
    seg.fill(0, 0, len)
    for (let i = 0; i < base.length; i++) {
      const p = base[i] as number
      let j = (next[i] as number) - low
      if (j >= len) continue
      for (; j < len; j += p) seg[j] = 1
      next[i] = j + low
    }
    for (let k = 0; k < len; k++) if (seg[k] === 0) count++
  }
  return count
}

export const primes = defineTask({
  name: 'primes',
  summary: 'Counts the primes below n (segmented sieve; the CPU benchmark task)',
  input: Type.Object(
    { n: Type.Integer({ minimum: 0, maximum: PRIMES_MAX_N, description: 'Upper bound (exclusive)', examples: [1_000_000] }) },
    { additionalProperties: false },
  ),
  example: { n: 1_000_000 },
  handler: (input, ctx) => ({ n: input.n, count: countPrimesBelow(input.n, ctx.signal) }),
})
