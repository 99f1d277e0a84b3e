/**
 * A quick A/B of pipelined echo: highperf's pool vs the bare ring vs postMessage, interleaved.
 * Development aid, not part of `bun run bench`: `bun bench/pool/ab.ts [reps] [ms]`.
 *
 * @example bun bench/pool/ab.ts 3 1000
 */
import { Worker } from 'node:worker_threads'
import { WorkerPool } from '../../src/pool/pool.ts'
import { BareRing } from './bare.ts'
import { pipelined } from './measure.ts'

const REPS = Number(process.argv[2] ?? 3)
const MS = Number(process.argv[3] ?? 1000)
const ECHO = '{"v":1}'
const INFLIGHT = 1000


for (const workers of [1, 2]) {
  const pool = new WorkerPool({ workers, queueLimit: 1_000_000, ...(process.env.WINDOW ? { window: Number(process.env.WINDOW) } : {}) })
  while (pool.alive < workers) await Bun.sleep(5)
  const bare = new BareRing(workers)
  await bare.ready()
  const ws = Array.from({ length: workers }, () => new Worker(new URL('./pm-worker.ts', import.meta.url)))
  const waiting = new Map<number, (v: unknown) => void>()
  for (const w of ws) w.on('message', (m: [number, unknown]) => { const r = waiting.get(m[0]); waiting.delete(m[0]); r?.(m[1]) })
  let next = 1, rr = 0
  const pm = () => new Promise((resolve) => { const id = next++; waiting.set(id, resolve); const w = ws[rr] as Worker; rr = (rr + 1) % ws.length; w.postMessage([id, ECHO]) })
  await Promise.all(ws.map(() => pm()))
  const runs: Array<[string, () => Promise<unknown>]> = [['pool', () => pool.run('echo', ECHO)], ['bare', () => bare.run(0)], ['postMessage', pm]]
  const xs: Record<string, number[]> = {}
  for (let r = 0; r < REPS; r++) for (const [n, f] of runs) (xs[n] ??= []).push(await pipelined(f, MS, INFLIGHT))
  const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)] as number
  const m = Object.fromEntries(Object.entries(xs).map(([n, a]) => [n, med(a)]))
  console.log(`${workers}w  pool ${(m.pool! / 1e6).toFixed(2)} M  bare ${(m.bare! / 1e6).toFixed(2)} M  pm ${(m.postMessage! / 1e3).toFixed(0)} k  pool/bare ${(m.pool! / m.bare!).toFixed(2)}  pool/pm ${(m.pool! / m.postMessage!).toFixed(2)}`)
  await pool.close(1000); await bare.close(); await Promise.all(ws.map((w) => w.terminate()))
}
process.exit(0)
