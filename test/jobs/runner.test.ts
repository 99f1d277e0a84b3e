import { afterEach, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { AppError } from '../../src/errors.ts'
import { silentLogger } from '../../src/log.ts'
import { JobRunner, type JobRunnerOptions } from '../../src/jobs/runner.ts'
import { openSqliteJobStore, type SqliteJobStore } from '../../src/jobs/sqlite-store.ts'
import { isFinal, newJob, PIPELINE_TASK, type Job, type NewJob } from '../../src/jobs/model.ts'
import type { JobEvent } from '../../src/jobs/events.ts'
import { tempDir } from '../support/deps.ts'
import { FakePool } from './fake-pool.ts'

const dec = new TextDecoder()
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function setup(opts: Partial<JobRunnerOptions> = {}, start = true) {
  const tmp = tempDir('highperf-runner-')
  const store = (opts.store as SqliteJobStore | undefined) ?? openSqliteJobStore(join(tmp.dir, 'jobs.sqlite'))
  const pool = (opts.pool as FakePool | undefined) ?? new FakePool()
  const runner = new JobRunner({ store, pool, log: silentLogger(), concurrency: 4, queueLimit: 10_000, backoffBase: 5, ttl: 3_600_000, ...opts })
  cleanups.push(tmp.remove, () => runner.close())
  const ready = start ? runner.start() : Promise.resolve()
  return { runner, pool, store, tmp, ready }
}

/** Resolves with the job once it reaches a final state (or `state`). */
async function settle(runner: JobRunner, id: string, state?: Job['state'], timeoutMs = 10_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const job = await runner.get(id)
    if (job && (state ? job.state === state : isFinal(job.state))) return job
    if (Date.now() > deadline) throw new Error(`job ${id} stuck in ${job?.state}`)
    await Bun.sleep(2)
  }
}

const submit = (runner: JobRunner, req: Partial<NewJob> & { task: string }) => runner.submit({ input: '', ...req }).then((r) => r.job)

describe('JobRunner', () => {
  test('runs a job to success and stores the result bytes exactly as the task produced them', async () => {
    const { runner, pool } = setup({}, false)
    const seen: string[] = []
    const job = await submit(runner, { task: 'echo', input: '{"a": [1,  2]}' })
    runner.subscribe(job.id, (e) => { if (e.type === 'state') seen.push(e.job.state) })
    await runner.start()
    const done = await settle(runner, job.id)
    expect(done.state).toBe('succeeded')
    expect(done.attempts).toBe(1)
    expect(dec.decode((await runner.result(job.id))!)).toBe('{"a": [1,  2]}')
    expect(seen).toEqual(['running', 'succeeded'])
    expect(pool.calls[0]!.options.priority).toBe(-1)
    expect(pool.calls[0]!.options.timeoutMs).toBe(30_000)
    expect(runner.counts()).toEqual({ queued: 0, running: 0, succeeded: 1, failed: 0, canceled: 0 })
  })

  test('stress: never more than `concurrency` jobs in the pool, every job finishes exactly once', async () => {
    for (let round = 0; round < 5; round++) {
      const concurrency = 1 + Math.floor(Math.random() * 6)
      const n = 20 + Math.floor(Math.random() * 80)
      const { runner, pool, ready } = setup({ concurrency })
      await ready
      const jobs = await Promise.all(Array.from({ length: n }, (_, i) => submit(runner, { task: 'sleep', input: JSON.stringify({ ms: Math.floor(Math.random() * 4), i }) })))
      for (const j of jobs) expect((await settle(runner, j.id)).state).toBe('succeeded')
      expect(pool.maxInFlight).toBeLessThanOrEqual(concurrency)
      expect(pool.calls.length).toBe(n)
      expect(runner.counts().succeeded).toBe(n)
      expect(runner.counts().queued).toBe(0)
      expect(runner.counts().running).toBe(0)
    }
  })

  test('higher-priority queued jobs are claimed first', async () => {
    const { runner, pool, ready } = setup({ concurrency: 1 })
    await ready
    const blocker = await submit(runner, { task: 'sleep', input: '{"ms":40}' })
    const low = await submit(runner, { task: 'echo', input: '"low"', priority: 0 })
    const high = await submit(runner, { task: 'echo', input: '"high"', priority: 5 })
    await settle(runner, low.id)
    await settle(runner, high.id)
    await settle(runner, blocker.id)
    expect(pool.calls.map((c) => c.input)).toEqual(['{"ms":40}', '"high"', '"low"'])
  })

  test('a failing job is retried with backoff until it succeeds', async () => {
    const { runner, ready } = setup({ backoffBase: 20 })
    await ready
    const t0 = Date.now()
    const job = await submit(runner, { task: 'flaky', input: '"r1"', maxAttempts: 3 })
    const done = await settle(runner, job.id)
    expect(done.state).toBe('succeeded')
    expect(done.attempts).toBe(3)
    // Two retries: at least 10 + 20 ms of backoff (equal jitter: half of 20, then half of 40).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(30)
  })

  test('a job out of attempts fails with the last error', async () => {
    const { runner, ready } = setup()
    await ready
    const job = await submit(runner, { task: 'fail', maxAttempts: 2 })
    const done = await settle(runner, job.id)
    expect(done.state).toBe('failed')
    expect(done.attempts).toBe(2)
    expect(done.error).toEqual({ code: 'task_failed', message: 'it broke' })
  })

  test('invalid input fails at once, without retries', async () => {
    const { runner, pool, ready } = setup()
    await ready
    const job = await submit(runner, { task: 'bad', maxAttempts: 5 })
    const done = await settle(runner, job.id)
    expect(done.state).toBe('failed')
    expect(done.error?.code).toBe('invalid_input')
    expect(pool.calls.length).toBe(1)
  })

  test('the hard timeout reaches the pool and fails the job with task_timeout', async () => {
    const { runner, pool, ready } = setup()
    await ready
    const job = await submit(runner, { task: 'sleep', input: '{"ms":5000}', timeoutMs: 30, maxAttempts: 1 })
    const done = await settle(runner, job.id)
    expect(done.error?.code).toBe('task_timeout')
    expect(pool.calls[0]!.options.timeoutMs).toBe(30)
  })

  test('canceling a queued job means it never runs', async () => {
    const { runner, pool, ready } = setup({ concurrency: 1 })
    await ready
    const blocker = await submit(runner, { task: 'sleep', input: '{"ms":30}' })
    const job = await submit(runner, { task: 'echo', input: '"x"' })
    const res = await runner.cancel(job.id)
    expect(res?.from).toBe('queued')
    expect(res?.job.state).toBe('canceled')
    await settle(runner, blocker.id)
    await Bun.sleep(10)
    expect(pool.calls.map((c) => c.task)).toEqual(['sleep'])
    expect(runner.counts()).toMatchObject({ queued: 0, canceled: 1, succeeded: 1 })
  })

  test('canceling a running job aborts the task through its signal', async () => {
    const { runner, pool, ready } = setup()
    await ready
    const job = await submit(runner, { task: 'sleep', input: '{"ms":5000}' })
    await settle(runner, job.id, 'running')
    await Bun.sleep(5)
    const res = await runner.cancel(job.id)
    expect(res?.from).toBe('running')
    expect(pool.calls[0]!.options.signal?.aborted).toBe(true)
    await Bun.sleep(10)
    expect(pool.inFlight).toBe(0)
    const after = await runner.get(job.id)
    expect(after?.state).toBe('canceled')
    expect(runner.counts()).toMatchObject({ running: 0, canceled: 1 })
    // Canceling again changes nothing.
    expect((await runner.cancel(job.id))?.from).toBe('canceled')
  })

  test('a delayed job does not start before its runAt', async () => {
    const { runner, pool, ready } = setup()
    await ready
    const t0 = Date.now()
    const job = await submit(runner, { task: 'echo', input: '1', runAt: t0 + 80 })
    await Bun.sleep(30)
    expect(pool.calls.length).toBe(0)
    const done = await settle(runner, job.id)
    expect(done.startedAt! - t0).toBeGreaterThanOrEqual(75)
  })

  test('progress is stored and published', async () => {
    const { runner, ready } = setup()
    await ready
    const job = await submit(runner, { task: 'sleep', input: '{"ms":20,"steps":4}' })
    const progress: number[] = []
    runner.subscribe(job.id, (e: JobEvent) => { if (e.type === 'progress') progress.push(e.progress) })
    await settle(runner, job.id)
    expect(progress).toEqual([25, 50, 75, 100])
  })

  test('a pipeline feeds each stage the previous result and reports progress per stage', async () => {
    const { runner, ready } = setup()
    await ready
    const job = await submit(runner, { task: PIPELINE_TASK, input: '{"n":1}', pipeline: [{ task: 'double', input: '{"n":1}' }, { task: 'double' }, { task: 'double' }] })
    const progress: number[] = []
    runner.subscribe(job.id, (e) => { if (e.type === 'progress') progress.push(e.progress) })
    const done = await settle(runner, job.id)
    expect(done.state).toBe('succeeded')
    expect(dec.decode((await runner.result(job.id))!)).toBe('{"n":8}')
    expect(progress).toEqual([33, 67])
  })

  test('a failing pipeline stage fails the job, naming the stage', async () => {
    const { runner, pool, ready } = setup()
    await ready
    const job = await submit(runner, { task: PIPELINE_TASK, input: '{"n":1}', maxAttempts: 1, pipeline: [{ task: 'double', input: '{"n":1}' }, { task: 'bad' }, { task: 'echo' }] })
    const done = await settle(runner, job.id)
    expect(done.state).toBe('failed')
    expect(done.error?.code).toBe('invalid_input')
    expect(done.error?.message).toContain('stage 2/3 (bad)')
    expect(pool.calls.map((c) => c.task)).toEqual(['double', 'bad'])
  })

  test('submit rejects unknown tasks and malformed pipelines', async () => {
    const { runner, ready } = setup()
    await ready
    const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: AppError) => e.code)
    expect(await codeOf(runner.submit({ task: 'nope', input: '' }))).toBe('unknown_task')
    expect(await codeOf(runner.submit({ task: PIPELINE_TASK, input: '', pipeline: [{ task: 'echo', input: '1' }, { task: 'nope' }] }))).toBe('unknown_task')
    expect(await codeOf(runner.submit({ task: PIPELINE_TASK, input: '', pipeline: [{ task: 'echo' }] }))).toBe('validation_failed')
    expect(await codeOf(runner.submit({ task: PIPELINE_TASK, input: '1', pipeline: [{ task: 'echo', input: '1' }, { task: 'echo', input: '2' }] }))).toBe('validation_failed')
  })

  test('the queue limit answers queue_full with a retry hint', async () => {
    const { runner } = setup({ queueLimit: 2 }, false)
    await submit(runner, { task: 'echo' })
    await submit(runner, { task: 'echo' })
    const err = await runner.submit({ task: 'echo', input: '' }).catch((e: AppError) => e)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('queue_full')
    expect((err as AppError).retryAfter).toBe(1)
  })

  test('a repeated submit with its Idempotency-Key finds its job even when the queue is full', async () => {
    const { runner } = setup({ queueLimit: 1 }, false)
    const first = await runner.submit({ task: 'echo', input: '1', idempotencyKey: 'same' })
    const again = await runner.submit({ task: 'echo', input: '1', idempotencyKey: 'same' })
    expect(again.created).toBe(false)
    expect(again.job.id).toBe(first.job.id)
    expect(await runner.submit({ task: 'echo', input: '1', idempotencyKey: 'other' }).catch((e: AppError) => e.code)).toBe('queue_full')
  })

  test('concurrent submits cannot slip past the queue limit together', async () => {
    const { runner } = setup({ queueLimit: 5 }, false)
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => runner.submit({ task: 'echo', input: '' })))
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(5)
    expect(runner.counts().queued).toBe(5)
  })

  test('drain refuses new jobs; close lets running jobs finish within the grace and leaves queued ones queued', async () => {
    const { runner, store, tmp, ready } = setup({ concurrency: 1 })
    await ready
    const running = await submit(runner, { task: 'sleep', input: '{"ms":40}' })
    const queued = await submit(runner, { task: 'echo', input: '1' })
    await settle(runner, running.id, 'running')
    runner.drain(2000)
    expect((await runner.submit({ task: 'echo', input: '' }).catch((e: AppError) => e.code))).toBe('shutting_down')
    const before = await store.get(running.id)
    expect(before?.state).toBe('running')
    await runner.close(2000)
    const reopened = openSqliteJobStore(join(tmp.dir, 'jobs.sqlite'))
    cleanups.push(() => reopened.close())
    expect((await reopened.get(running.id))?.state).toBe('succeeded')
    expect((await reopened.get(queued.id))?.state).toBe('queued')
  })

  test('close after the grace aborts running jobs and puts them back without counting the attempt', async () => {
    const { runner, tmp, pool, ready } = setup()
    await ready
    const job = await submit(runner, { task: 'sleep', input: '{"ms":10000}' })
    await settle(runner, job.id, 'running')
    const t0 = Date.now()
    await runner.close(50)
    expect(Date.now() - t0).toBeLessThan(3000)
    expect(pool.calls[0]!.options.signal?.aborted).toBe(true)
    const reopened = openSqliteJobStore(join(tmp.dir, 'jobs.sqlite'))
    cleanups.push(() => reopened.close())
    const after = await reopened.get(job.id)
    expect(after?.state).toBe('queued')
    expect(after?.attempts).toBe(0)
  })

  test('a job a crash left running is taken back once its lease expires, not before, and runs again (attempt counted)', async () => {
    const tmp = tempDir('highperf-runner-')
    cleanups.push(tmp.remove)
    const path = join(tmp.dir, 'jobs.sqlite')
    const crashed = openSqliteJobStore(path)
    const j = newJob({ task: 'echo', input: '"again"' }, Date.now())
    await crashed.insert(j)
    const claimedAt = Date.now()
    await crashed.claim(claimedAt, 1, { owner: 'dead', until: claimedAt + 600 })
    await crashed.close()
    const { runner, ready } = setup({ store: openSqliteJobStore(path), lease: 300 })
    await ready
    const done = await settle(runner, j.id)
    expect(done.state).toBe('succeeded')
    expect(done.attempts).toBe(2)
    expect(done.startedAt!).toBeGreaterThanOrEqual(claimedAt + 600)
  })

  test('the retention sweep removes finished jobs older than the TTL', async () => {
    let now = Date.now()
    const { runner, ready } = setup({ ttl: 1000, now: () => now })
    await ready
    const job = await submit(runner, { task: 'echo', input: '1' })
    await settle(runner, job.id)
    expect(await runner.sweep()).toBe(0)
    now += 1500
    expect(await runner.sweep()).toBe(1)
    expect(await runner.get(job.id)).toBeUndefined()
    expect(runner.counts().succeeded).toBe(0)
  })

  test('stress: cancels racing completions leave every job in one final state and the counters exact', async () => {
    for (let round = 0; round < 3; round++) {
      const { runner, store, ready } = setup({ concurrency: 1 + Math.floor(Math.random() * 5), backoffBase: 1 })
      await ready
      const n = 60 + Math.floor(Math.random() * 60)
      const jobs = await Promise.all(Array.from({ length: n }, (_, i) => {
        const kind = i % 4
        return submit(runner, kind === 0 ? { task: 'sleep', input: JSON.stringify({ ms: Math.floor(Math.random() * 5), i }) }
          : kind === 1 ? { task: 'echo', input: String(i) }
          : kind === 2 ? { task: 'flaky', input: `"s${round}-${i}"`, maxAttempts: 2 }
          : { task: 'fail', maxAttempts: 2 })
      }))
      const cancels = jobs.filter(() => Math.random() < 0.4).map(async (j) => {
        await Bun.sleep(Math.random() * 10)
        return runner.cancel(j.id)
      })
      await Promise.all(cancels)
      const finals = await Promise.all(jobs.map((j) => settle(runner, j.id)))
      for (const f of finals) expect(['succeeded', 'failed', 'canceled']).toContain(f.state)
      expect(runner.counts()).toEqual(await store.counts())
      const total = Object.values(runner.counts()).reduce((a, b) => a + b, 0)
      expect(total).toBe(n)
    }
  })
})

describe('JobRunner close: the drain wait', () => {
  test('close returns as soon as the last running job is recorded, not at the end of the grace', async () => {
    const { runner, tmp, ready } = setup({ concurrency: 4 })
    await ready
    const jobs = await Promise.all([20, 40, 60, 80].map((ms) => submit(runner, { task: 'sleep', input: `{"ms":${ms}}` })))
    await Promise.all(jobs.map((j) => settle(runner, j.id, 'running').catch(() => undefined)))
    const t0 = Date.now()
    await runner.close(60_000)
    expect(Date.now() - t0).toBeLessThan(10_000) // generous under load; the grace was 60 s
    const reopened = openSqliteJobStore(join(tmp.dir, 'jobs.sqlite'))
    cleanups.push(() => reopened.close())
    for (const j of jobs) expect((await reopened.get(j.id))?.state).toBe('succeeded')
  })

  test('close while a claim is in flight: the claimed jobs are waited for (or put back), never left running', async () => {
    for (const grace of [0, 2000]) {
      const { runner, tmp, ready } = setup({ concurrency: 4 })
      await ready
      const jobs = await Promise.all([0, 1, 2].map(() => submit(runner, { task: 'sleep', input: '{"ms":30}' })))
      await runner.close(grace) // the submits' wake-up has started a claim that has not committed yet
      const reopened = openSqliteJobStore(join(tmp.dir, 'jobs.sqlite'))
      cleanups.push(() => reopened.close())
      for (const j of jobs) {
        const after = await reopened.get(j.id)
        expect(after?.state).toBe(grace === 0 ? 'queued' : 'succeeded')
        expect(after?.attempts).toBe(grace === 0 ? 0 : 1)
      }
    }
  })

  test('random loads and graces: after close no job is left running, and shutdown never counts an attempt', async () => {
    let seed = 20261122
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    for (let round = 0; round < 8; round++) {
      const concurrency = 1 + Math.floor(rand() * 6)
      const { runner, tmp, ready } = setup({ concurrency })
      await ready
      const n = 5 + Math.floor(rand() * 25)
      const ids = await Promise.all(Array.from({ length: n }, () => submit(runner, { task: 'sleep', input: `{"ms":${Math.floor(rand() * 60)}}` }).then((j) => j.id)))
      await Bun.sleep(Math.floor(rand() * 40))
      await runner.close(Math.floor(rand() * 80))
      const reopened = openSqliteJobStore(join(tmp.dir, 'jobs.sqlite'))
      cleanups.push(() => reopened.close())
      for (const id of ids) {
        const j = await reopened.get(id)
        expect(['succeeded', 'queued'] as Array<string | undefined>).toContain(j?.state)
        if (j?.state === 'queued') expect(j.attempts).toBe(0)
      }
    }
  })
})
