/**
 * The JobService contract: every implementation (embedded runner on bun:sqlite, BullJobs on
 * Redis, BullJobs on PostgreSQL) passes these. Files: service-embedded/redis/postgres.test.ts.
 *
 * `open(ns, options)` builds a service (started) over namespace `ns`; opening the same `ns` again
 * reaches the same jobs (a restart, or a second node when `multiNode`).
 */
import { afterAll, afterEach, describe, expect, test } from 'bun:test'
import { isFinal, type Job, type NewJob } from '../../src/jobs/model.ts'
import type { JobService } from '../../src/jobs/service.ts'
import type { JobEvent } from '../../src/jobs/events.ts'
import { AppError } from '../../src/errors.ts'
import { FakePool } from './fake-pool.ts'

export interface OpenOptions {
  concurrency?: number
  queueLimit?: number
  pool?: FakePool
  /** JOB_BACKOFF_BASE, ms (default 5: retries at once). */
  backoffBase?: number
}

export interface SuiteBackend {
  name: string
  open(ns: string, options?: OpenOptions): Promise<JobService>
  /** Removes what namespace `ns` left behind. */
  cleanup(ns: string): Promise<void>
  /** Two services on one namespace share the jobs (BullMQ). */
  multiNode: boolean
  /** Generous bound of one wait for a job, ms. */
  timeoutMs?: number
}

const dec = new TextDecoder()

export function runJobServiceSuite(b: SuiteBackend): void {
  const opened: JobService[] = []
  const namespaces: string[] = []
  const wait = b.timeoutMs ?? 15_000
  let n = 0
  const ns = (): string => {
    const s = `hp_${process.pid}_${Date.now().toString(36)}_${n++}`
    namespaces.push(s)
    return s
  }
  const open = async (space: string, o?: OpenOptions): Promise<JobService> => {
    const s = await b.open(space, o)
    opened.push(s)
    return s
  }
  // Closed after each test: PostgreSQL counts every BullMQ object's pool against max_connections.
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close().catch(() => {})
  })
  afterAll(async () => {
    for (const s of namespaces) await b.cleanup(s).catch(() => {})
  })

  async function settle(s: JobService, id: string, pred: (j: Job) => boolean = (j) => isFinal(j.state)): Promise<Job> {
    const deadline = Date.now() + wait
    for (;;) {
      const job = await s.get(id)
      if (job && pred(job)) return job
      if (Date.now() > deadline) throw new Error(`job ${id} stuck in ${job?.state}`)
      await Bun.sleep(10)
    }
  }
  const submit = (s: JobService, req: Partial<NewJob> & { task: string }) => s.submit({ input: '', ...req }).then((r) => r.job)

  describe(`JobService contract: ${b.name}`, () => {
    test('a job runs to success; its result bytes are the task output, byte for byte; state and progress events arrive', async () => {
      const pool = new FakePool()
      const s = await open(ns(), { pool })
      const job = await submit(s, { task: 'sleep', input: '{"ms": 60,  "steps": 3}' })
      expect(job.state).toBe('queued')
      const seen: JobEvent[] = []
      const off = s.subscribe(job.id, (e) => seen.push(e))
      const done = await settle(s, job.id)
      expect(done).toMatchObject({ state: 'succeeded', attempts: 1, progress: 100, task: 'sleep', input: '{"ms": 60,  "steps": 3}' })
      expect(done.startedAt).toBeGreaterThanOrEqual(done.createdAt)
      expect(done.finishedAt).toBeGreaterThanOrEqual(done.startedAt!)
      expect(dec.decode((await s.result(job.id))!)).toBe('{"slept":60}')
      const echo = await submit(s, { task: 'echo', input: '{"a": [1,  2], "é": "\\u00e9"}' })
      await settle(s, echo.id)
      expect(dec.decode((await s.result(echo.id))!)).toBe('{"a": [1,  2], "é": "\\u00e9"}')
      const deadline = Date.now() + wait
      while (!seen.some((e) => e.type === 'state' && e.job.state === 'succeeded') && Date.now() < deadline) await Bun.sleep(10)
      off()
      expect(seen.filter((e) => e.type === 'progress').length).toBeGreaterThanOrEqual(1)
      expect(seen.some((e) => e.type === 'state' && e.job.state === 'succeeded')).toBe(true)
      expect(pool.calls[0]!.options.priority).toBe(-1)
      expect(pool.calls[0]!.options.timeoutMs).toBe(30_000)
    })

    test('Idempotency-Key: a repeat returns the stored job with created false, even with another body', async () => {
      const s = await open(ns())
      const a = await s.submit({ task: 'echo', input: '{"v":1}', idempotencyKey: 'k-1', delayMs: 60_000 })
      const b2 = await s.submit({ task: 'echo', input: '{"v":1}', idempotencyKey: 'k-1', delayMs: 60_000 })
      const c = await s.submit({ task: 'echo', input: '{"v":2}', idempotencyKey: 'k-1' })
      expect(a.created).toBe(true)
      expect(b2).toMatchObject({ created: false, job: { id: a.job.id, input: '{"v":1}' } })
      expect(c).toMatchObject({ created: false, job: { id: a.job.id, input: '{"v":1}', idempotencyKey: 'k-1' } })
      const other = await s.submit({ task: 'echo', input: '{"v":1}', idempotencyKey: 'k-2', delayMs: 60_000 })
      expect(other.created).toBe(true)
      expect(other.job.id).not.toBe(a.job.id)
    })

    test('submissions made at once each get their own job, key, priority and delay; one key stores one job', async () => {
      const s = await open(ns())
      const reqs: NewJob[] = [
        ...Array.from({ length: 20 }, (_, i) => ({ task: 'echo', input: `{"i":${i}}`, priority: i - 10, delayMs: 60_000 })),
        { task: 'echo', input: '{"v":1}', idempotencyKey: 'same', delayMs: 60_000 },
        { task: 'echo', input: '{"v":2}', idempotencyKey: 'same', delayMs: 60_000 },
        { task: 'echo', input: '{"later":1}', delayMs: 120_000 },
      ]
      const out = await Promise.all(reqs.map((r) => s.submit(r)))
      const plain = out.slice(0, 20)
      expect(new Set(plain.map((o) => o.job.id)).size).toBe(20)
      for (const [i, o] of plain.entries()) {
        expect(o.created).toBe(true)
        expect(await s.get(o.job.id)).toMatchObject({ state: 'queued', input: `{"i":${i}}`, priority: i - 10 })
      }
      const [k1, k2] = [out[20]!, out[21]!]
      expect(k1.job.id).toBe(k2.job.id)
      expect([k1.created, k2.created].filter(Boolean).length).toBe(1)
      const stored = await s.get(k1.job.id)
      // The one not created answers with the stored job (the route's 409 compares it with its body).
      expect((k1.created ? k2 : k1).job.input).toBe(stored!.input)
      const later = await s.get(out[22]!.job.id)
      expect(later!.runAt - later!.createdAt).toBe(120_000)
    })

    test('priority: higher first among queued jobs', async () => {
      const pool = new FakePool()
      const space = ns()
      const s = await open(space, { pool, concurrency: 1 })
      const blocker = await submit(s, { task: 'sleep', input: '{"ms":400}' })
      await settle(s, blocker.id, (j) => j.state === 'running')
      const low = await submit(s, { task: 'echo', input: '"low"', priority: -5 })
      const high = await submit(s, { task: 'echo', input: '"high"', priority: 900 })
      const mid = await submit(s, { task: 'echo', input: '"mid"' })
      for (const j of [low, high, mid]) await settle(s, j.id)
      expect(pool.calls.filter((c) => c.task === 'echo').map((c) => c.input)).toEqual(['"high"', '"mid"', '"low"'])
    })

    test('runAt: a delayed job waits, then runs', async () => {
      const s = await open(ns())
      const job = await submit(s, { task: 'echo', input: '1', delayMs: 700 })
      await Bun.sleep(250)
      expect((await s.get(job.id))!.state).toBe('queued')
      const done = await settle(s, job.id)
      expect(done.state).toBe('succeeded')
      expect(done.startedAt! - done.createdAt).toBeGreaterThanOrEqual(650)
    })

    test('runAt: a job waiting for a retry shows when it runs again (its failure + the backoff)', async () => {
      // BullMQ before: the submit-time runAt, as if the job were due now (a retry's backoff lives in BullMQ's delay).
      const s = await open(ns(), { backoffBase: 4000 })
      const before = Date.now()
      const job = await submit(s, { task: 'fail', input: '{}', maxAttempts: 2 })
      const waiting = await settle(s, job.id, (j) => j.state === 'queued' && j.attempts === 1 && j.error !== undefined)
      const after = Date.now()
      // Retry 1 waits c/2..c after the failure (between before and after), c = JOB_BACKOFF_BASE.
      expect(waiting.runAt).toBeGreaterThanOrEqual(before + 2000)
      expect(waiting.runAt).toBeLessThanOrEqual(after + 4000)
      expect(waiting.error?.code).toBe('task_failed')
    })

    test('attempts and backoff: a flaky task succeeds on its third attempt; a failing one fails after its last', async () => {
      const s = await open(ns())
      const flaky = await submit(s, { task: 'flaky', input: '{"x":1}', maxAttempts: 3 })
      const fail = await submit(s, { task: 'fail', input: '{}', maxAttempts: 2 })
      expect(await settle(s, flaky.id)).toMatchObject({ state: 'succeeded', attempts: 3 })
      expect(await settle(s, fail.id)).toMatchObject({ state: 'failed', attempts: 2, error: { code: 'task_failed' } })
    })

    test('permanent errors are not retried; the hard timeout stops the work', async () => {
      const s = await open(ns())
      const bad = await submit(s, { task: 'bad', input: '{}', maxAttempts: 5 })
      const slow = await submit(s, { task: 'sleep', input: '{"ms":5000}', timeoutMs: 50, maxAttempts: 1 })
      expect(await settle(s, bad.id)).toMatchObject({ state: 'failed', attempts: 1, error: { code: 'invalid_input' } })
      expect(await settle(s, slow.id)).toMatchObject({ state: 'failed', error: { code: 'task_timeout' } })
    })

    test('a pipeline runs its stages in one job', async () => {
      const s = await open(ns())
      const job = await submit(s, { task: 'pipeline', pipeline: [{ task: 'double', input: '{"n":2}' }, { task: 'double' }, { task: 'double' }] })
      expect(await settle(s, job.id)).toMatchObject({ state: 'succeeded', progress: 100 })
      expect(dec.decode((await s.result(job.id))!)).toBe('{"n":16}')
    })

    test('cancel: a queued job never runs, a running one is aborted, a finished one is left as it is', async () => {
      const pool = new FakePool()
      const s = await open(ns(), { pool })
      const queued = await submit(s, { task: 'echo', input: '"never"', delayMs: 60_000 })
      const c1 = await s.cancel(queued.id)
      expect(c1).toMatchObject({ from: 'queued', job: { state: 'canceled' } })
      const running = await submit(s, { task: 'sleep', input: '{"ms":20000}' })
      await settle(s, running.id, (j) => j.state === 'running')
      const c2 = await s.cancel(running.id)
      expect(c2).toMatchObject({ from: 'running', job: { state: 'canceled' } })
      const deadline = Date.now() + wait
      while (pool.inFlight > 0 && Date.now() < deadline) await Bun.sleep(10)
      expect(pool.inFlight).toBe(0)
      expect(await settle(s, queued.id)).toMatchObject({ state: 'canceled', error: { code: 'job_canceled' } })
      expect((await s.get(running.id))!.state).toBe('canceled')
      const done = await submit(s, { task: 'echo', input: '1' })
      await settle(s, done.id)
      expect(await s.cancel(done.id)).toMatchObject({ from: 'succeeded', job: { state: 'succeeded' } })
      expect(await s.cancel('019a9f1c-7c3e-7d2a-8b41-5f0e2a9c1d33')).toBeUndefined()
      await Bun.sleep(200)
      expect(pool.calls.some((c) => c.input === '"never"')).toBe(false)
    })

    test('list: filters by state and task, and its pages cover every job once', async () => {
      const s = await open(ns())
      const ids: string[] = []
      for (let i = 0; i < 7; i++) ids.push((await submit(s, { task: i % 2 ? 'echo' : 'double', input: '{"n":1}', delayMs: 60_000 })).id)
      const seen: string[] = []
      let cursor: string | undefined
      for (let pages = 0; pages < 20; pages++) {
        const page = await s.list({ limit: 3, ...(cursor ? { cursor } : {}) })
        seen.push(...page.jobs.map((j) => j.id))
        if (!page.nextCursor) break
        cursor = page.nextCursor
      }
      expect(seen.sort()).toEqual([...ids].sort())
      const echoes = await s.list({ limit: 100, task: 'echo', state: 'queued' })
      expect(echoes.jobs.map((j) => j.task)).toEqual(['echo', 'echo', 'echo'])
      expect((await s.list({ limit: 100, state: 'succeeded' })).jobs).toEqual([])
    })

    test('JOB_QUEUE_LIMIT: a submit past it answers 503 queue_full', async () => {
      const s = await open(ns(), { queueLimit: 2 })
      await submit(s, { task: 'echo', input: '1', delayMs: 60_000 })
      await submit(s, { task: 'echo', input: '2', delayMs: 60_000 })
      const err = await submit(s, { task: 'echo', input: '3', delayMs: 60_000 }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(AppError)
      expect((err as AppError).code).toBe('queue_full')
    })

    test('counts reflect the jobs', async () => {
      const s = await open(ns())
      const a = await submit(s, { task: 'echo', input: '1' })
      await submit(s, { task: 'echo', input: '2', delayMs: 60_000 })
      await settle(s, a.id)
      const deadline = Date.now() + wait
      while (Date.now() < deadline && !(s.counts().succeeded === 1 && s.counts().queued === 1)) await Bun.sleep(50)
      expect(s.counts()).toMatchObject({ succeeded: 1, queued: 1, running: 0 })
    })

    test('close puts a running job back without counting the attempt; the next start runs it', async () => {
      const space = ns()
      const s = await open(space)
      const job = await submit(s, { task: 'sleep', input: '{"ms":1500}' })
      await settle(s, job.id, (j) => j.state === 'running')
      await s.close(0)
      expect(await s.submit({ task: 'echo', input: '' }).catch((e: AppError) => e.code)).toBe('shutting_down')
      const again = await open(space)
      const done = await settle(again, job.id)
      expect(done).toMatchObject({ state: 'succeeded', attempts: 1 })
    })

    if (b.multiNode) {
      test('two nodes: cancel and events reach a job running on the other node', async () => {
        const space = ns()
        const poolA = new FakePool()
        const poolB = new FakePool()
        const a = await open(space, { pool: poolA })
        const bNode = await open(space, { pool: poolB })
        const job = await submit(a, { task: 'sleep', input: '{"ms":20000,"steps":40}' })
        const seen: JobEvent[] = []
        const offA = a.subscribe(job.id, (e) => seen.push(e))
        const offB = bNode.subscribe(job.id, (e) => seen.push(e))
        await settle(bNode, job.id, (j) => j.state === 'running')
        const deadline = Date.now() + wait
        while (!seen.some((e) => e.type === 'progress') && Date.now() < deadline) await Bun.sleep(10)
        // Canceled through whichever node does not run it.
        const other = poolA.inFlight > 0 ? bNode : a
        expect(await other.cancel(job.id)).toMatchObject({ from: 'running', job: { state: 'canceled' } })
        while (poolA.inFlight + poolB.inFlight > 0 && Date.now() < deadline) await Bun.sleep(10)
        expect(poolA.inFlight + poolB.inFlight).toBe(0)
        while (seen.filter((e) => e.type === 'state' && e.job.state === 'canceled').length < 2 && Date.now() < deadline) await Bun.sleep(10)
        offA()
        offB()
        expect(seen.filter((e) => e.type === 'state' && e.job.state === 'canceled').length).toBe(2)
        expect(seen.some((e) => e.type === 'progress')).toBe(true)
      })
    }
  })
}
