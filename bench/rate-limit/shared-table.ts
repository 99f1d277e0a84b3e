/**
 * bench/rate-limit: what one rate-limit check costs with the table every process of a host
 * shares (`SharedRateLimiter`, used when the cluster primary passes HIGHPERF_CLUSTER_RATE_TABLE)
 * next to the in-process `MemoryRateLimiter`, measured in the same run.
 *
 * Each case times N calls of `consume(key)` with the limiters' real clocks (`Date.now` for the
 * shared table, `performance.now` for the in-process buckets), set so high they never refuse:
 * - one client (every check on one bucket);
 * - 1 000 clients in turn (the table's slots and the LRU's entries stay in cache);
 * - 100 000 clients in turn (past the in-process table's 50 000 bound, so it evicts; the
 *   shared 4 MiB table holds 131 070 slots, its windows crowd and it evicts too);
 * - the shared table while a second process hammers the SAME key (every check moves the slot's
 *   cache line between cores and may wait for its lock) and while it hammers another key.
 * Rounds are interleaved; the median of ROUNDS is reported. 2 shared cores: noisy.
 *
 * @example
 * ```sh
 * bun bench/rate-limit/shared-table.ts     # ~30 s, writes bench/results/rate-limit-shared.md (also run by index.ts)
 * ROUNDS=3 bun bench/rate-limit/shared-table.ts   # quick look
 * ```
 */
import { rmSync, writeFileSync } from 'node:fs'
import { MemoryRateLimiter } from '../../src/http/rate-limit/limiter.ts'
import { SharedRateLimiter } from '../../src/http/rate-limit/shared-limiter.ts'
import { writeResult } from '../lib/report.ts'
import { upperMedian } from '../lib/stats.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 7)
const N = 1_000_000
const TABLE_BYTES = 4 * 1024 * 1024
const RATE = { rps: 1e9, burst: 1e9 }

// The background process of the contended cases: consume one key until killed.
if (process.argv[2] === 'hammer') {
  const l = new SharedRateLimiter({ table: process.argv[3] as string, ...RATE })
  const key = process.argv[4] as string
  console.log('ready')
  for (;;) for (let i = 0; i < 10_000; i++) l.consume(key)
}

const path = `/dev/shm/highperf-bench-rate-${process.pid}`
writeFileSync(path, new Uint8Array(TABLE_BYTES))
const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
const keys = (n: number) => Array.from({ length: n }, (_, i) => ip(i))
const one = keys(1)
const k1000 = keys(1000)
const k100k = keys(100_000)

let sink = 0
function run(l: { consume(k: string): { allowed: boolean } }, ks: string[]): number {
  const m = ks.length
  const t = performance.now()
  for (let i = 0; i < N; i++) sink += l.consume(ks[i % m] as string).allowed ? 1 : 0
  return ((performance.now() - t) * 1e6) / N
}

async function withHammer<T>(key: string, f: () => T): Promise<T> {
  const p = Bun.spawn([process.execPath, import.meta.path, 'hammer', path, key], { stdout: 'pipe', stderr: 'inherit' })
  const reader = p.stdout.getReader()
  await reader.read() // 'ready'
  await Bun.sleep(50)
  try {
    return f()
  } finally {
    p.kill('SIGKILL')
    await p.exited
  }
}

interface Case { name: string; measure: () => number | Promise<number> }
const mem = () => new MemoryRateLimiter(RATE)
const shared = new SharedRateLimiter({ table: path, ...RATE })
const cases: Case[] = [
  { name: 'in-process, one client', measure: () => run(mem(), one) },
  { name: 'shared table, one client', measure: () => run(shared, one) },
  { name: 'in-process, 1 000 clients', measure: () => run(mem(), k1000) },
  { name: 'shared table, 1 000 clients', measure: () => run(shared, k1000) },
  { name: 'in-process, 100 000 clients (evicts past 50 000)', measure: () => run(mem(), k100k) },
  { name: 'shared table, 100 000 clients', measure: () => run(shared, k100k) },
  { name: 'shared table, one client, another process hammering the same client', measure: () => withHammer(one[0] as string, () => run(shared, one)) },
  { name: 'shared table, one client, another process hammering another client', measure: () => withHammer('198.51.100.7', () => run(shared, one)) },
]

try {
  const ns: number[][] = cases.map(() => [])
  for (const c of cases) await c.measure() // warm up (JIT)
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, c] of cases.entries()) {
      const x = await c.measure()
      ns[i]!.push(x)
      process.stderr.write(`round ${r + 1}/${ROUNDS} ${c.name}: ${x.toFixed(0)} ns\n`)
    }
  }
  const med = ns.map(upperMedian)
  const rows = cases.map((c, i) => {
    // Each shared row against the in-process row just above it; the contended ones against the
    // uncontended shared, one client.
    const base = c.name.startsWith('shared table, one client,') ? med[1]! : c.name.startsWith('shared') ? med[i - 1]! : med[i]!
    return `| ${c.name} | ${med[i]!.toFixed(0)} | ${Math.min(...ns[i]!).toFixed(0)} | ${(med[i]! / base).toFixed(2)}× |`
  })
  writeResult('rate-limit-shared', [
    '# Rate-limit check cost (bench/rate-limit)',
    '',
    `\`bun bench/rate-limit/index.ts\` — ${new Date().toISOString()}, Bun ${Bun.version}, ${N.toLocaleString('en')} \`consume()\` calls per case and round, median of ${ROUNDS} interleaved rounds. 2 shared cores: noisy.`,
    'Ratio: a shared row against the in-process row above it; the two contended rows against the shared table, one client, uncontended.',
    '',
    '| case | ns / check (median) | best round | ratio |',
    '| --- | ---: | ---: | ---: |',
    ...rows,
    '',
  ].join('\n'))
} finally {
  rmSync(path, { force: true })
}
if (sink < 0) console.log(sink)
