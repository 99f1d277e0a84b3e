/**
 * A job's outcome the store refuses to write is never dropped (issue #11, item 6): the runner
 * writes it again until the store takes it, fails the job when the refusal cannot pass, and only
 * a stop leaves it `running` (for a claim to take back once its lease expires).
 *
 * Before the fix a refused completion was logged and forgotten: the job stayed `running` in the
 * store, its result 202, until the next restart.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { AppError } from '../../src/errors.ts'
import { createLogger, silentLogger } from '../../src/log.ts'
import { JobRunner } from '../../src/jobs/runner.ts'
import { openSqliteJobStore, type SqliteJobStore } from '../../src/jobs/sqlite-store.ts'
import { isFinal, type Job } from '../../src/jobs/model.ts'
import { tempDir } from '../support/deps.ts'
import { FakePool } from './fake-pool.ts'

const dec = new TextDecoder()
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const full = () => new AppError('insufficient_storage', "Cannot write the job: the server's disk is full; retry later", { retryAfter: 30 })

function setup() {
  const tmp = tempDir('highperf-outcome-')
  const path = join(tmp.dir, 'jobs.sqlite')
  const store = openSqliteJobStore(path)
  const pool = new FakePool()
  // A short lease: a job a stop leaves running is taken back by the next runner this soon.
  const runner = new JobRunner({ store, pool, log: silentLogger(), concurrency: 2, queueLimit: 1000, backoffBase: 5, ttl: 3_600_000, lease: 300 })
  cleanups.push(tmp.remove, () => runner.close())
  return { runner, store, pool, path }
}

/** Makes `store[method]` reject with `refusal()` while `refuse(n)` (n = 1, 2, … per call) holds. */
function refuseWrites<K extends 'complete' | 'fail' | 'retry' | 'release'>(store: SqliteJobStore, method: K, refuse: (n: number) => boolean, refusal: () => Error = full): { calls: number } {
  const seen = { calls: 0 }
  const original = (store[method] as (...args: unknown[]) => Promise<Job | undefined>).bind(store)
  ;(store as unknown as Record<K, unknown>)[method] = (...args: unknown[]) => {
    seen.calls++
    return refuse(seen.calls) ? Promise.reject(refusal()) : original(...args)
  }
  return seen
}

async function settle(runner: JobRunner, id: string, timeoutMs = 10_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const job = await runner.get(id)
    if (job && isFinal(job.state)) return job
    if (Date.now() > deadline) throw new Error(`job ${id} stuck in ${job?.state}`)
    await Bun.sleep(5)
  }
}

describe('JobRunner: outcome writes the store refuses', () => {
  test('a completion refused while the disk is full is written again until the store takes it: the job succeeds with its result', async () => {
    const { runner, store } = setup()
    const complete = refuseWrites(store, 'complete', (n) => n <= 4)
    await runner.start()
    const { job } = await runner.submit({ task: 'echo', input: '"kept"' })
    const done = await settle(runner, job.id)
    expect(done.state).toBe('succeeded')
    expect(complete.calls).toBe(5)
    expect(dec.decode((await runner.result(job.id))!)).toBe('"kept"')
    expect(runner.counts()).toMatchObject({ running: 0, succeeded: 1 })
  })

  test('a failure and a retry refused while the disk is full are written again too', async () => {
    const { runner, store } = setup()
    const fail = refuseWrites(store, 'fail', (n) => n <= 3)
    const retry = refuseWrites(store, 'retry', (n) => n <= 2)
    await runner.start()
    const bad = (await runner.submit({ task: 'bad', input: '{}' })).job // invalid_input: fails at once
    const failing = (await runner.submit({ task: 'fail', input: '{}', maxAttempts: 2 })).job // retried once, then fails
    const [a, b] = await Promise.all([settle(runner, bad.id), settle(runner, failing.id)])
    expect(a.state).toBe('failed')
    expect(a.error?.code).toBe('invalid_input')
    expect(b.state).toBe('failed')
    expect(b.attempts).toBe(2)
    expect(fail.calls).toBeGreaterThanOrEqual(4)
    expect(retry.calls).toBe(3)
    expect(runner.counts()).toMatchObject({ running: 0, queued: 0, failed: 2 })
  })

  test('a completion refused for a reason that does not pass (not a storage failure) fails the job with internal, never leaves it running', async () => {
    const { runner, store } = setup()
    const complete = refuseWrites(store, 'complete', () => true, () => new Error('string or blob too big'))
    await runner.start()
    const { job } = await runner.submit({ task: 'echo', input: '"x"' })
    const done = await settle(runner, job.id)
    expect(done.state).toBe('failed')
    expect(done.error).toEqual({ code: 'internal', message: 'the result could not be stored: string or blob too big' })
    expect(complete.calls).toBe(3) // a few tries, then the job fails
    expect(runner.counts()).toMatchObject({ running: 0, failed: 1 })
  })

  test('a stop while the store still refuses ends the retries after the grace; the next runner takes the job back once its lease expires and it succeeds', async () => {
    const { runner, store, path } = setup()
    refuseWrites(store, 'complete', () => true)
    await runner.start()
    const { job } = await runner.submit({ task: 'echo', input: '"later"' })
    const deadline = Date.now() + 5000
    while (runner.counts().running !== 1 || (await runner.get(job.id))?.state !== 'running') {
      if (Date.now() > deadline) throw new Error('the job never ran')
      await Bun.sleep(5)
    }
    await Bun.sleep(100) // the task is done by now; its completion is being refused
    const t0 = performance.now()
    await runner.close(200)
    expect(performance.now() - t0).toBeLessThan(3000)
    const store2 = openSqliteJobStore(path)
    expect((await store2.get(job.id))?.state).toBe('running')
    const next = new JobRunner({ store: store2, pool: new FakePool(), log: silentLogger(), concurrency: 2, queueLimit: 1000, backoffBase: 5, ttl: 3_600_000, lease: 300 })
    cleanups.push(() => next.close())
    await next.start()
    const done = await settle(next, job.id)
    expect(done.state).toBe('succeeded')
    expect(done.attempts).toBe(2)
  })

  test('claims refused by a full disk are retried every second and logged once per streak, not once a second', async () => {
    const { store, path } = setup()
    await store.close()
    const lines: string[] = []
    const log = createLogger({ logLevel: 'info' }, { write: (l: string) => { lines.push(l) } })
    const store2 = openSqliteJobStore(path)
    const original = store2.claim.bind(store2)
    let refusals = 2
    store2.claim = (now, limit, lease) => (refusals-- > 0 ? Promise.reject(full()) : original(now, limit, lease))
    const runner = new JobRunner({ store: store2, pool: new FakePool(), log, concurrency: 1, queueLimit: 1000, backoffBase: 5, ttl: 3_600_000 })
    cleanups.push(() => runner.close())
    await runner.start()
    const { job } = await runner.submit({ task: 'echo', input: '1' })
    expect((await settle(runner, job.id, 10_000)).state).toBe('succeeded')
    expect(lines.filter((l) => l.includes('could not claim jobs'))).toHaveLength(1)
    expect(lines.filter((l) => l.includes('claims jobs again'))).toHaveLength(1)
  })
})
