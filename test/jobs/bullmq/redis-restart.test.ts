/**
 * `JOBS_URL=redis://…` when Redis restarts, with a real highperf process and a redis-server of the
 * test's own (AOF, `appendfsync always`: test/support/services.ts), so the shared 6379 is never
 * killed:
 *
 * - SIGKILLed twice under load (jobs of 200 ms reporting progress, default attempts): job routes answer 503 `jobs_unavailable` (or `circuit_open` once
 *   the route's breaker opens) with Retry-After, never a 500 or a hang; /healthz 200 throughout;
 *   everything recovers without a restart and every job answered 202 succeeds;
 * - down at start: the server waits for it (up to START_WAIT) and starts when it comes; still down after
 *   that, exit 1 with one line.
 *
 * test/jobs/bullmq/node-loss.test.ts has the quiet case (a restart with delayed jobs waiting).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { PrivateRedis } from '../../support/services.ts'
import { OutageRun, expectCleanExit, expectCleanOutage, allJobsSucceeded, expectWaitAtStart, healthFigures, startHighperf, type Answer } from '../../support/outage.ts'
import { freePort } from '../../support/process.ts'

let redis: PrivateRedis
beforeAll(async () => {
  redis = await PrivateRedis.create()
})
afterAll(async () => {
  await redis?.destroy()
})

interface JobView { id: string; state: string }

describe('JOBS_URL=redis:// while Redis restarts', () => {
  test('SIGKILLed twice under load: 503 jobs_unavailable, never a 500 or a hang; recovers by itself; every accepted job succeeds', async () => {
    const srv = await startHighperf({ JOBS_URL: redis.url(), JOB_CONCURRENCY: '8', JOB_LEASE: '1s' })
    const run = new OutageRun(srv.base)
    const accepted: string[] = []
    const keep = (a: Answer) => { if (a.status === 202) accepted.push((a.body as JobView).id) }
    run.loop('submit', () => ({ path: '/jobs', method: 'POST', body: { task: 'sleep', input: { ms: 200, steps: 4 } } }), keep, 20)
    run.loop('read', () => accepted.length === 0 ? undefined : { path: `/jobs/${accepted[Math.floor(Math.random() * accepted.length)]}` }, undefined, 10)
    run.loop('list', () => ({ path: '/jobs?limit=5' }), undefined, 100)
    const recovered: number[] = []
    for (let outage = 0; outage < 2; outage++) recovered.push(await run.outage('submit', 202, 'read', () => redis.kill(), () => redis.start()))
    await run.stop()
    console.log(`redis jobs outage: ${run.summary()}; ${healthFigures(run)}; first 202 ${recovered.map((ms) => ms.toFixed(0)).join(' / ')} ms after each return; ${accepted.length} accepted`)
    expectCleanOutage(run, ['jobs_unavailable', 'circuit_open'], [200, 202])
    await allJobsSucceeded(srv.base, accepted)
    await expectCleanExit(srv)
  }, 120_000)

  test('down at start: the server waits for it and starts when it comes; still down after START_WAIT (3 s here), exit 1 with one line', async () => {
    await redis.kill()
    await expectWaitAtStart({
      setting: 'JOBS_URL', url: redis.url(), start: () => redis.start(),
      nowhere: `redis://:s3cret@127.0.0.1:${freePort()}`, printed: 'JOBS_URL redis://:***@127.0.0.1:',
      whenReady: async (base) => {
        const res = await fetch(`${base}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'sleep', input: { ms: 1 } }) })
        expect(res.status).toBe(202)
      },
    })
  }, 60_000)
})
