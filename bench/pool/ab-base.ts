/**
 * A/B of a pool change: the pool of another checkout (BASE, e.g. a `git worktree` of the last
 * commit) against this tree's and the bare ring, alternating rounds of 1000-in-flight echo, with
 * medians of per-round ratios. A development aid (docs/pool.md "Benchmarks"), not part of
 * `bun run bench`.
 *
 * @example
 * ```sh
 * git worktree add /tmp/highperf-base HEAD && ln -s "$PWD/node_modules" /tmp/highperf-base/
 * BASE=/tmp/highperf-base bun bench/pool/ab-base.ts 7 500 1,2   # rounds, ms per round, workers
 * ```
 */
import { WorkerPool as Current } from '../../src/pool/pool.ts'
import { upperMedian as median } from '../lib/stats.ts'
import { BareRing } from './bare.ts'
import { pipelined } from './measure.ts'

const BASE = process.env.BASE
if (!BASE) throw new Error('set BASE to the root of the checkout to compare with (see the file comment)')
const { WorkerPool: Base } = (await import(`${BASE}/src/pool/pool.ts`)) as { WorkerPool: typeof Current }
const ROUNDS = Number(process.argv[2] ?? 7)
const MS = Number(process.argv[3] ?? 500)
const WORKERS = (process.argv[4] ?? '1,2').split(',').map(Number)
const ECHO = '{"v":1}'
const INFLIGHT = 1000

for (const workers of WORKERS) {
  const base = new Base({ workers, queueLimit: 1_000_000 })
  const cur = new Current({ workers, queueLimit: 1_000_000 })
  while (base.alive < workers || cur.alive < workers) await Bun.sleep(5)
  const bare = new BareRing(workers)
  await bare.ready()
  const ratios: number[] = []
  const vsBare: number[] = []
  const figures: Record<'base' | 'cur' | 'bare', number[]> = { base: [], cur: [], bare: [] }
  for (let r = 0; r < ROUNDS; r++) {
    const b = await pipelined(() => base.run('echo', ECHO), MS, INFLIGHT)
    const c = await pipelined(() => cur.run('echo', ECHO), MS, INFLIGHT)
    const x = await pipelined(() => bare.run(0), MS, INFLIGHT)
    figures.base.push(b)
    figures.cur.push(c)
    figures.bare.push(x)
    ratios.push(c / b)
    vsBare.push(c / x)
  }
  const m = (xs: number[]) => `${(median(xs) / 1e6).toFixed(2)} M/s`
  console.log(`${workers} worker(s): base ${m(figures.base)}, current ${m(figures.cur)}, bare ring ${m(figures.bare)}; current/base ${median(ratios).toFixed(2)}×, current/bare ${median(vsBare).toFixed(2)}×`)
  await Promise.all([base.close(1000), cur.close(1000), bare.close()])
}
process.exit(0)
