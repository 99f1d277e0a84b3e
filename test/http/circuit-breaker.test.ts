import { describe, expect, test } from 'bun:test'
import { t as schema } from 'elysia'
import { circuitBreaker, verdictOf } from '../../src/http/circuit-breaker/index.ts'
import { UNMATCHED_ROUTE } from '../../src/http/front/index.ts'
import { AppError } from '../../src/errors.ts'
import { createApp } from '../../src/app.ts'
import { testDeps } from '../support/deps.ts'
import { stackApp } from '../support/front.ts'

const req = (path: string) => new Request(`http://localhost${path}`)
type Envelope = { error: { code: string } }

function build(threshold = 3, openMs = 2_000) {
  let now = 0
  const calls: Record<string, number> = {}
  const changes: string[] = []
  const rejected: string[] = []
  let mode: 'fail' | 'ok' | 'client' | 'throw' | 'slow' | 'gone' = 'fail'
  let release: () => void = () => {}
  const count = (k: string) => { calls[k] = (calls[k] ?? 0) + 1 }
  const breakers = circuitBreaker({
    failureThreshold: threshold,
    openDurationMs: openMs,
    now: () => now,
    onStateChange: (route, s) => changes.push(`${route}:${s}`),
    onRejected: (route) => rejected.push(route),
  })
  const app = stackApp([breakers], (e) => e
    .get('/healthz', ({ set }) => { count('healthz'); set.status = 500; return 'sick' })
    .get('/items/:id', async ({ set }) => {
      count('items')
      if (mode === 'fail') { set.status = 502; return { error: 'upstream' } }
      if (mode === 'throw') throw new Error('boom')
      if (mode === 'client') throw new AppError('not_found')
      if (mode === 'gone') throw new AppError('client_closed')
      if (mode === 'slow') await new Promise<void>((r) => { release = r })
      return { ok: true }
    })
    .get('/other', () => { count('other'); return 'fine' })
    // The answer the client gets, however the route produced it, is what the breaker judges.
    .get('/response/:status', ({ params }) => new Response('raw', { status: Number(params.status) }))
    .get('/named', ({ set }) => { set.status = 'Service Unavailable'; return 'named' })
    .post('/typed', ({ body }) => ({ n: body.n }), { body: schema.Object({ n: schema.Number() }) }))
  return {
    app,
    breakers,
    calls,
    changes,
    rejected,
    advance(ms: number) { now += ms },
    setMode(m: typeof mode) { mode = m },
    release: () => release(),
  }
}

/** The front runs the breaker's `after` (its verdict) before it hands the answer back. */
const hit = (t: ReturnType<typeof build>, path = '/items/1'): Promise<Response> => t.app.handle(req(path))

const typed = (t: ReturnType<typeof build>, body: unknown): Promise<Response> =>
  t.app.handle(new Request('http://localhost/typed', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))

describe('circuit breaker stage', () => {
  test('opens after N consecutive 5xx and then answers 503 circuit_open without calling the handler', async () => {
    const t = build(3)
    for (let i = 0; i < 3; i++) expect((await hit(t)).status).toBe(502)
    expect(t.breakers.states()['/items/:id']).toBe('open')
    const res = await hit(t, '/items/2') // same template, other id
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('2')
    expect(((await res.json()) as Envelope).error.code).toBe('circuit_open')
    expect(t.calls.items).toBe(3)
    expect(t.rejected).toEqual(['/items/:id'])
    // Other routes have their own breaker.
    expect((await hit(t, '/other')).status).toBe(200)
  })

  test('thrown errors count as failures; 4xx do not, and a success resets the count', async () => {
    const t = build(3)
    t.setMode('throw')
    await hit(t)
    await hit(t)
    t.setMode('client')
    for (let i = 0; i < 10; i++) expect((await hit(t)).status).toBe(404)
    expect(t.breakers.states()['/items/:id']).toBe('closed')
    t.setMode('ok')
    await hit(t)
    t.setMode('throw')
    await hit(t)
    await hit(t)
    expect(t.breakers.states()['/items/:id']).toBe('closed') // 2 since the success
    expect((await hit(t)).status).toBe(500)
    expect(t.breakers.states()['/items/:id']).toBe('open')
  })

  test('half-open lets exactly one probe through; its success closes the breaker', async () => {
    const t = build(2, 1_000)
    await hit(t)
    await hit(t)
    expect((await hit(t)).status).toBe(503)
    t.advance(1_000)
    t.setMode('slow')
    const probe = t.app.handle(req('/items/1'))
    await Bun.sleep(5)
    expect(t.breakers.states()['/items/:id']).toBe('half_open')
    const second = await hit(t)
    expect(second.status).toBe(503) // the probe is still out
    expect(t.calls.items).toBe(3)
    t.release()
    expect((await probe).status).toBe(200)
    expect(t.breakers.states()['/items/:id']).toBe('closed')
    t.setMode('ok')
    expect((await hit(t)).status).toBe(200)
    expect(t.changes).toEqual(['/items/:id:closed', '/items/:id:open', '/items/:id:half_open', '/items/:id:closed'])
  })

  test("a failed probe re-opens the breaker for another open duration", async () => {
    const t = build(1, 1_000)
    await hit(t)
    t.advance(1_000)
    expect((await hit(t)).status).toBe(502) // the probe, fails
    expect(t.breakers.states()['/items/:id']).toBe('open')
    t.advance(999)
    expect((await hit(t)).status).toBe(503)
    t.advance(1)
    t.setMode('ok')
    expect((await hit(t)).status).toBe(200)
    expect(t.breakers.states()['/items/:id']).toBe('closed')
  })

  test('a probe whose client left gives no verdict and frees the probe slot', async () => {
    const t = build(1, 1_000)
    await hit(t)
    t.advance(1_000)
    t.setMode('gone')
    expect((await hit(t)).status).toBe(499)
    expect(t.breakers.states()['/items/:id']).toBe('half_open')
    t.setMode('ok')
    expect((await hit(t)).status).toBe(200) // the next caller is the probe, no 503
    expect(t.breakers.states()['/items/:id']).toBe('closed')
  })

  test('wired into createApp: CB_FAILURE_THRESHOLD from config, state and rejections in /metrics', async () => {
    const d = await testDeps({ cbFailureThreshold: 2, cbOpenDuration: 60_000 })
    try {
      let calls = 0
      const app = createApp(d.deps, { routes: (a) => a.get('/flaky/:id', () => { calls++; throw new Error('down') }) })
      for (let i = 0; i < 2; i++) expect((await app.handle(req('/flaky/1'))).status).toBe(500)
      const res = await app.handle(req('/flaky/2'))
      expect(res.status).toBe(503)
      expect(((await res.json()) as Envelope).error.code).toBe('circuit_open')
      expect(calls).toBe(2)
      const metrics = await (await app.handle(req('/metrics'))).text()
      expect(metrics).toContain('circuit_breaker_state{route="/flaky/:id"} 2')
      expect(metrics).toContain('circuit_breaker_rejections_total{route="/flaky/:id"} 1')
    } finally {
      await d.close()
    }
  })

  test('health routes are exempt even when they fail', async () => {
    const t = build(1)
    for (let i = 0; i < 5; i++) expect((await hit(t, '/healthz')).status).toBe(500)
    expect(t.calls.healthz).toBe(5)
    expect(t.breakers.states()['/healthz']).toBeUndefined()
  })

  test('the verdict is judged on the status the client got: a returned Response, a named set.status', async () => {
    const t = build(1, 1_000)
    expect((await hit(t, '/response/502')).status).toBe(502)
    expect(t.breakers.states()['/response/:status']).toBe('open')
    expect((await hit(t, '/named')).status).toBe(503)
    expect(t.breakers.states()['/named']).toBe('open')
    t.advance(1_000)
    // A returned 4xx Response is the route's own answer, not a refusal by Elysia: a success.
    expect((await hit(t, '/response/404')).status).toBe(404)
    expect(t.breakers.states()['/response/:status']).toBe('closed')
  })

  test('an unmatched path (404) never creates a breaker, however often it is hit', async () => {
    const t = build(1)
    for (let i = 0; i < 5; i++) expect((await hit(t, `/nope/${i}`)).status).toBe(404)
    expect(t.breakers.states()).toEqual({})
    expect(t.breakers.states()[UNMATCHED_ROUTE]).toBeUndefined()
    expect(t.changes).toEqual([])
  })

  test('a 422 validation failure gives no verdict: it neither resets a failure streak nor closes a half-open breaker', async () => {
    const t = build(2, 1_000)
    const b = t.breakers.breaker('/typed')
    // A closed breaker one failure away from opening: a 422 in between does not reset the count.
    b.failure()
    expect((await typed(t, { n: 'not a number' })).status).toBe(422)
    expect(t.breakers.states()['/typed']).toBe('closed')
    b.failure()
    expect(t.breakers.states()['/typed']).toBe('open')
    // Admission comes before validation: an open breaker refuses even an invalid body.
    const refused = await typed(t, { n: 'x' })
    expect(refused.status).toBe(503)
    expect(((await refused.json()) as Envelope).error.code).toBe('circuit_open')
    // Half-open: a 422 probe frees the probe slot without closing or re-opening the breaker.
    t.advance(1_000)
    expect((await typed(t, {})).status).toBe(422)
    expect(t.breakers.states()['/typed']).toBe('half_open')
    expect((await typed(t, { n: 7 })).status).toBe(200) // the next caller is the probe, no 503
    expect(t.breakers.states()['/typed']).toBe('closed')
  })

  test('load shedding and a task\'s own outcome never open a breaker; a route\'s own 5xx does', async () => {
    const breakers = circuitBreaker({ failureThreshold: 3, openDurationMs: 2_000, now: () => 0 })
    let code: 'queue_full' | 'task_failed' | 'task_timeout' | 'deadline_exceeded' | 'worker_crashed' = 'queue_full'
    let calls = 0
    const app = stackApp([breakers], (e) => e.post('/tasks/:name', () => { calls++; throw new AppError(code) }))
    const post = async () => (await app.handle(new Request('http://localhost/tasks/primes?timeoutMs=1', { method: 'POST' }))).status
    // One client's choices (a task that throws on its input, ?timeoutMs=1) and load shedding:
    // ten of each in a row, with a threshold of 3, and the breaker stays closed for everyone.
    for (const c of ['queue_full', 'task_failed', 'task_timeout', 'deadline_exceeded'] as const) {
      code = c
      for (let i = 0; i < 10; i++) await post()
      expect(breakers.states()['/tasks/:name']).toBe('closed')
    }
    expect(calls).toBe(40)
    // A crashing worker is the route's own failure.
    code = 'worker_crashed'
    for (let i = 0; i < 3; i++) expect(await post()).toBe(500)
    expect(breakers.states()['/tasks/:name']).toBe('open')
    expect(await post()).toBe(503)
    expect(calls).toBe(43)
  })

  test('verdictOf: failures, neutral outcomes and successes', () => {
    expect(verdictOf(500, new Error('boom'), '/users/:id')).toBe('failure')
    expect(verdictOf(502, undefined, '/messages')).toBe('failure')
    expect(verdictOf(504, new AppError('deadline_exceeded'), '/api/cars/:id')).toBe('failure')
    expect(verdictOf(504, new AppError('deadline_exceeded'), '/tasks/:name')).toBe('none')
    expect(verdictOf(503, new AppError('queue_full'), '/tasks/:name')).toBe('none')
    expect(verdictOf(500, new AppError('task_failed'), '/tasks/:name')).toBe('none')
    expect(verdictOf(499, new AppError('client_closed'), '/users/:id')).toBe('none')
    expect(verdictOf(404, new AppError('not_found'), '/users/:id')).toBe('success')
    expect(verdictOf(200, undefined, '/users/:id')).toBe('success')
    expect(verdictOf(422, new Error('validation'), '/users')).toBe('none')
  })
})
