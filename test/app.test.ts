import { afterAll, describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { createApp } from '../src/app.ts'
import { AppError } from '../src/errors.ts'
import { testDeps, type TestDeps } from './support/deps.ts'

const made: TestDeps[] = []
afterAll(async () => { for (const t of made) await t.close() })

// Each test gets its own deps (its own Lifecycle), so draining in one test cannot leak into another.
const build = async () => {
  const t = await testDeps({ workers: 1 })
  made.push(t)
  const app = createApp(t.deps)
    .get('/boom', () => { throw new Error('secret stack detail') })
    .get('/teapot', () => { throw new AppError('queue_full', 'busy', { retryAfter: 2 }) })
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
    const { app } = await build()
    const res = await app.use(new Elysia().get('/extra', () => ({ ok: true }))).handle(req('/extra'))
    expect(await res.json()).toEqual({ ok: true })
  })
})
