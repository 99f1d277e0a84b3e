/**
 * The /jobs routes with JOBS_URL (BullMQ on Redis 127.0.0.1:6379, db 10, its queue removed
 * afterwards): the same HTTP contract as on bun:sqlite (202 + Location, 409 for a reused
 * Idempotency-Key, result bytes, cancel, SSE to the end), with BullMQ's opaque list cursors; a
 * job rescheduled from the dashboard (/admin/queues) shows its new runAt and runs then.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'

const tmp = tempDir('highperf-jobs-bullmq-')
let srv: RunningServer
let base: string

beforeAll(async () => {
  srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 2, jobsUrl: 'redis://127.0.0.1:6379/10', rateLimitRps: 0 }), { log: silentLogger() })
  base = srv.url
}, 30_000)

afterAll(async () => {
  await srv?.shutdown()
  const q = new Queue('highperf', { connection: { host: '127.0.0.1', port: 6379, db: 10 } })
  await q.obliterate({ force: true }).catch(() => {})
  await q.close()
  tmp.remove()
})

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}jobs`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

describe('/jobs on BullMQ (JOBS_URL=redis://…)', () => {
  test('submit, SSE to the end, result bytes as the task wrote them', async () => {
    const res = await post({ task: 'sleep', input: { ms: 300, steps: 3 } })
    expect(res.status).toBe(202)
    const job = (await res.json()) as { id: string; state: string }
    expect(res.headers.get('location')).toBe(`/jobs/${job.id}`)
    const text = await (await fetch(`${base}jobs/${job.id}/events`)).text()
    expect(text).toContain('event: progress')
    expect(text).toContain('"state":"succeeded"')
    const result = await fetch(`${base}jobs/${job.id}/result`)
    expect(result.status).toBe(200)
    expect(await result.text()).toBe('{"slept":300}')
  })

  test('Idempotency-Key: the same body replays the job, another body is 409', async () => {
    const a = await post({ task: 'echo', input: { v: 1 }, delayMs: 60_000 }, { 'idempotency-key': 'route-key-1' })
    const b = await post({ task: 'echo', input: { v: 1 }, delayMs: 60_000 }, { 'idempotency-key': 'route-key-1' })
    const c = await post({ task: 'echo', input: { v: 2 } }, { 'idempotency-key': 'route-key-1' })
    expect(a.status).toBe(202)
    expect(b.status).toBe(202)
    expect(b.headers.get('idempotent-replayed')).toBe('true')
    expect(((await b.json()) as { id: string }).id).toBe(((await a.json()) as { id: string }).id)
    expect(c.status).toBe(409)
    expect(((await c.json()) as { error: { code: string } }).error.code).toBe('conflict')
  })

  test('cancel of a running job; a job id is no list cursor here (422), nextCursor is', async () => {
    const res = await post({ task: 'sleep', input: { ms: 20_000 } })
    const job = (await res.json()) as { id: string }
    for (let i = 0; i < 200; i++) {
      const v = (await (await fetch(`${base}jobs/${job.id}`)).json()) as { state: string }
      if (v.state === 'running') break
      await Bun.sleep(20)
    }
    const del = await fetch(`${base}jobs/${job.id}`, { method: 'DELETE' })
    expect(del.status).toBe(200)
    expect(((await del.json()) as { state: string }).state).toBe('canceled')
    const bad = await fetch(`${base}jobs?cursor=${job.id}`)
    expect(bad.status).toBe(422)
    const page = (await (await fetch(`${base}jobs?limit=1`)).json()) as { jobs: unknown[]; nextCursor?: string }
    expect(page.jobs.length).toBe(1)
    expect(page.nextCursor).toMatch(/^\d+\.\d+$/)
    expect((await fetch(`${base}jobs?limit=1&cursor=${page.nextCursor}`)).status).toBe(200)
  })

  test("a delayed job rescheduled from /admin/queues (bull-board's PATCH …/delay) shows the new runAt in GET /jobs/:id and runs then", async () => {
    // Before: runAt stayed at submit + 10 min (our data's copy), although BullMQ now ran the job 1.5 s on.
    const res = await post({ task: 'echo', input: { moved: 1 }, delayMs: 600_000 })
    const job = (await res.json()) as { id: string; runAt: string; createdAt: string }
    const get = async () => (await (await fetch(`${base}jobs/${job.id}`)).json()) as { state: string; runAt: string; startedAt?: string }
    expect(Date.parse((await get()).runAt)).toBe(Date.parse(job.runAt))
    const target = Date.now() + 1500
    const patch = await fetch(`${base}admin/queues/api/queues/highperf/${job.id}/delay`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ runAt: target }) })
    expect(patch.status).toBe(200)
    // bull-board turns runAt into a delay from its own now, BullMQ adds it to a later now: a few ms on.
    const moved = await get()
    expect(moved.state).toBe('queued')
    expect(Date.parse(moved.runAt)).toBeGreaterThanOrEqual(target)
    expect(Date.parse(moved.runAt)).toBeLessThan(target + 500)
    const list = (await (await fetch(`${base}jobs?state=queued&task=echo&limit=100`)).json()) as { jobs: { id: string; runAt: string }[] }
    expect(list.jobs.find((j) => j.id === job.id)?.runAt).toBe(moved.runAt)
    let done = moved
    for (let i = 0; i < 150 && done.state !== 'succeeded'; i++) {
      await Bun.sleep(50)
      done = await get()
    }
    expect(done.state).toBe('succeeded')
    const started = Date.parse(done.startedAt!)
    expect(started).toBeGreaterThanOrEqual(Date.parse(moved.runAt))
    expect(started).toBeLessThan(Date.parse(moved.runAt) + 2000)
    // Once run, BullMQ has forgotten the time; runAt is no later than the start, not submit + 10 min.
    expect(Date.parse(done.runAt)).toBeLessThanOrEqual(started)
  }, 20_000)
})
