import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { overflowLimit, planHandoff, tickMs, type HandoffWorker } from '../../src/pool/handoff.ts'
import { poolFactory } from './support.ts'

const dec = new TextDecoder()
const makePool = poolFactory(200)

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached')
    await Bun.sleep(5)
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'resolved'
  } catch (e) {
    return e instanceof AppError ? e.code : `not an AppError: ${String(e)}`
  }
}

/** Resolves with the milliseconds `p` took. */
async function timed(p: Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await p
  return performance.now() - t0
}

type S = HandoffWorker & { index: number }
const slot = (index: number, o: Partial<HandoffWorker> = {}): S => ({ index, ready: true, dead: false, long: false, count: 0, frontSince: 0, ...o })
const OPTS = { core: 2, maxOverflow: 2, longRunMs: 50, lingerMs: 1000, lane: false }

describe('planHandoff (the decision alone)', () => {
  test('a run past the threshold makes its worker long and starts one overflow worker per long run', () => {
    const a = slot(0, { count: 3, frontSince: 0 })
    const b = slot(1, { count: 1, frontSince: 30 })
    const plan = planHandoff([a, b, undefined, undefined], OPTS, 60)
    expect(plan.long).toEqual([a]) // b has run 30 ms only
    expect(plan.spawn).toEqual([2])
    expect(plan.retire).toEqual([])
    // Both long (one already marked): two overflow workers, never more than maxOverflow.
    const both = planHandoff([slot(0, { long: true, count: 1 }), slot(1, { count: 1 }), undefined, undefined], OPTS, 60)
    expect(both.spawn).toEqual([2, 3])
    const capped = planHandoff([slot(0, { long: true, count: 1 }), slot(1, { count: 1 }), undefined], { ...OPTS, maxOverflow: 1 }, 60)
    expect(capped.spawn).toEqual([2])
  })

  test('an idle worker, a worker not ready yet and a dead one are never long; a starting overflow worker counts as one', () => {
    const plan = planHandoff([slot(0), slot(1, { ready: false, count: 2 }), slot(2, { dead: true, count: 1 })], { ...OPTS, maxOverflow: 1 }, 1e6)
    expect(plan).toEqual({ long: [], spawn: [], retire: [] })
    // A long core worker whose stand-in is still starting (not ready): nothing more to start.
    const starting = planHandoff([slot(0, { long: true, count: 1 }), slot(1, { long: true, count: 1 }), slot(2, { ready: false }), undefined], { ...OPTS, maxOverflow: 1 }, 100)
    expect(starting.spawn).toEqual([])
  })

  test('an overflow worker is stopped only when idle for the linger and not needed; core workers never', () => {
    const idleOverflow = slot(2, { frontSince: 0 })
    // Nothing long any more: the overflow worker goes once it has been idle for lingerMs.
    expect(planHandoff([slot(0), slot(1), idleOverflow], OPTS, 999).retire).toEqual([])
    expect(planHandoff([slot(0), slot(1), idleOverflow], OPTS, 1000).retire).toEqual([idleOverflow])
    // Still needed (a run is long): kept however long it idles.
    expect(planHandoff([slot(0, { long: true, count: 1 }), slot(1), idleOverflow], OPTS, 1e6).retire).toEqual([])
    // Busy: kept.
    expect(planHandoff([slot(0), slot(1), slot(2, { count: 1, frontSince: 999_990 })], OPTS, 1e6).retire).toEqual([])
    // Two not needed: both go.
    const o2 = slot(2); const o3 = slot(3)
    expect(planHandoff([slot(0), slot(1), o2, o3], OPTS, 1e6).retire).toEqual([o2, o3])
  })

  test('the short lane starts only once every core and overflow worker is long, and goes when one is free again', () => {
    const lane = { ...OPTS, maxOverflow: 1, lane: true } // slots: 0, 1 core; 2 overflow; 3 the lane
    const long = (i: number) => slot(i, { long: true, count: 1 })
    // Two long core workers: a stand-in first (slot 2), no lane while it can take work.
    expect(planHandoff([long(0), long(1), undefined, undefined], lane, 100).spawn).toEqual([2])
    expect(planHandoff([long(0), long(1), slot(2, { ready: false }), undefined], lane, 100).spawn).toEqual([])
    // The stand-in is long too: now the lane.
    expect(planHandoff([long(0), long(1), long(2), undefined], lane, 100).spawn).toEqual([3])
    // A run found long in this very tick counts the same.
    expect(planHandoff([long(0), long(1), slot(2, { count: 1, frontSince: 0 }), undefined], lane, 100).spawn).toEqual([3])
    // Its own long run does not start another one; it stays while nothing else is free.
    expect(planHandoff([long(0), long(1), long(2), long(3)], lane, 1e6)).toMatchObject({ spawn: [], retire: [] })
    const idleLane = slot(3)
    expect(planHandoff([long(0), long(1), long(2), idleLane], lane, 1e6).retire).toEqual([])
    expect(planHandoff([slot(0), long(1), long(2), idleLane], lane, 1e6).retire).toEqual([idleLane])
    // No worker at all (not started yet, or all being replaced): nothing to stand in for.
    expect(planHandoff([undefined, undefined, undefined, undefined], lane, 100).spawn).toEqual([])
    // No overflow allowed at all (POOL_OVERFLOW=0): the lane alone stands in.
    expect(planHandoff([long(0), long(1), undefined], { ...lane, maxOverflow: 0 }, 100).spawn).toEqual([2])
  })

  test('POOL_OVERFLOW -1 means as many as WORKERS (one stand-in per core worker, WORKERS=1 included); the tick follows the threshold', () => {
    expect(overflowLimit(-1, 1)).toBe(1)
    expect(overflowLimit(-1, 4)).toBe(4)
    expect(overflowLimit(0, 4)).toBe(0)
    expect(overflowLimit(3, 1)).toBe(3)
    expect(tickMs(50)).toBe(10)
    expect(tickMs(1)).toBe(5)
    expect(tickMs(10_000)).toBe(50)
  })
})

describe('long runs on a real pool', () => {
  test('with every worker held by a long run, a short task still finds a worker (2 workers and 1)', async () => {
    for (const workers of [2, 1]) {
      const pool = makePool({ workers })
      await until(() => pool.alive === workers)
      const ac = new AbortController()
      const holds = Array.from({ length: workers }, () => codeOf(pool.run('t.sleep', '{"ms":20000}', { signal: ac.signal })))
      // Found long after 50 ms; one overflow worker each starts (~100 ms here).
      await until(() => pool.stats().longRuns === workers && pool.stats().overflow === workers)
      expect(pool.stats()).toMatchObject({ workers, alive: workers, overflow: workers, longRuns: workers })
      // Each within its deadline (~1 ms on a quiet machine); without the hand-off, 20 s.
      for (let i = 0; i < 20; i++) expect(await codeOf(pool.run('echo', String(i), { timeoutMs: 1000 }))).toBe('resolved')
      ac.abort()
      expect(await Promise.all(holds)).toEqual(Array(workers).fill('client_closed'))
    }
  }, 30_000)

  test('more long runs than workers and overflow workers: a short-deadline task still runs (the short lane), a long one waits', async () => {
    const pool = makePool({ workers: 1, maxOverflow: 1 })
    await until(() => pool.alive === 1)
    const ac = new AbortController()
    const holds = Array.from({ length: 4 }, () => codeOf(pool.run('t.sleep', '{"ms":20000}', { signal: ac.signal })))
    // Two run long (the core worker and its stand-in), two wait; then the lane starts.
    await until(() => pool.stats().longRuns === 2 && pool.stats().overflow === 2)
    // Within its own deadline: the lane's whole point (~1 ms on a quiet machine).
    for (let i = 0; i < 10; i++) expect(await codeOf(pool.run('echo', String(i), { timeoutMs: 1000 }))).toBe('resolved')
    // A task that may run long does not get the lane: it waits behind the queued holds.
    expect(await codeOf(pool.run('echo', '"x"', { timeoutMs: 1500 }))).toBe('task_timeout')
    ac.abort()
    expect(await Promise.all(holds)).toEqual(Array(4).fill('client_closed'))
  }, 30_000)

  test('tasks waiting in the ring of a worker whose run turns long move to another worker', async () => {
    const pool = makePool({ workers: 1 })
    await until(() => pool.alive === 1)
    const long = pool.run('t.spin', '{"ms":1500}')
    // Dispatched at once into the only worker's ring, behind the spin.
    const behind = Array.from({ length: 5 }, (_, i) => timed(pool.run('echo', String(i))))
    const waits = await Promise.all(behind)
    for (const w of waits) expect(w).toBeLessThan(1000) // not the 1.5 s of the spin
    await long
  }, 15_000)

  test('background tasks (priority < 0) run on core workers only; a request goes ahead of the waiting ones', async () => {
    const pool = makePool({ workers: 1, window: 1024 })
    await until(() => pool.alive === 1)
    const order: string[] = []
    const jobs = Array.from({ length: 3 }, (_, i) => pool.run('t.sleep', '{"ms":300}', { priority: -1 }).then(() => order.push(`job${i}`)))
    await Bun.sleep(20)
    // All three in the worker's ring (jobs pipeline while no request comes).
    expect(pool.stats()).toMatchObject({ running: 1, queued: 2 })
    const request = timed(pool.run('echo', '1')).then((ms) => { order.push('request'); return ms })
    // It waits behind the running job at most (and, the job being long, usually not even that:
    // an overflow worker takes it), never behind the two waiting ones.
    expect(await request).toBeLessThan(550)
    await Promise.all(jobs)
    expect(order.filter((x) => x !== 'request')).toEqual(['job0', 'job1', 'job2'])
    expect(order.indexOf('request')).toBeLessThan(order.indexOf('job1'))
    // The overflow worker started for the long job took none of them: they ran one after another.
    expect(pool.stats().tasks['t.sleep']?.queueWaitMs.p90).toBeGreaterThanOrEqual(500)
  }, 15_000)

  test('a request is never written behind jobs that have not started, with no hand-off either', async () => {
    const pool = makePool({ workers: 1, window: 1024, longRunMs: 0 })
    await until(() => pool.alive === 1)
    const order: string[] = []
    const jobs = Array.from({ length: 4 }, (_, i) => pool.run('t.sleep', '{"ms":100}', { priority: -1 }).then(() => order.push(`job${i}`)))
    await Bun.sleep(20)
    const a = pool.run('echo', '1').then(() => order.push('a'))
    const b = pool.run('echo', '2').then(() => order.push('b'))
    const wait = await timed(Promise.all([a, b]))
    expect(wait).toBeLessThan(250) // one job (100 ms), not four
    await Promise.all(jobs)
    expect(order).toEqual(['job0', 'a', 'b', 'job1', 'job2', 'job3'])
  }, 15_000)

  test('an overflow worker is stopped once no run is long and it idled for the linger', async () => {
    const pool = makePool({ workers: 1, longRunMs: 30, lingerMs: 200 })
    await until(() => pool.alive === 1)
    const long = pool.run('t.sleep', '{"ms":400}')
    await until(() => pool.stats().overflow === 1)
    await long
    await until(() => pool.stats().overflow === 0, 5000)
    expect(pool.alive).toBe(1)
    expect(pool.stats().restarts).toBe(0) // stopping it is not a crash
    expect(dec.decode(await pool.run('echo', '"still"'))).toBe('"still"')
  }, 15_000)

  test('a crashed overflow worker is not replaced blindly: the next tick starts one while a run is still long', async () => {
    const pool = makePool({ workers: 1 })
    await until(() => pool.alive === 1)
    const ac = new AbortController()
    const hold = codeOf(pool.run('t.sleep', '{"ms":20000}', { signal: ac.signal }))
    await until(() => pool.stats().overflow === 1)
    expect(await codeOf(pool.run('t.exit', '{}'))).toBe('worker_crashed')
    expect(pool.stats().overflow).toBe(0)
    await until(() => pool.stats().overflow === 1) // a new stand-in, the core worker still held
    expect(dec.decode(await pool.run('echo', '5', { timeoutMs: 2000 }))).toBe('5')
    ac.abort()
    expect(await hold).toBe('client_closed')
  }, 15_000)

  test('POOL_LONG_RUN=0 turns the hand-off off: a task waits behind the long one', async () => {
    const pool = makePool({ workers: 1, longRunMs: 0 })
    await until(() => pool.alive === 1)
    const long = pool.run('t.sleep', '{"ms":600}')
    const wait = await timed(pool.run('echo', '1'))
    expect(wait).toBeGreaterThanOrEqual(500)
    await long
    expect(pool.stats()).toMatchObject({ overflow: 0, longRuns: 0 })
  })
})
