/**
 * The JobStore contract as a test suite, written against the interface only so every store
 * (bun:sqlite now, Redis later) runs the same tests.
 *
 * @example
 * ```ts
 * runJobStoreSuite('sqlite', async () => ({ store: openSqliteJobStore(path), cleanup: () => rm(path) }))
 * ```
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import type { Fence, JobStore, Lease, LeasedJob } from '../../src/jobs/store.ts'
import { newJob, type Job, type NewJob } from '../../src/jobs/model.ts'

/** A fresh, empty store and how to dispose of it. */
export interface StoreFixture {
  store: JobStore
  cleanup?: () => Promise<void> | void
}

const T0 = 1_800_000_000_000
const enc = new TextEncoder()

function job(overrides: Partial<NewJob> = {}, now = T0): Job {
  return newJob({ task: 'echo', input: '{"v":1}', ...overrides }, now)
}

/** The lease of runner A (most tests): long enough never to expire within a test's clock. */
const A: Lease = { owner: 'runner-a', until: T0 + 3_600_000 }
const fenceOf = (j: LeasedJob): Fence => ({ id: j.id, owner: j.owner, token: j.token })

/** Registers the JobStore contract tests under `describe(name)`. */
export function runJobStoreSuite(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`JobStore contract: ${name}`, () => {
    let fx: StoreFixture
    let store: JobStore
    /** Claims under `lease` and finds each claimed job by id (its fence). */
    let claim: (now: number, limit: number, lease?: Lease) => Promise<LeasedJob[]>
    const claimedById = new Map<string, LeasedJob>()
    const f = (j: { id: string }): Fence => fenceOf(claimedById.get(j.id)!)
    beforeEach(async () => {
      fx = await makeStore()
      store = fx.store
      claimedById.clear()
      claim = async (now, limit, lease = A) => {
        const { jobs } = await store.claim(now, limit, lease)
        for (const j of jobs) claimedById.set(j.id, j)
        return jobs
      }
    })
    afterEach(async () => {
      await store.close()
      await fx.cleanup?.()
    })

    test('insert then get returns the same job, every field intact', async () => {
      const j = job({ priority: 5, maxAttempts: 4, timeoutMs: 1234, pipeline: [{ task: 'echo', input: '{"a":1}' }, { task: 'hash' }] })
      const res = await store.insert(j)
      expect(res.created).toBe(true)
      expect(await store.get(j.id)).toEqual(j)
      expect(await store.get('00000000-0000-7000-8000-000000000000')).toBeUndefined()
    })

    test('the same idempotency key returns the first job, not a second one', async () => {
      const a = job({ idempotencyKey: 'k1' })
      const b = job({ idempotencyKey: 'k1', input: '{"v":2}' })
      expect((await store.insert(a)).created).toBe(true)
      const again = await store.insert(b)
      expect(again.created).toBe(false)
      expect(again.job.id).toBe(a.id)
      expect(await store.get(b.id)).toBeUndefined()
      expect((await store.counts()).queued).toBe(1)
      expect((await store.findByKey('k1'))?.id).toBe(a.id)
      expect(await store.findByKey('k2')).toBeUndefined()
    })

    test('claim takes due jobs by priority, then runAt, then age, and counts an attempt', async () => {
      const low = job({ priority: 0 })
      const high = job({ priority: 9 })
      const later = job({ priority: 9, runAt: T0 + 10_000 })
      const old = job({ priority: 0 }, T0 - 5)
      for (const j of [low, high, later, old]) await store.insert(j)
      const claimed = await claim(T0, 10)
      expect(claimed.map((j) => j.id)).toEqual([high.id, old.id, low.id])
      for (const c of claimed) {
        expect(c.state).toBe('running')
        expect(c.attempts).toBe(1)
        expect(c.startedAt).toBe(T0)
      }
      expect(await claim(T0, 10)).toEqual([])
      expect(await store.nextRunAt()).toBe(T0 + 10_000)
      expect((await claim(T0 + 10_000, 10)).map((j) => j.id)).toEqual([later.id])
      expect(await store.nextRunAt()).toBeUndefined()
    })

    test('claim respects its limit and never hands out a job twice', async () => {
      const ids = new Set<string>()
      for (let i = 0; i < 50; i++) await store.insert(job())
      const seen: string[] = []
      for (;;) {
        const batch = await claim(T0, 1 + Math.floor(Math.random() * 7))
        if (batch.length === 0) break
        for (const j of batch) seen.push(j.id)
      }
      for (const id of seen) ids.add(id)
      expect(seen.length).toBe(50)
      expect(ids.size).toBe(50)
    })

    test('complete stores the result bytes exactly; only a running job completes', async () => {
      const j = job()
      await store.insert(j)
      expect(await store.complete({ id: j.id, owner: A.owner, token: 1 }, enc.encode('{}'), T0)).toBeUndefined() // still queued
      await claim(T0, 1)
      const bytes = enc.encode('{"x": [1, 2,  3]}')
      const done = await store.complete(f(j), bytes, T0 + 7)
      expect(done?.state).toBe('succeeded')
      expect(done?.progress).toBe(100)
      expect(done?.finishedAt).toBe(T0 + 7)
      expect(Buffer.from((await store.result(j.id))!).toString()).toBe('{"x": [1, 2,  3]}')
      expect(await store.complete(f(j), enc.encode('"again"'), T0 + 8)).toBeUndefined()
      expect(Buffer.from((await store.result(j.id))!).toString()).toBe('{"x": [1, 2,  3]}')
    })

    test('progress is recorded only while running', async () => {
      const j = job()
      await store.insert(j)
      expect(await store.progress({ id: j.id, owner: A.owner, token: 1 }, 10, 'x', T0)).toBe(false)
      await claim(T0, 1)
      expect(await store.progress(f(j), 40, 'forty', T0 + 1)).toBe(true)
      const got = await store.get(j.id)
      expect(got?.progress).toBe(40)
      expect(got?.progressMessage).toBe('forty')
    })

    test('fail, retry and release move a running job and keep the error', async () => {
      const [a, b, c] = [job(), job(), job()]
      for (const j of [a, b, c]) await store.insert(j)
      await claim(T0, 3)
      const failed = await store.fail(f(a), { code: 'task_failed', message: 'boom' }, T0 + 1)
      expect(failed?.state).toBe('failed')
      expect(failed?.error).toEqual({ code: 'task_failed', message: 'boom' })
      const retried = await store.retry(f(b), T0 + 500, { code: 'task_timeout', message: 'slow' }, T0 + 1)
      expect(retried?.state).toBe('queued')
      expect(retried?.runAt).toBe(T0 + 500)
      expect(retried?.attempts).toBe(1)
      expect(retried?.error?.code).toBe('task_timeout')
      const released = await store.release(f(c), T0 + 2, T0 + 1)
      expect(released?.state).toBe('queued')
      expect(released?.attempts).toBe(0)
      expect(await store.fail(f(a), { code: 'x', message: 'y' }, T0 + 3)).toBeUndefined()
      const again = await claim(T0 + 500, 5)
      expect(again.map((j) => j.id).sort()).toEqual([b.id, c.id].sort())
      expect(again.find((j) => j.id === b.id)?.attempts).toBe(2)
    })

    test('cancel moves queued and running jobs, reports the state before, leaves final jobs alone', async () => {
      const [q, r, s] = [job(), job(), job()]
      await store.insert(q)
      await store.insert(r)
      await store.insert(s)
      await claim(T0, 2) // q and r (oldest first)
      await store.complete(f(r), enc.encode('1'), T0)
      const fromRunning = await store.cancel(q.id, T0 + 1)
      expect(fromRunning?.from).toBe('running')
      expect(fromRunning?.job.state).toBe('canceled')
      expect(fromRunning?.job.error?.code).toBe('job_canceled')
      expect((await store.cancel(s.id, T0 + 1))?.from).toBe('queued')
      const done = await store.cancel(r.id, T0 + 1)
      expect(done?.from).toBe('succeeded')
      expect(done?.job.state).toBe('succeeded')
      expect((await store.cancel(q.id, T0 + 2))?.from).toBe('canceled')
      expect(await store.cancel('00000000-0000-7000-8000-000000000000', T0)).toBeUndefined()
      expect(await store.complete(f(q), enc.encode('1'), T0 + 3)).toBeUndefined()
    })

    test('a running job is its claim\'s: writes with another owner or an older token change nothing', async () => {
      const j = job()
      await store.insert(j)
      const [c] = await claim(T0, 1)
      expect([c!.owner, c!.token, c!.leaseUntil]).toEqual([A.owner, 1, A.until])
      const wrongOwner = { id: j.id, owner: 'runner-b', token: c!.token }
      const oldToken = { id: j.id, owner: A.owner, token: c!.token - 1 }
      for (const bad of [wrongOwner, oldToken]) {
        expect(await store.progress(bad, 50, 'no', T0 + 1)).toBe(false)
        expect(await store.complete(bad, enc.encode('"late"'), T0 + 1)).toBeUndefined()
        expect(await store.fail(bad, { code: 'task_failed', message: 'late' }, T0 + 1)).toBeUndefined()
        expect(await store.retry(bad, T0 + 2, { code: 'task_failed', message: 'late' }, T0 + 1)).toBeUndefined()
        expect(await store.release(bad, T0 + 2, T0 + 1)).toBeUndefined()
      }
      const still = await store.get(j.id)
      expect([still?.state, still?.progress, still?.attempts]).toEqual(['running', 0, 1])
      expect((await store.complete(fenceOf(c!), enc.encode('1'), T0 + 2))?.state).toBe('succeeded')
    })

    test('an expired lease is taken back by the next claim (attempt counted, token up); the late owner then changes nothing', async () => {
      const [q, r] = [job(), job()]
      await store.insert(q)
      await store.insert(r)
      const short: Lease = { owner: 'runner-a', until: T0 + 1000 }
      const [first] = await claim(T0, 1, short)
      expect(first!.id).toBe(q.id)
      const B: Lease = { owner: 'runner-b', until: T0 + 10_000 }
      // Not expired yet: B gets only the queued job.
      const early = await store.claim(T0 + 1000, 5, B)
      expect(early.jobs.map((j) => j.id)).toEqual([r.id])
      expect(early.takenBack).toBe(0)
      const later = await store.claim(T0 + 1001, 5, B)
      expect(later.takenBack).toBe(1)
      expect(later.crashed).toEqual([])
      const [taken] = later.jobs
      expect([taken!.id, taken!.owner, taken!.token, taken!.attempts, taken!.state]).toEqual([q.id, 'runner-b', 2, 2, 'running'])
      expect(taken!.startedAt).toBe(T0 + 1001)
      // The late owner wakes up: its result and its progress are refused.
      expect(await store.complete(fenceOf(first!), enc.encode('"late"'), T0 + 1002)).toBeUndefined()
      expect(await store.progress(fenceOf(first!), 99, 'late', T0 + 1002)).toBe(false)
      expect(await store.release(fenceOf(first!), T0, T0 + 1002)).toBeUndefined()
      expect((await store.complete(fenceOf(taken!), enc.encode('"b"'), T0 + 1003))?.state).toBe('succeeded')
      expect(Buffer.from((await store.result(q.id))!).toString()).toBe('"b"')
      expect(await store.counts()).toEqual({ queued: 0, running: 1, succeeded: 1, failed: 0, canceled: 0 })
    })

    test('an expired lease with no attempts left fails the job with worker_crashed instead', async () => {
      const j = job({ maxAttempts: 1 })
      await store.insert(j)
      await claim(T0, 1, { owner: 'runner-a', until: T0 + 100 })
      const res = await store.claim(T0 + 101, 5, { owner: 'runner-b', until: T0 + 10_000 })
      expect(res.jobs).toEqual([])
      expect(res.crashed.map((c) => [c.id, c.state, c.error?.code])).toEqual([[j.id, 'failed', 'worker_crashed']])
      expect((await store.get(j.id))?.finishedAt).toBe(T0 + 101)
    })

    test('renew extends the leases of the owner\'s running jobs only, and returns their fences', async () => {
      const [a1, a2, b1] = [job(), job(), job()]
      for (const j of [a1, a2, b1]) await store.insert(j)
      const mine = await claim(T0, 2, { owner: 'runner-a', until: T0 + 1000 })
      await claim(T0, 1, { owner: 'runner-b', until: T0 + 1000 })
      await store.complete(fenceOf(mine[1]!), enc.encode('1'), T0 + 1)
      const renewed = await store.renew('runner-a', T0 + 5000)
      expect(renewed).toEqual([{ id: a1.id, owner: 'runner-a', token: 1 }])
      // A's job now outlives the old lease end; B's did not get renewed and is taken back.
      const c = await store.claim(T0 + 2000, 5, { owner: 'runner-c', until: T0 + 9000 })
      expect(c.jobs.map((j) => j.id)).toEqual([b1.id])
      expect((await store.get(a1.id))?.state).toBe('running')
      // A canceled job is no longer the owner's: the heartbeat's answer shows it.
      await store.cancel(a1.id, T0 + 2001)
      expect(await store.renew('runner-a', T0 + 6000)).toEqual([])
    })

    test('sweep deletes only final jobs finished before the cutoff', async () => {
      const [old, fresh, queued] = [job(), job(), job()]
      for (const j of [old, fresh, queued]) await store.insert(j)
      await claim(T0, 2)
      await store.complete(f(old), enc.encode('1'), T0 + 1)
      await store.fail(f(fresh), { code: 'task_failed', message: 'x' }, T0 + 100)
      expect(await store.sweep(T0 + 50)).toBe(1)
      expect(await store.get(old.id)).toBeUndefined()
      expect(await store.get(fresh.id)).toBeDefined()
      expect(await store.get(queued.id)).toBeDefined()
    })

    test('list filters by state and task and pages by cursor without gaps or repeats', async () => {
      const all: Job[] = []
      for (let i = 0; i < 23; i++) {
        const j = job({ task: i % 2 ? 'echo' : 'hash' })
        all.push(j)
        await store.insert(j)
      }
      await claim(T0, 5)
      const seen: string[] = []
      let cursor: string | undefined
      do {
        const page = await store.list(cursor ? { limit: 4, cursor } : { limit: 4 })
        expect(page.jobs.length).toBeLessThanOrEqual(4)
        for (const j of page.jobs) seen.push(j.id)
        cursor = page.nextCursor
      } while (cursor)
      expect(seen).toEqual(all.map((j) => j.id).sort())
      const hashes = await store.list({ limit: 100, task: 'hash' })
      expect(hashes.jobs.length).toBe(12)
      expect(hashes.nextCursor).toBeUndefined()
      const running = await store.list({ limit: 100, state: 'running' })
      expect(running.jobs.length).toBe(5)
      const runningEcho = await store.list({ limit: 100, state: 'running', task: 'echo' })
      expect(runningEcho.jobs.every((j) => j.task === 'echo' && j.state === 'running')).toBe(true)
    })

    test('counts reflect every state', async () => {
      for (let i = 0; i < 6; i++) await store.insert(job())
      const claimed = await claim(T0, 4)
      await store.complete(claimed[0]!, enc.encode('1'), T0)
      await store.fail(claimed[1]!, { code: 'x', message: 'y' }, T0)
      await store.cancel(claimed[2]!.id, T0)
      expect(await store.counts()).toEqual({ queued: 2, running: 1, succeeded: 1, failed: 1, canceled: 1 })
      expect(await store.count('queued')).toBe(2)
      expect(await store.count('running')).toBe(1)
    })
  })
}
