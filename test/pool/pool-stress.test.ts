/**
 * The pool under a storm: many tasks with random payload sizes (a few far above the ring's inline
 * limit), random priorities, random cancellations while queued, waiting in a ring or running.
 * Every task must settle exactly once, with its own bytes or the expected error.
 */
import { afterAll, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { WorkerPool } from '../../src/pool/pool.ts'

const EXTRA = new URL('./fixtures/tasks.ts', import.meta.url)
/** A small window and ring: many wrap-arounds, side paths and steals. */
const small = new WorkerPool({ workers: 2, queueLimit: 100_000, window: 64, ringBytes: 1 << 16, extraTasks: EXTRA })
/** The defaults: deep rings (window 1024), priorities narrowing the window while they come. */
const deep = new WorkerPool({ workers: 2, queueLimit: 100_000, extraTasks: EXTRA })
afterAll(() => Promise.all([small.close(1000), deep.close(1000)]))
const dec = new TextDecoder()

function rng(seed: number) {
  let x = seed | 1
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 4294967296 }
}

async function storm(pool: WorkerPool, seed: number, bigMax: number): Promise<void> {
  const r = rng(seed)
  const n = 30_000
  let canceledAsked = 0
  const runs: Array<Promise<'ok' | 'canceled' | string>> = []
  for (let i = 0; i < n; i++) {
    const x = r()
    const size = x < 0.98 ? Math.floor(r() * 300) : Math.floor(r() * bigMax) // up to ~2.5x the ring's inline limit
    const input = JSON.stringify({ i, s: 'é'.repeat(size % 7) + 'a'.repeat(size) })
    const ac = new AbortController()
    const slow = r() < 0.01
    const p = (slow ? pool.run('t.sleep', '{"ms":5}', { signal: ac.signal, priority: 1 }) : pool.run('echo', input, { signal: ac.signal, priority: r() < 0.1 ? 2 : 0 }))
      .then((bytes) => (slow || dec.decode(bytes) === input ? 'ok' : `task ${i} got other bytes`))
      .catch((e: unknown) => (e instanceof AppError && e.code === 'client_closed' ? 'canceled' : `task ${i} failed: ${String(e)}`))
    if (r() < 0.05) {
      canceledAsked++
      if (r() < 0.5) ac.abort()
      else setTimeout(() => ac.abort(), Math.floor(r() * 5))
    }
    runs.push(p)
    if (i % 2000 === 0) await Bun.sleep(0) // let some drain: bursts, not one flood
  }
  const results = await Promise.all(runs)
  const wrong = results.filter((x) => x !== 'ok' && x !== 'canceled')
  expect(wrong).toEqual([])
  const canceled = results.filter((x) => x === 'canceled').length
  expect(canceled).toBeLessThanOrEqual(canceledAsked)
  const s = pool.stats()
  const echo = s.tasks['echo']
  const sleep = s.tasks['t.sleep']
  expect((echo?.ok ?? 0) + (sleep?.ok ?? 0)).toBe(n - canceled)
  expect((echo?.canceled ?? 0) + (sleep?.canceled ?? 0)).toBe(canceled)
  expect(s.queued).toBe(0)
  expect(s.running).toBe(0)
  expect(s.restarts).toBe(0)
}

test('30k tasks with random sizes, priorities and cancellations all settle correctly (small window and ring)', async () => {
  await storm(small, 99, 40_000) // 16 KiB inline limit
}, 60_000)

test('30k tasks with random sizes, priorities and cancellations all settle correctly (default window and ring)', async () => {
  await storm(deep, 7, 160_000) // 64 KiB inline limit
}, 60_000)
