/**
 * `JOBS_URL=postgres://…` (BullMQ 6's PostgreSQL backend) when PostgreSQL restarts, with a real
 * highperf process and a PostgreSQL cluster of the test's own (test/support/services.ts), so the
 * shared 5432 is never stopped:
 *
 * - stopped (`pg_ctl stop -m immediate`) and SIGKILLed under load (jobs of 200 ms reporting
 *   progress, default attempts): the server keeps answering,
 *   job routes answer 503 `jobs_unavailable` (or `circuit_open` once the route's breaker opens)
 *   with Retry-After, never a 500 or a hang; /healthz 200 throughout; everything recovers without
 *   a restart and every job answered 202 succeeds;
 * - stopped while BullMQ's schema transaction is open at start (an advisory lock held by the test
 *   keeps it open): no uncaught error from the `pg` client (it used to print two stacks and fail
 *   the start), and the server starts once PostgreSQL is back;
 * - down at start: the server waits for it (up to START_WAIT) and starts when it comes; still down after
 *   that, exit 1 with one line.
 */
import { expect, test } from 'bun:test'
import { SQL } from 'bun'
import { privatePostgres } from '../../support/services.ts'
import { OutageRun, expectCleanExit, expectCleanOutage, allJobsSucceeded, expectWaitAtStart, healthFigures, outageEnv, startHighperf, type Answer } from '../../support/outage.ts'
import { freePort, spawnHighperf, waitHealthy } from '../../support/process.ts'
import { tempDir } from '../../support/deps.ts'

const db = privatePostgres('the PostgreSQL restart tests')
const describePg = db.describe

interface JobView { id: string; state: string }

describePg('JOBS_URL=postgres:// while PostgreSQL restarts', () => {
  test('stopped mid-transaction at start (BullMQ creating its schema): no uncaught pg error, the server starts once it is back', async () => {
    // BullMQ runs its migrations in a transaction that first takes this advisory lock; holding it
    // keeps that transaction open (and its pg client checked out) until PostgreSQL goes away.
    const holder = new SQL(db.pg().url(), { max: 1 })
    const held = await holder.reserve()
    await held`SELECT pg_advisory_lock(1112493644, hashtext('bullmq'))`
    const tmp = tempDir('highperf-pg-midtx-')
    const port = freePort()
    const s = spawnHighperf([process.execPath, 'run', 'src/main.ts'], { PORT: String(port), ...outageEnv(`${tmp.dir}/data`, { JOBS_URL: db.pg().url() }) })
    try {
      // Wait until highperf's schema transaction is blocked on the lock: mid-transaction.
      for (let i = 0; ; i++) {
        const waiting = await held`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%'`
        if ((waiting[0] as { n: number }).n > 0) break
        if (i > 400 || s.proc.exitCode !== null) throw new Error('highperf never reached its schema transaction')
        await Bun.sleep(50)
      }
      await db.pg().stop()
      held.release()
      await holder.close({ timeout: 0 }).catch(() => {})
      await Bun.sleep(1000)
      await db.pg().start()
      await waitHealthy(`http://127.0.0.1:${port}/readyz`, s.proc, 30_000).catch(async (err: Error) => {
        throw new Error(`${err.message}; stderr: ${(await s.output()).stderr}`)
      })
      const res = await fetch(`http://127.0.0.1:${port}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'sleep', input: { ms: 1 } }) })
      expect(res.status).toBe(202)
      await allJobsSucceeded(`http://127.0.0.1:${port}`, [((await res.json()) as JobView).id])
    } finally {
      if (s.proc.exitCode === null) s.proc.kill('SIGTERM')
    }
    const out = await s.output()
    tmp.remove()
    // Before the fix: two "error: Connection terminated unexpectedly" stacks from pg/lib/client.js, then exit 1.
    expect(out.stderr).toBe('')
    expect(out.code).toBe(0)
  }, 60_000)

  test('down at start: the server waits for it and starts when it comes; still down after START_WAIT (3 s here), exit 1 with one line', async () => {
    await db.pg().stop()
    await expectWaitAtStart({
      setting: 'JOBS_URL', url: db.pg().url(), start: () => db.pg().start(),
      nowhere: `postgres://app:s3cret@127.0.0.1:${freePort()}/nowhere`, printed: 'JOBS_URL postgres://app:***@127.0.0.1:',
    })
  }, 60_000)

  test('stopped (immediate) then SIGKILLed under load: 503 jobs_unavailable, never a 500 or a hang; recovers by itself; every accepted job succeeds', async () => {
    const srv = await startHighperf({ JOBS_URL: db.pg().url(), JOB_CONCURRENCY: '8', JOB_LEASE: '1s' })
    const run = new OutageRun(srv.base)
    const accepted: string[] = []
    const keep = (a: Answer) => { if (a.status === 202) accepted.push((a.body as JobView).id) }
    run.loop('submit', () => ({ path: '/jobs', method: 'POST', body: { task: 'sleep', input: { ms: 200, steps: 4 } } }), keep, 20)
    run.loop('read', () => accepted.length === 0 ? undefined : { path: `/jobs/${accepted[Math.floor(Math.random() * accepted.length)]}` }, undefined, 20)
    run.loop('list', () => ({ path: '/jobs?limit=5' }), undefined, 100)
    const recovered: number[] = []
    recovered.push(await run.outage('submit', 202, 'read', () => db.pg().stop(), () => db.pg().start()))
    recovered.push(await run.outage('submit', 202, 'read', () => db.pg().kill(), () => db.pg().start()))
    await run.stop()
    console.log(`postgres jobs outage: ${run.summary()}; ${healthFigures(run)}; first 202 ${recovered.map((ms) => ms.toFixed(0)).join(' / ')} ms after each return; ${accepted.length} accepted`)
    expectCleanOutage(run, ['jobs_unavailable', 'circuit_open'], [200, 202])
    await allJobsSucceeded(srv.base, accepted)
    await expectCleanExit(srv)
  }, 120_000)
})
