/**
 * bench/sync: the per-request cost of the sync primitives on the hot path, each against the
 * baseline it replaces, measured in the same run.
 *
 * - TokenBucket.take() (synchronous, allocation-free) vs the same bucket behind a promise-returning
 *   `consume()` (the shape of rate-limiter-flexible's API): what a promise per request costs.
 * - Semaphore acquire+release uncontended (the fast path returns one shared resolved promise) vs
 *   a `new Promise` per acquire.
 * - Channel trySend+tryReceive and awaited send+receive on a buffered channel vs Array push/shift.
 * - CircuitBreaker allow()+success() vs an empty function call.
 *
 * Run alone: `bun bench/sync/index.ts` (about 10 s); writes bench/results/sync.md.
 * Figures are medians of 7 runs, in ns per operation; the machine is shared, so they are noisy.
 */
import { Channel, CircuitBreaker, Semaphore, TokenBucket } from '../../src/sync/index.ts'
import { writeResult } from '../lib/report.ts'
import { upperMedian as median } from '../lib/stats.ts'

const N = 1_000_000
const RUNS = 7


type Op = () => unknown
/** ns per call of one run of `n` calls (awaiting each result when `async`). */
async function once(f: Op, n: number, async: boolean): Promise<number> {
  const t = performance.now()
  if (async) for (let i = 0; i < n; i++) await f()
  else for (let i = 0; i < n; i++) f()
  return ((performance.now() - t) * 1e6) / n
}

interface Case {
  name: string
  f: Op
  base: Op
  async: boolean
  /** The baseline must be awaited even though the primitive is synchronous. */
  baseAsync?: boolean
}

let sink = 0

// Rate limiter: the clock is a counter so the figure is the bucket, not the clock call.
let clock = 0
const bucket = new TokenBucket(1e12, 1e12, () => clock++)
const realBucket = new TokenBucket(1e12, 1e12)
const asyncBucket = { consume: async () => (bucket.take() ? 1 : 0) }
const sem = new Semaphore(4)
let held = 0
const naive = {
  acquire: () =>
    new Promise<void>((resolve) => {
      held++
      resolve()
    }),
  release: () => void held--,
}
const ch = new Channel<number>(1024)
const arr: number[] = []
const breaker = new CircuitBreaker({ failureThreshold: 20, openDurationMs: 2_000 })
const noop = (): boolean => true

const cases: Case[] = [
  { name: 'TokenBucket.take() vs promise-returning consume()', f: () => (sink += bucket.take() ? 1 : 0), base: () => asyncBucket.consume().then((v) => (sink += v)), async: false, baseAsync: true },
  { name: 'TokenBucket.take() with performance.now() vs with a counter clock', f: () => (sink += realBucket.take() ? 1 : 0), base: () => (sink += bucket.take() ? 1 : 0), async: false },
  {
    name: 'Semaphore acquire+release (uncontended) vs new Promise per acquire',
    f: async () => {
      await sem.acquire()
      sem.release()
    },
    base: async () => {
      await naive.acquire()
      naive.release()
    },
    async: true,
  },
  {
    name: 'Channel trySend+tryReceive vs Array push+shift',
    f: () => {
      ch.trySend(1)
      sink += ch.tryReceive()?.value ?? 0
    },
    base: () => {
      arr.push(1)
      sink += arr.shift() ?? 0
    },
    async: false,
  },
  {
    name: 'Channel await send+receive vs Array push+shift',
    f: async () => {
      await ch.send(1)
      const r = await ch.receive()
      if (r.ok) sink += r.value
    },
    base: () => {
      arr.push(1)
      sink += arr.shift() ?? 0
    },
    async: true,
  },
  {
    name: 'CircuitBreaker allow()+success() vs an empty call',
    f: () => {
      if (breaker.allow()) breaker.success()
    },
    base: () => (sink += noop() ? 1 : 0),
    async: false,
  },
]

// Runs alternate between each primitive and its baseline, so load drift on this shared machine
// hits both sides alike.
const rows: Array<[string, number, number]> = []
for (const c of cases) {
  const n = c.async || c.baseAsync ? N / 4 : N
  const baseAsync = c.baseAsync ?? c.async
  await once(c.f, n / 10, c.async)
  await once(c.base, n / 10, baseAsync)
  const a: number[] = []
  const b: number[] = []
  for (let r = 0; r < RUNS; r++) {
    a.push(await once(c.f, n, c.async))
    b.push(await once(c.base, n, baseAsync))
  }
  rows.push([c.name, median(a), median(b)])
}

const table = [
  `## sync primitives (bun ${Bun.version}, ${new Date().toISOString().slice(0, 16)}Z, median of ${RUNS} runs)`,
  '',
  '| operation | ns/op | baseline ns/op | ratio |',
  '| --- | ---: | ---: | ---: |',
  ...rows.map(([name, ns, base]) => `| ${name} | ${ns.toFixed(1)} | ${base.toFixed(1)} | ${(ns / base).toFixed(2)}× |`),
  '',
  'Command: `bun bench/sync/index.ts`. Ratio < 1 means the primitive is cheaper than its baseline.',
  '',
].join('\n')
writeResult('sync', table)
if (sink === -1) console.log(sink)
