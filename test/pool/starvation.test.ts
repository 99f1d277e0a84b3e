/**
 * Short synchronous work keeps a path to a worker while long work holds the pool (issue #11,
 * item 7): a real server (startServer, real pool, real HTTP), default POOL_LONG_RUN/POOL_OVERFLOW.
 * Timed bounds are generous (the machine is shared): the deadlines themselves are what must hold.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { testConfig, type Config } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'

const servers: Array<{ srv: RunningServer; remove(): void }> = []
afterAll(async () => {
  for (const { srv, remove } of servers) {
    await srv.shutdown()
    remove()
  }
})

async function start(overrides: Partial<Config>): Promise<RunningServer> {
  const { dir, remove } = tempDir()
  const srv = await startServer(testConfig({
    port: 0, host: '127.0.0.1', dataDir: join(dir, 'data'), filesDir: join(dir, 'files'), rateLimitRps: 0, shutdownTimeout: 300, ...overrides,
  }), { log: silentLogger() })
  servers.push({ srv, remove })
  const workers = overrides.workers ?? 2
  await until(() => srv.deps.pool.stats().alive === workers)
  return srv
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached')
    await Bun.sleep(5)
  }
}

const post = (srv: RunningServer, path: string, body: unknown, signal?: AbortSignal): Promise<Response> =>
  fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal ? { signal } : {}) })

/** Status and milliseconds of one request. */
async function timedStatus(p: () => Promise<Response>): Promise<{ status: number; ms: number }> {
  const t0 = performance.now()
  const res = await p()
  await res.arrayBuffer()
  return { status: res.status, ms: performance.now() - t0 }
}

/**
 * The short work of the issue, ten times each: `GET /api/cars/1` (answered through the pool,
 * 80 ms deadline) and a small `/tasks/primes` given 200 ms. Each must answer 200.
 */
async function expectShortWorkServed(srv: RunningServer): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const cars = await timedStatus(() => fetch(`${srv.url}api/cars/1`))
    expect(cars.status).toBe(200)
    const primes = await timedStatus(() => post(srv, 'tasks/primes?timeoutMs=200', { n: 1000 }))
    expect(primes.status).toBe(200)
    expect(primes.ms).toBeLessThan(200)
  }
}

/**
 * Gives the hand-off its time: every core worker's run is found long (POOL_LONG_RUN) and an
 * overflow worker per long run is up (a worker starts in ~100 ms here). Without a hand-off this
 * never happens; the short work that follows then shows what clients get.
 */
async function handedOff(srv: RunningServer, workers: number): Promise<void> {
  const end = Date.now() + 5000
  while (Date.now() < end) {
    const s = srv.deps.pool.stats()
    if (s.longRuns === workers && s.overflow === workers) return
    await Bun.sleep(10)
  }
}

describe('short work keeps a worker while long work holds the pool (real HTTP)', () => {
  for (const workers of [2, 1]) {
    test(`WORKERS=${workers}: synchronous 30 s sleeps on every worker; cars and primes still answer 200 in time`, async () => {
      const srv = await start({ workers })
      const ac = new AbortController()
      const holds = Array.from({ length: workers }, () => post(srv, 'tasks/sleep', { ms: 30_000 }, ac.signal).catch(() => undefined))
      await handedOff(srv, workers)
      await expectShortWorkServed(srv)
      ac.abort() // the client leaves: its sleep is canceled
      await Promise.all(holds)
    }, 30_000)

    test(`WORKERS=${workers}: twice as many long jobs as workers (JOB_CONCURRENCY's default); cars and primes still answer 200 in time`, async () => {
      const srv = await start({ workers })
      const ids: string[] = []
      for (let i = 0; i < 2 * workers; i++) {
        const res = await post(srv, 'jobs', { task: 'sleep', input: { ms: 30_000 }, timeoutMs: 60_000 })
        expect(res.status).toBe(202)
        ids.push(((await res.json()) as { id: string }).id)
      }
      await handedOff(srv, workers)
      await expectShortWorkServed(srv)
      // The overflow workers took no job: half of them still wait for a core worker.
      expect(srv.deps.pool.stats().queued).toBe(workers)
      for (const id of ids) await fetch(`${srv.url}jobs/${id}`, { method: 'DELETE' })
    }, 30_000)
  }

  test('WORKERS=2, six synchronous 30 s sleeps (more than workers + overflow): request-sized work still answers 200 in time', async () => {
    const srv = await start({ workers: 2 })
    const ac = new AbortController()
    const holds = Array.from({ length: 6 }, () => post(srv, 'tasks/sleep', { ms: 30_000 }, ac.signal).catch(() => undefined))
    // 2 core + 2 overflow workers long, 2 sleeps queued, then the short lane.
    await until(() => srv.deps.pool.stats().longRuns === 4 && srv.deps.pool.stats().overflow === 3)
    await expectShortWorkServed(srv)
    ac.abort()
    await Promise.all(holds)
  }, 30_000)

  test('a request waits behind at most one running job (docs/jobs.md), however many jobs are in the pool', async () => {
    // 16 jobs of 40 ms each in the pool of one worker (below POOL_LONG_RUN: no hand-off helps).
    const srv = await start({ workers: 1, jobConcurrency: 16 })
    for (let i = 0; i < 16; i++) expect((await post(srv, 'jobs', { task: 'sleep', input: { ms: 40 } })).status).toBe(202)
    await until(() => srv.deps.pool.stats().running === 1)
    const primes = await timedStatus(() => post(srv, 'tasks/primes', { n: 1000 }))
    expect(primes.status).toBe(200)
    // One job's 40 ms and the trip, not 16 × 40 ms; generous for a loaded machine.
    expect(primes.ms).toBeLessThan(250)
  }, 30_000)
})
