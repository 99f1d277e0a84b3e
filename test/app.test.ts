import { afterAll, describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { createApp, createStages } from '../src/app.ts'
import { AppError } from '../src/errors.ts'
import { testDeps, type TestDeps } from './support/deps.ts'

const made: TestDeps[] = []
afterAll(async () => { for (const t of made) await t.close() })

// Each test gets its own deps (its own Lifecycle), so draining in one test cannot leak into another.
const build = async () => {
  const t = await testDeps({ workers: 1 })
  made.push(t)
  const app = createApp(t.deps, {
    routes: (a) => a
      .get('/boom', () => { throw new Error('secret stack detail') })
      .get('/teapot', () => { throw new AppError('queue_full', 'busy', { retryAfter: 2 }) }),
  })
  return { app, lifecycle: t.deps.lifecycle }
}
const req = (path: string, init?: RequestInit) => new Request(`http://local${path}`, init)

describe('app', () => {
  test('healthz answers ok as text', async () => {
    const res = await (await build()).app.handle(req('/healthz'))
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('ok')
    expect(res.headers.get('server')).toMatch(/^highperf\//)
  })

  test('an incoming X-Request-Id is echoed, an unsafe one replaced', async () => {
    const { app } = await build()
    expect((await app.handle(req('/healthz', { headers: { 'x-request-id': 'abc-123' } }))).headers.get('x-request-id')).toBe('abc-123')
    const replaced = (await app.handle(req('/healthz', { headers: { 'x-request-id': 'a b<script>' } }))).headers.get('x-request-id')
    expect(replaced).toMatch(/^[a-z0-9]+-[a-z0-9]+$/)
    const generated = (await app.handle(req('/healthz'))).headers.get('x-request-id')
    expect(generated).not.toBe(replaced)
  })

  test('a thrown error becomes the envelope without leaking its message or stack', async () => {
    const res = await (await build()).app.handle(req('/boom', { headers: { 'x-request-id': 'r1' } }))
    expect(res.status).toBe(500)
    const body = await res.json()
    expect(body).toEqual({ error: { code: 'internal', message: 'Internal server error', requestId: 'r1' } })
    expect(JSON.stringify(body)).not.toContain('secret')
  })

  test('an AppError keeps its code, status and Retry-After', async () => {
    const res = await (await build()).app.handle(req('/teapot'))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('2')
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('queue_full')
  })

  test('an unknown route is a 404 envelope', async () => {
    const res = await (await build()).app.handle(req('/nope'))
    expect(res.status).toBe(404)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('route_not_found')
  })

  test('readyz turns 503 when draining', async () => {
    const { app, lifecycle } = await build()
    // testDeps returns once a pool worker is up, so the server is ready at once.
    const status = (await app.handle(req('/readyz'))).status
    expect(status).toBe(200)
    lifecycle.beginDrain()
    const res = await app.handle(req('/readyz'))
    expect(res.status).toBe(503)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('shutting_down')
  })

  test('a plugin built on Elysia composes with the stack', async () => {
    const t = await testDeps({ workers: 1 })
    made.push(t)
    const app = createApp(t.deps, { routes: (a) => a.use(new Elysia().get('/extra', () => ({ ok: true }))) })
    const res = await app.handle(req('/extra', { headers: { 'x-request-id': 'extra-1' } }))
    expect(await res.json()).toEqual({ ok: true })
    // Its routes are behind the front like highperf's own.
    expect(res.headers.get('x-request-id')).toBe('extra-1')
    expect(res.headers.get('server')).toMatch(/^highperf\//)
  })

  test('every answer carries X-Request-Id and Server: 200, 404, a thrown 500 and the guards\' 401, 429 and 503', async () => {
    const t = await testDeps({ workers: 1, apiToken: 'tok', maxInflight: 1, rateLimitRps: 1, rateLimitBurst: 4 })
    made.push(t)
    let open: () => void = () => {}
    const gate = new Promise<void>((r) => { open = r })
    const app = createApp(t.deps, {
      routes: (a) => a
        .get('/boom', () => { throw new Error('boom') })
        .get('/hold', async () => { await gate; return 'held' }),
    })
    let n = 0
    const check = async (expected: number, path: string, init: RequestInit = {}): Promise<string | undefined> => {
      const id = `every-${++n}`
      const res = await app.handle(req(path, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), 'x-request-id': id } }))
      expect({ path, status: res.status }).toEqual({ path, status: expected })
      expect(res.headers.get('x-request-id')).toBe(id)
      expect(res.headers.get('server')).toMatch(/^highperf\//)
      if (res.status < 400) return undefined
      const { error } = (await res.json()) as { error: { code: string; requestId: string } }
      expect(error.requestId).toBe(id)
      return error.code
    }
    await check(200, '/healthz') // exempt from every guard
    await check(404, '/nope') // anonymous bucket: 3 left
    await check(500, '/boom') // 2 left
    expect(await check(401, '/users', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).toBe('unauthorized') // 1 left
    // The one slot taken (0 left in the bucket), the next request is shed before the rate limiter.
    const held = app.handle(req('/hold'))
    expect(await check(503, '/nope')).toBe('overloaded')
    open()
    expect((await held).status).toBe(200)
    expect(await check(429, '/nope')).toBe('rate_limited')
  })

  test('createStages(deps) builds the documented stack order; the access log only when it is on', async () => {
    const t = await testDeps({ workers: 1 })
    made.push(t)
    const names = (deps: typeof t.deps) => createStages(deps).map((s) => s.name)
    expect(names(t.deps)).toEqual(['metrics', 'tracing', 'body-limit', 'max-inflight', 'rate-limit', 'auth', 'deadline', 'circuit-breaker', 'compression'])
    expect(names({ ...t.deps, config: { ...t.deps.config, compression: 'off' } })).not.toContain('compression')
    const withLog = { ...t.deps, accessLog: { write: () => {}, reopen: () => false, close: async () => {} } }
    expect(names(withLog)).toEqual(['metrics', 'tracing', 'access-log', 'body-limit', 'max-inflight', 'rate-limit', 'auth', 'deadline', 'circuit-breaker', 'compression'])
    expect(createApp(t.deps).stages.map((s) => s.name)).toEqual(names(t.deps))
  })
})
