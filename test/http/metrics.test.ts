import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { t as schema } from 'elysia'
import { createApp } from '../../src/app.ts'
import { AppError } from '../../src/errors.ts'
import { metricsStage } from '../../src/http/metrics/index.ts'
import type { Stage } from '../../src/http/front/index.ts'
import { createMetrics } from '../../src/metrics/registry.ts'
import { testDeps, type TestDeps } from '../support/deps.ts'
import { stackApp } from '../support/front.ts'

const samples = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))

// In-process, the stages' `after` runs before `handle` resolves: no settling needed there, and
// none is used, so a stage that recorded late would fail these tests.
describe('metrics stage (in-process, whole app)', () => {
  let t: TestDeps
  let app: ReturnType<typeof build>
  const build = (deps: TestDeps['deps']) => createApp(deps, {
    routes: (e) => e
      .get('/things/:id', ({ params }) => ({ id: params.id }))
      .get('/explode', () => { throw new Error('boom') })
      .get('/busy', () => { throw new AppError('queue_full', 'busy', { retryAfter: 1 }) })
      .post('/things', ({ set }) => { set.status = 201; return { ok: true } })
      .post('/strict', ({ body }) => body, { body: schema.Object({ n: schema.Number() }) }),
  })
  const call = (path: string, init?: RequestInit) => app.handle(new Request(`http://localhost${path}`, init))

  beforeAll(async () => {
    t = await testDeps()
    app = build(t.deps)
  })
  afterAll(() => t.close())

  test('the route label is the template: /things/1 and /things/2 make one series', async () => {
    expect((await call('/things/1')).status).toBe(200)
    expect((await call('/things/2')).status).toBe(200)
    const text = await t.deps.metrics.render()
    const lines = samples(text, 'http_requests_total').filter((l) => l.includes('/things'))
    expect(lines).toEqual(['http_requests_total{method="GET",route="/things/:id",status="200"} 2'])
    expect(text).not.toContain('/things/1')
    expect(text).toContain('http_request_duration_seconds_count{method="GET",route="/things/:id",status="200"} 2')
  })

  test('unknown paths collapse into route="unmatched" with their 404', async () => {
    for (const p of ['/nope/1', '/nope/2', '/a/b/c']) expect((await call(p)).status).toBe(404)
    const lines = samples(await t.deps.metrics.render(), 'http_requests_total').filter((l) => l.includes('unmatched'))
    expect(lines).toEqual(['http_requests_total{method="GET",route="unmatched",status="404"} 3'])
  })

  test('final statuses are recorded: thrown errors, AppErrors, set.status, validation', async () => {
    expect((await call('/explode')).status).toBe(500)
    expect((await call('/busy')).status).toBe(503)
    expect((await call('/things', { method: 'POST' })).status).toBe(201)
    const json = { method: 'POST', headers: { 'content-type': 'application/json' } }
    expect((await call('/strict', { ...json, body: '{"n":"x"}' })).status).toBe(422)
    expect((await call('/strict', { ...json, body: '{bad' })).status).toBe(400)
    const text = await t.deps.metrics.render()
    expect(text).toContain('http_requests_total{method="GET",route="/explode",status="500"} 1')
    expect(text).toContain('http_requests_total{method="GET",route="/busy",status="503"} 1')
    // The pool's queue_full refusal counts as load shedding.
    expect(text).toContain('http_requests_shed_total{reason="queue_full"} 1')
    expect(text).toContain('http_requests_total{method="POST",route="/things",status="201"} 1')
    expect(text).toContain('http_requests_total{method="POST",route="/strict",status="422"} 1')
    expect(text).toContain('http_requests_total{method="POST",route="/strict",status="400"} 1')
  })
})

describe('metrics stage with the guards', () => {
  test('a rate-limited 429 (refused before routing) is counted by route template, or unmatched, and in the rejection counter', async () => {
    const t = await testDeps({ rateLimitRps: 1, rateLimitBurst: 1 })
    try {
      const app = createApp(t.deps, { routes: (e) => e.get('/things/:id', () => 'x') })
      const statuses: number[] = []
      for (let i = 0; i < 3; i++) statuses.push((await app.handle(new Request(`http://localhost/things/${i}`))).status)
      expect(statuses).toContain(429)
      const limitedKnown = statuses.filter((s) => s === 429).length
      // The bucket is empty: a path no route matches is refused too, and labelled unmatched.
      expect((await app.handle(new Request('http://localhost/no/such/route'))).status).toBe(429)
      const text = await t.deps.metrics.render()
      const limited = samples(text, 'http_requests_total').filter((l) => l.includes('status="429"'))
      expect(limited.sort()).toEqual([
        `http_requests_total{method="GET",route="/things/:id",status="429"} ${limitedKnown}`,
        'http_requests_total{method="GET",route="unmatched",status="429"} 1',
      ])
      expect(samples(text, 'http_rate_limit_rejections_total')).toEqual([`http_rate_limit_rejections_total ${limitedKnown + 1}`])
    } finally {
      await t.close()
    }
  })
})

describe('metricsStage on its own', () => {
  // A guard that refuses every request to /guarded with `code`.
  const refuse = (code: 'rate_limited' | 'queue_full' | 'overloaded'): Stage => ({
    name: 'refuse',
    before(state) { if (state.path.startsWith('/guarded')) throw new AppError(code) },
  })

  test('records the status the client got for a stage\'s refusal, a 404 and a handler\'s answer, by template', async () => {
    const metrics = createMetrics({ defaults: false })
    const app = stackApp([metricsStage(metrics), refuse('rate_limited')], (e) => e
      .get('/guarded/:id', () => 'never')
      .get('/open/:id', ({ set }) => { set.status = 202; return 'ok' }))
    expect((await app.handle(new Request('http://localhost/guarded/1'))).status).toBe(429)
    expect((await app.handle(new Request('http://localhost/guarded/2'))).status).toBe(429)
    expect((await app.handle(new Request('http://localhost/open/1'))).status).toBe(202)
    expect((await app.handle(new Request('http://localhost/nowhere'))).status).toBe(404)
    const lines = samples(await metrics.render(), 'http_requests_total').sort()
    expect(lines).toEqual([
      'http_requests_total{method="GET",route="/guarded/:id",status="429"} 2',
      'http_requests_total{method="GET",route="/open/:id",status="202"} 1',
      'http_requests_total{method="GET",route="unmatched",status="404"} 1',
    ])
  })

  test('a queue_full refusal counts as shedding once; other 503s do not', async () => {
    const metrics = createMetrics({ defaults: false })
    const full = stackApp([metricsStage(metrics), refuse('queue_full')], (e) => e.get('/guarded', () => 'never'))
    const overloaded = stackApp([metricsStage(metrics), refuse('overloaded')], (e) => e.get('/guarded', () => 'never'))
    expect((await full.handle(new Request('http://localhost/guarded'))).status).toBe(503)
    expect((await overloaded.handle(new Request('http://localhost/guarded'))).status).toBe(503)
    const text = await metrics.render()
    expect(samples(text, 'http_requests_shed_total')).toEqual(['http_requests_shed_total{reason="queue_full"} 1'])
    expect(samples(text, 'http_requests_total')).toEqual(['http_requests_total{method="GET",route="/guarded",status="503"} 2'])
  })
})
