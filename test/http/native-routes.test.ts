import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { createApp } from '../../src/app.ts'
import { testConfig } from '../../src/config.ts'
import { nativeRoutes } from '../../src/http/native-routes.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir, testDeps } from '../support/deps.ts'

describe('nativeRoutes table', () => {
  test('function routes by method; static values, wildcards and optional params stay with fetch', () => {
    const app = new Elysia()
      .get('/a', () => 'a')
      .post('/a', () => 'posted')
      .get('/users/:id', ({ params }) => params.id)
      .get('/static', 'a prebuilt value')
      .get('/files/*', () => 'file')
      .get('/opt/:x?', () => 'opt')
    const table = nativeRoutes(app)
    expect(Object.keys(table).sort()).toEqual(['/a', '/users/:id'])
    expect(Object.keys(table['/a'] ?? {}).sort()).toEqual(['GET', 'POST'])
  })

  test('every route of createApp that Bun can dispatch runs through Elysia\'s handler (the stack applies)', async () => {
    const t = await testDeps()
    try {
      const app = createApp(t.deps)
      const table = nativeRoutes(app)
      expect(table['/healthz']?.GET).toBeDefined()
      expect(table['/users/:id']?.GET).toBeDefined()
      expect(table['/swagger']).toBeUndefined()
      expect(table['/files/*']).toBeUndefined()
      const res = (await table['/healthz']!.GET!(new Request('http://localhost/healthz'))) as Response
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('ok')
      expect(res.headers.get('x-request-id')).toBeTruthy()
      expect(res.headers.get('server')).toStartWith('highperf/')
      expect(res.headers.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
    } finally {
      await t.close()
    }
  })
})

describe('over a real server (Bun.serve routes + fetch)', () => {
  const tmp = tempDir()
  const log = join(tmp.dir, 'access.log')
  let srv: RunningServer
  beforeAll(async () => {
    srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1, accessLog: log, logLevel: 'info', rateLimitRps: 1000, rateLimitBurst: 1000 }))
  })
  afterAll(async () => {
    await srv.shutdown()
    tmp.remove()
  })

  test('natively routed requests get the whole stack: request id, server header, rate-limit headers, metrics, access log', async () => {
    const created = await fetch(`${srv.url}users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Native', email: 'native@example.com' }) })
    expect(created.status).toBe(201)
    const location = created.headers.get('location') as string
    const health = await fetch(`${srv.url}healthz`, { headers: { 'x-request-id': 'native-health-1' } })
    expect(health.status).toBe(200)
    expect(health.headers.get('x-request-id')).toBe('native-health-1')
    expect(health.headers.get('server')).toStartWith('highperf/')
    const user = await fetch(`${srv.url}${location.slice(1)}`)
    expect(user.status).toBe(200)
    expect(((await user.json()) as { name: string }).name).toBe('Native')
    expect(user.headers.get('ratelimit-limit')).toBe('1000')
    const metrics = await (await fetch(`${srv.url}metrics`)).text()
    expect(metrics).toContain('http_requests_total{method="GET",route="/healthz",status="200"}')
    expect(metrics).toContain('http_requests_total{method="GET",route="/users/:id",status="200"}')
    await srv.deps.accessLog?.close()
    const lines = (await Bun.file(log).text()).trim().split('\n').map((l) => JSON.parse(l) as { requestId: string; route: string })
    expect(lines.some((l) => l.requestId === 'native-health-1' && l.route === '/healthz')).toBe(true)
  })

  test('what the table does not hold falls back to Elysia unchanged: HEAD, other methods, trailing slash, unknown paths', async () => {
    const head = await fetch(`${srv.url}healthz`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('x-request-id')).toBeTruthy()
    expect((await fetch(`${srv.url}healthz/`)).status).toBe(200)
    const put = await fetch(`${srv.url}healthz`, { method: 'PUT' })
    expect(put.status).toBe(404)
    expect(((await put.json()) as { error: { code: string } }).error.code).toBe('route_not_found')
    const bad = await fetch(`${srv.url}users/not-a-number`)
    expect(bad.status).toBeGreaterThanOrEqual(400)
    expect(bad.status).toBeLessThan(500)
    const swagger = await fetch(`${srv.url}swagger`)
    expect(swagger.status).toBe(200)
    expect(swagger.headers.get('x-request-id')).toBeTruthy()
  })
})
