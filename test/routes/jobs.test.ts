/**
 * /jobs over real HTTP on the real worker pool (startServer on port 0, jobs.sqlite in a temp dir).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { testConfig, type Config } from '../../src/config.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'
import type { JobRunner } from '../../src/jobs/runner.ts'

interface JobBody {
  id: string
  task: string
  state: string
  attempts: number
  progress: number
  error?: { code: string; message: string }
}

const SHA256_HELLO = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'
const tmp = tempDir('highperf-jobs-routes-')
const servers: RunningServer[] = []

async function serve(overrides: Partial<Config> = {}): Promise<RunningServer> {
  const srv = await startServer(testConfig({
    port: 0, host: '127.0.0.1', workers: 2, rateLimitRps: 0, requestTimeout: 10_000, jobBackoffBase: 20,
    dataDir: join(tmp.dir, `data-${servers.length}`), filesDir: join(tmp.dir, 'files'), ...overrides,
  }))
  servers.push(srv)
  return srv
}

let srv: RunningServer
let base: string
beforeAll(async () => {
  srv = await serve()
  base = srv.url
})
afterAll(async () => {
  for (const s of servers) await s.shutdown()
  tmp.remove()
})

function post(body: unknown, headers: Record<string, string> = {}, url = base): Promise<Response> {
  return fetch(`${url}jobs`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
}

async function submit(body: unknown, url = base): Promise<JobBody> {
  const res = await post(body, {}, url)
  expect(res.status).toBe(202)
  return (await res.json()) as JobBody
}

async function settle(id: string, url = base, timeoutMs = 15_000): Promise<JobBody> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const job = (await (await fetch(`${url}jobs/${id}`)).json()) as JobBody
    if (['succeeded', 'failed', 'canceled'].includes(job.state)) return job
    if (Date.now() > until) throw new Error(`job ${id} still ${job.state}`)
    await Bun.sleep(10)
  }
}

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached')
    await Bun.sleep(10)
  }
}

describe('POST /jobs and the result', () => {
  test('answers 202 with Location and the job; the result is the task JSON byte for byte', async () => {
    const res = await post({ task: 'echo', input: { a: [1, 2], s: 'é' } })
    expect(res.status).toBe(202)
    const job = (await res.json()) as JobBody
    expect(res.headers.get('location')).toBe(`/jobs/${job.id}`)
    expect(job.state).toBe('queued')
    expect(job.task).toBe('echo')
    const done = await settle(job.id)
    expect(done.state).toBe('succeeded')
    expect(done.progress).toBe(100)
    const result = await fetch(`${base}jobs/${job.id}/result`)
    expect(result.status).toBe(200)
    expect(result.headers.get('content-type')).toStartWith('application/json')
    expect(result.headers.get('x-request-id')).toBeTruthy()
    expect(await result.text()).toBe('{"a":[1,2],"s":"é"}')
  })

  test('the same Idempotency-Key returns the same job; reused for another request it is 409', async () => {
    const key = `k-${Math.random()}`
    const a = await post({ task: 'echo', input: { n: 1 } }, { 'idempotency-key': key })
    const b = await post({ task: 'echo', input: { n: 1 } }, { 'idempotency-key': key })
    expect(a.status).toBe(202)
    expect(b.status).toBe(202)
    expect(b.headers.get('idempotent-replayed')).toBe('true')
    expect(((await b.json()) as JobBody).id).toBe(((await a.json()) as JobBody).id)
    const c = await post({ task: 'echo', input: { n: 2 } }, { 'idempotency-key': key })
    expect(c.status).toBe(409)
    expect(((await c.json()) as { error: { code: string } }).error.code).toBe('conflict')
  })

  test('bad submissions get clear 4xx envelopes', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ task: 'no-such-task', input: {} }, 404, 'unknown_task'],
      [{ pipeline: [{ task: 'echo', input: 1 }, { task: 'nope' }] }, 404, 'unknown_task'],
      [{ input: {} }, 422, 'validation_failed'],
      [{ task: 'echo', pipeline: [{ task: 'echo', input: 1 }] }, 422, 'validation_failed'],
      [{ pipeline: [] }, 422, 'validation_failed'],
      [{ pipeline: [{ task: 'echo' }] }, 422, 'validation_failed'],
      [{ pipeline: [{ task: 'echo', input: 1 }, { task: 'echo', input: 2 }] }, 422, 'validation_failed'],
      [{ task: 'echo', maxAttempts: 0 }, 422, 'validation_failed'],
      [{ task: 'echo', timeoutMs: -5 }, 422, 'validation_failed'],
      [{ task: 'echo', runAt: 'tomorrow' }, 422, 'validation_failed'],
      ['{"task": ', 400, 'invalid_json'],
    ]
    for (const [body, status, code] of cases) {
      const res = await post(body)
      const text = await res.text()
      expect({ body, status: res.status }).toEqual({ body, status })
      expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe(code)
    }
    expect((await fetch(`${base}jobs/not-an-id`)).status).toBe(400)
    expect((await fetch(`${base}jobs/00000000-0000-7000-8000-000000000000`)).status).toBe(404)
    expect((await fetch(`${base}jobs/00000000-0000-7000-8000-000000000000/result`)).status).toBe(404)
    expect((await fetch(`${base}jobs/00000000-0000-7000-8000-000000000000`, { method: 'DELETE' })).status).toBe(404)
    expect((await fetch(`${base}jobs/00000000-0000-7000-8000-000000000000/events`)).status).toBe(404)
    expect((await fetch(`${base}jobs?limit=0`)).status).toBe(422)
    expect((await fetch(`${base}jobs?state=done`)).status).toBe(422)
  })

  test('GET /jobs?limit takes whole numbers 1-1000 only: 1.5, 1e2, -1, NaN and 1001 are 422, never a 500 from SQLite', async () => {
    for (const limit of ['1.5', '1e2', '-1', 'NaN', '1001', '0x10', ' 5', '']) {
      const res = await fetch(`${base}jobs?limit=${encodeURIComponent(limit)}`)
      expect({ limit, status: res.status }).toEqual({ limit, status: 422 })
      const err = ((await res.json()) as { error: { code: string; details: Array<{ path: string }> } }).error
      expect(err.code).toBe('validation_failed')
      expect(err.details[0]?.path).toBe('/limit')
    }
    for (const limit of ['1', '50', '1000']) expect((await fetch(`${base}jobs?limit=${limit}`)).status).toBe(200)
  })

  test('a deep input or pipeline is 422 too_deep, not a 500 from JSON.stringify', async () => {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000)
    for (const body of [`{"task":"echo","input":${deep}}`, `{"pipeline":[{"task":"echo","input":${deep}}]}`]) {
      const res = await fetch(`${base}jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      expect(res.status).toBe(422)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('too_deep')
    }
  })

  test('a stored input nested too deep (not from HTTP: the body check stops those) fails the job at once with too_deep, no retries', async () => {
    const deep = '['.repeat(100) + ']'.repeat(100)
    const { job } = await srv.deps.jobs.submit({ task: 'echo', input: deep, maxAttempts: 3 })
    const done = await settle(job.id)
    expect(done.state).toBe('failed')
    expect(done.error?.code).toBe('too_deep')
    expect(done.attempts).toBe(1)
  })

  test('a job delayed 30 days (the most delayMs allows) waits quietly: no timer overflow, no polling every millisecond', async () => {
    const overflows: string[] = []
    const onWarning = (w: Error) => { if (w.name === 'TimeoutOverflowWarning') overflows.push(w.message) }
    process.on('warning', onWarning)
    try {
      const res = await post({ task: 'echo', input: 1, delayMs: 30 * 24 * 3_600_000 })
      expect(res.status).toBe(202)
      const job = (await res.json()) as JobBody
      await Bun.sleep(200)
      expect(overflows).toEqual([])
      expect(((await (await fetch(`${base}jobs/${job.id}`)).json()) as JobBody).state).toBe('queued')
      expect((await fetch(`${base}jobs/${job.id}`, { method: 'DELETE' })).status).toBe(200)
    } finally {
      process.off('warning', onWarning)
    }
  })

  test('invalid task input is reported by the worker: the job fails with invalid_input, once', async () => {
    const job = await submit({ task: 'sleep', input: { ms: 'soon' }, maxAttempts: 5 })
    const done = await settle(job.id)
    expect(done.state).toBe('failed')
    expect(done.attempts).toBe(1)
    expect(done.error?.code).toBe('invalid_input')
    const res = await fetch(`${base}jobs/${job.id}/result`)
    expect(res.status).toBe(409)
    const body = (await res.json()) as { error: { code: string; details: Array<{ path: string; message: string }> } }
    expect(body.error.code).toBe('job_failed')
    expect(body.error.details).toEqual([{ path: '/error', message: expect.stringMatching(/^invalid_input: /) }])
  })

  test('the timeout is hard: a long task is stopped and the job fails with task_timeout', async () => {
    const t0 = Date.now()
    const job = await submit({ task: 'sleep', input: { ms: 60_000 }, timeoutMs: 100, maxAttempts: 1 })
    const done = await settle(job.id)
    expect(done.error?.code).toBe('task_timeout')
    expect(Date.now() - t0).toBeLessThan(10_000)
  })
})

describe('running, canceling, listing', () => {
  test('result is 202 + Retry-After while running; DELETE cancels through the signal; then 409 job_canceled', async () => {
    const job = await submit({ task: 'sleep', input: { ms: 30_000, steps: 30 } })
    await until(async () => ((await (await fetch(`${base}jobs/${job.id}`)).json()) as JobBody).state === 'running')
    const pending = await fetch(`${base}jobs/${job.id}/result`)
    expect(pending.status).toBe(202)
    expect(pending.headers.get('retry-after')).toBe('1')
    expect(((await pending.json()) as JobBody).state).toBe('running')
    const del = await fetch(`${base}jobs/${job.id}`, { method: 'DELETE' })
    expect(del.status).toBe(200)
    expect(((await del.json()) as JobBody).state).toBe('canceled')
    const again = await fetch(`${base}jobs/${job.id}`, { method: 'DELETE' })
    expect(again.status).toBe(200)
    const res = await fetch(`${base}jobs/${job.id}/result`)
    expect(res.status).toBe(409)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('job_canceled')
    // The worker was freed: a new job runs promptly.
    const next = await submit({ task: 'echo', input: 1 })
    expect((await settle(next.id, base, 10_000)).state).toBe('succeeded')
  })

  test('a finished job cannot be canceled (409)', async () => {
    const job = await submit({ task: 'echo', input: 1 })
    await settle(job.id)
    const res = await fetch(`${base}jobs/${job.id}`, { method: 'DELETE' })
    expect(res.status).toBe(409)
  })

  test('GET /jobs filters by state and task and pages with the cursor', async () => {
    const mine: string[] = []
    for (let i = 0; i < 7; i++) mine.push((await submit({ task: 'hash', input: { text: `x${i}` } })).id)
    for (const id of mine) await settle(id)
    const seen: string[] = []
    let cursor = ''
    for (;;) {
      const res = await fetch(`${base}jobs?task=hash&state=succeeded&limit=3${cursor ? `&cursor=${cursor}` : ''}`)
      expect(res.status).toBe(200)
      const page = (await res.json()) as { jobs: JobBody[]; nextCursor?: string }
      expect(page.jobs.length).toBeLessThanOrEqual(3)
      for (const j of page.jobs) {
        expect(j.task).toBe('hash')
        expect(j.state).toBe('succeeded')
        seen.push(j.id)
      }
      if (!page.nextCursor) break
      cursor = page.nextCursor
    }
    expect(seen).toEqual(mine)
  })
})

describe('delayed jobs', () => {
  test('delayMs holds a job back; runAt is reported', async () => {
    const t0 = Date.now()
    const job = (await submit({ task: 'echo', input: 1, delayMs: 300 })) as JobBody & { runAt: string; createdAt: string }
    expect(Date.parse(job.runAt) - Date.parse(job.createdAt)).toBe(300)
    await Bun.sleep(100)
    expect(((await (await fetch(`${base}jobs/${job.id}`)).json()) as JobBody).state).toBe('queued')
    const done = (await settle(job.id)) as JobBody & { startedAt: string }
    expect(done.state).toBe('succeeded')
    expect(Date.parse(done.startedAt) - t0).toBeGreaterThanOrEqual(290)
  })
})

describe('pipelines', () => {
  test("each stage's output is the next stage's input", async () => {
    const job = await submit({ pipeline: [{ task: 'echo', input: { text: 'hello' } }, { task: 'hash' }] })
    expect(job.task).toBe('pipeline')
    expect((await settle(job.id)).state).toBe('succeeded')
    const result = (await (await fetch(`${base}jobs/${job.id}/result`)).json()) as { digest: string }
    expect(result.digest).toBe(SHA256_HELLO)
  })

  test('a failing stage fails the job, naming the stage', async () => {
    const job = await submit({ pipeline: [{ task: 'primes', input: { n: 10 } }, { task: 'hash' }, { task: 'echo' }] })
    const done = await settle(job.id)
    expect(done.state).toBe('failed')
    expect(done.error?.code).toBe('invalid_input')
    expect(done.error?.message).toContain('stage 2/3 (hash)')
  })
})

describe('GET /jobs/:id/events', () => {
  test('streams state and progress and ends with the job', async () => {
    const job = await submit({ task: 'sleep', input: { ms: 200, steps: 4 } })
    const res = await fetch(`${base}jobs/${job.id}/events`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('text/event-stream')
    const text = await res.text() // ends when the job ends
    const events = [...text.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => ({ type: m[1], data: JSON.parse(m[2]!) as Record<string, unknown> }))
    const progress = events.filter((e) => e.type === 'progress').map((e) => e.data.progress)
    expect(progress).toContain(100)
    expect(events.at(-1)?.type).toBe('state')
    expect(events.at(-1)?.data.state).toBe('succeeded')
  })

  test('a retried job streams running, queued with the error, running again, and its final state', async () => {
    const job = await submit({ task: 'sleep', input: { ms: 5000 }, timeoutMs: 50, maxAttempts: 2 })
    const text = await (await fetch(`${base}jobs/${job.id}/events`)).text()
    const states = [...text.matchAll(/^event: state\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as JobBody)
    const seq = states.map((s) => s.state).filter((st, i, all) => i === 0 || all[i - 1] !== st)
    expect(seq.slice(-4)).toEqual(['running', 'queued', 'running', 'failed'])
    expect(states.at(-1)?.attempts).toBe(2)
    expect(states.at(-1)?.error?.code).toBe('task_timeout')
  })

  test('a finished job sends one event and ends', async () => {
    const job = await submit({ task: 'echo', input: 1 })
    await settle(job.id)
    const text = await (await fetch(`${base}jobs/${job.id}/events`)).text()
    expect(text.match(/^event: /gm)?.length).toBe(1)
    expect(text).toContain('"state":"succeeded"')
  })

  test('a client that disconnects is unsubscribed', async () => {
    const job = await submit({ task: 'sleep', input: { ms: 20_000 } })
    const ac = new AbortController()
    const res = await fetch(`${base}jobs/${job.id}/events`, { signal: ac.signal })
    const reader = res.body!.getReader()
    await reader.read()
    const jobs = srv.deps.jobs as JobRunner
    expect(jobs.events.watched).toBeGreaterThanOrEqual(1)
    ac.abort()
    await until(async () => jobs.events.watched === 0, 5000)
    await fetch(`${base}jobs/${job.id}`, { method: 'DELETE' })
  })
})

describe('limits, fairness and draining', () => {
  test('the job queue limit answers 503 with Retry-After', async () => {
    const s = await serve({ jobQueueLimit: 2, jobConcurrency: 1 })
    const ids: string[] = []
    let rejected: Response | undefined
    for (let i = 0; i < 6 && !rejected; i++) {
      const res = await post({ task: 'sleep', input: { ms: 5000 } }, {}, s.url)
      if (res.status === 202) ids.push(((await res.json()) as JobBody).id)
      else rejected = res
    }
    expect(rejected?.status).toBe(503)
    expect(rejected?.headers.get('retry-after')).toBe('1')
    expect(((await rejected!.json()) as { error: { code: string } }).error.code).toBe('queue_full')
    for (const id of ids) await fetch(`${s.url}jobs/${id}`, { method: 'DELETE' })
  })

  test('500 queued jobs do not starve a synchronous POST /tasks/echo', async () => {
    const s = await serve({ workers: 2, jobQueueLimit: 10_000 })
    const ids = await Promise.all(Array.from({ length: 500 }, () => submit({ task: 'sleep', input: { ms: 200 } }, s.url).then((j) => j.id)))
    await Bun.sleep(100)
    const t0 = performance.now()
    const res = await fetch(`${s.url}tasks/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ping":1}' })
    const took = performance.now() - t0
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('{"ping":1}')
    // A free worker is at most one 200 ms sleep away; far from 500 x 200 ms / 2 workers = 50 s.
    expect(took).toBeLessThan(3000)
    expect(s.deps.jobs.counts().queued).toBeGreaterThan(400)
    await Promise.all(ids.map((id) => fetch(`${s.url}jobs/${id}`, { method: 'DELETE' })))
  })

  test('while draining, POST /jobs answers 503 shutting_down', async () => {
    const s = await serve()
    s.deps.lifecycle.beginDrain()
    const res = await post({ task: 'echo', input: 1 }, {}, s.url)
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBeTruthy()
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('shutting_down')
  })
})
