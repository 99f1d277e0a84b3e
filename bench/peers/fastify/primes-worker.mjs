// The piscina task of the Fastify peer: highperf's `primes` (src/tasks/primes.ts), the same
// segmented sieve, ported to plain JavaScript for Node.

const SEGMENT = 32 * 1024

function smallPrimes(limit) {
  const composite = new Uint8Array(limit + 1)
  const out = []
  for (let i = 2; i <= limit; i++) {
    if (composite[i] === 0) {
      out.push(i)
      for (let j = i * i; j <= limit; j += i) composite[j] = 1
    }
  }
  return Uint32Array.from(out)
}

/** Number of primes below n. */
export function countPrimesBelow(n) {
  if (n <= 2) return 0
  const base = smallPrimes(Math.floor(Math.sqrt(n - 1)))
  const next = new Float64Array(base.length)
  for (let i = 0; i < base.length; i++) next[i] = base[i] * base[i]
  const seg = new Uint8Array(SEGMENT)
  let count = 0
  for (let low = 2; low < n; low += SEGMENT) {
    const high = Math.min(low + SEGMENT, n)
    const len = high - low
    seg.fill(0, 0, len)
    for (let i = 0; i < base.length; i++) {
      const p = base[i]
      let j = next[i] - low
      if (j >= len) continue
      for (; j < len; j += p) seg[j] = 1
      next[i] = j + low
    }
    for (let k = 0; k < len; k++) if (seg[k] === 0) count++
  }
  return count
}

export default function primes({ n }) {
  return { n, count: countPrimesBelow(n) }
}
