/**
 * bench/rate-limit: the cost of one rate-limit check, in process (`MemoryRateLimiter`, the
 * default) against Redis (`RATE_LIMIT_URL`: `RedisRateLimiter`, rate-limiter-flexible + ioredis on
 * the local Redis), and the fallback path (Redis down: the check is refused at once as "not ready"
 * and answered by the insurance).
 *
 * Sequential: `CHECKS` checks one after another over 1 000 client keys, each timed (p50, p99).
 * Concurrent: 64 callers checking as fast as they can for `SECONDS` (checks/s). Limits are set so
 * high that nothing is refused: a refusal costs the same round trip.
 *
 * @example
 * ```sh
 * bun bench/rate-limit/index.ts              # needs Redis on 127.0.0.1:6379
 * CHECKS=5000 SECONDS_=1 bun bench/rate-limit/index.ts
 * ```
 */
import { MemoryRateLimiter, type RateLimiter } from '../../src/http/rate-limit/limiter.ts'
import { RedisRateLimiter } from '../../src/http/rate-limit/redis.ts'
import { percentile } from '../lib/stats.ts'
import { writeResult } from '../lib/report.ts'

const CHECKS = Number(process.env.CHECKS ?? 20_000)
const SECONDS = Number(process.env.SECONDS_ ?? 3)
const IN_FLIGHT = 64
const KEYS = Array.from({ length: 1000 }, (_, i) => `198.51.${i >> 8}.${i & 255}`)
const LIMITS = { rps: 1e9, burst: 1e9 }

async function sequential(l: RateLimiter): Promise<{ p50: number; p99: number }> {
  const lat: number[] = []
  for (let i = 0; i < CHECKS; i++) {
    const t0 = performance.now()
    const d = l.consume(KEYS[i % KEYS.length]!)
    if (d instanceof Promise) await d
    lat.push((performance.now() - t0) * 1000)
  }
  lat.sort((a, b) => a - b)
  return { p50: percentile(lat, 50), p99: percentile(lat, 99) }
}

async function concurrent(l: RateLimiter): Promise<number> {
  let n = 0
  const end = performance.now() + SECONDS * 1000
  await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, c) => {
    let i = c
    while (performance.now() < end) {
      // A synchronous limiter answers without yielding: yield every 256 checks so the clock is read.
      const d = l.consume(KEYS[i++ % KEYS.length]!)
      if (d instanceof Promise) await d
      else if ((i & 255) === 0) await null
      n++
    }
  }))
  return n / SECONDS
}

const prefix = `highperf-bench:${process.pid}`
const rows: Array<[string, RateLimiter, () => void]> = []
rows.push(['in process (`MemoryRateLimiter`, default)', new MemoryRateLimiter(LIMITS), () => {}])
const redis = new RedisRateLimiter({ url: 'redis://127.0.0.1:6379', ...LIMITS, keyPrefix: prefix, insurance: new MemoryRateLimiter(LIMITS), commandTimeoutMs: 1000 })
if (!(await redis.ready(5000))) throw new Error('Redis on 127.0.0.1:6379 does not answer')
rows.push(['Redis (`RATE_LIMIT_URL`, ioredis, 1 round trip)', redis, () => redis.close()])
const down = new RedisRateLimiter({ url: 'redis://127.0.0.1:1', ...LIMITS, keyPrefix: prefix, insurance: new MemoryRateLimiter(LIMITS) })
rows.push(['Redis down: fallback to the insurance', down, () => down.close()])

const lines = ['| limiter | p50 | p99 | checks/s, 64 in flight |', '| --- | ---: | ---: | ---: |']
const us = (x: number) => (x < 10 ? `${x.toFixed(1)} µs` : x < 1000 ? `${x.toFixed(0)} µs` : `${(x / 1000).toFixed(2)} ms`)
for (const [name, l, close] of rows) {
  await sequential(l) // warm-up
  const s = await sequential(l)
  const rate = await concurrent(l)
  lines.push(`| ${name} | ${us(s.p50)} | ${us(s.p99)} | ${Math.round(rate).toLocaleString('en-US')} |`)
  close()
}
if (redis.fallbacks > 0) lines.push('', `(${redis.fallbacks} Redis checks fell back during the run: the figures include them)`)
const md = `## bench/rate-limit: one rate-limit check (bun ${Bun.version}, ${new Date().toISOString().slice(0, 16)}Z)\n\n${CHECKS} sequential checks over 1 000 keys, then ${IN_FLIGHT} callers for ${SECONDS} s.\n\n${lines.join('\n')}\n`
writeResult('rate-limit', md)
// The host's shared-memory table against the in-process buckets: its own process (it maps a file
// and spawns a second process to contend).
Bun.spawnSync([process.execPath, `${import.meta.dir}/shared-table.ts`], { stdout: 'inherit', stderr: 'inherit' })
process.exit(0)
