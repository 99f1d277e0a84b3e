import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { t as schema } from 'elysia'
import { join } from 'node:path'
import { createApp } from '../../src/app.ts'
import { testConfig } from '../../src/config.ts'
import { AppError } from '../../src/errors.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { metricsStage } from '../../src/http/metrics/index.ts'
import type { Stage } from '../../src/http/front/index.ts'
import { createMetrics } from '../../src/metrics/registry.ts'
import { tempDir, testDeps, type TestDeps } from '../support/deps.ts'
import { stackApp } from '../support/front.ts'
import { promtool } from '../metrics/promtool.ts'

const samples = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
// On a real server the scrape may race the previous response's bookkeeping by a tick.
const settle = () => new Promise((r) => setTimeout(r, 20))

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

  test('GET /metrics answers the Prometheus text format', async () => {
    const res = await call('/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
    expect(await res.text()).toContain('# TYPE http_requests_total counter')
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

describe('GET /metrics on a real server', () => {
  let srv: RunningServer
  const tmp = tempDir()
  beforeAll(async () => {
    srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1 }))
  })
  afterAll(async () => {
    await srv.shutdown()
    tmp.remove()
  })

  test('its output passes promtool check metrics with no errors or warnings', async () => {
    await fetch(`${srv.url}healthz`)
    await fetch(`${srv.url}no/such/path`)
    const task = await fetch(`${srv.url}tasks/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"hello":1}' })
    expect(task.status).toBe(200)
    await settle()
    const res = await fetch(`${srv.url}metrics`)
    expect(res.status).toBe(200)
    const text = await res.text()
    const check = await promtool(text)
    expect(check.output).toBe('')
    expect(check.code).toBe(0)
    expect(text).toContain('http_requests_total{method="GET",route="/healthz",status="200"} 1')
    expect(text).toContain('http_requests_total{method="GET",route="unmatched",status="404"} 1')
    // The scrape itself is in flight while the gauge is read.
    expect(samples(text, 'http_requests_in_flight')).toEqual(['http_requests_in_flight 1'])
    // Pool and job metrics from the real pool and job runner.
    expect(samples(text, 'pool_workers')).toEqual(['pool_workers 1'])
    expect(text).toContain('pool_tasks_total{task="echo",outcome="ok"} 1')
    expect(text).toContain('pool_task_run_seconds_count{task="echo"} 1')
    expect(text).toContain('jobs{state="queued"} 0')
    expect(text).toContain('process_resident_memory_bytes ')
    expect(text).toContain('nodejs_eventloop_lag_p99_seconds ')
  })
})
