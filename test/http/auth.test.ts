import { beforeAll, describe, expect, test } from 'bun:test'
import { auth, WWW_AUTHENTICATE } from '../../src/http/auth/index.ts'
import { TokenVerifier } from '../../src/http/bearer-token.ts'
import { RequestState } from '../../src/http/request-state.ts'
import { UNMATCHED } from '../../src/http/route-policy.ts'
import type { RouteTable } from '../../src/http/front/router.ts'
import { createLogger } from '../../src/log.ts'
import { createApp } from '../../src/app.ts'
import { DOCS, PROBE, SCRAPE } from '../../src/routes/policy.ts'
import { tempDir, testDeps } from '../support/deps.ts'
import { appRoutes, stackApp } from '../support/front.ts'
import { join } from 'node:path'

let routes: RouteTable
beforeAll(async () => {
  routes = (await appRoutes()).table
})
/** True when highperf's route `template` (GET) declares it needs no token. */
const isAuthExempt = (template: string): boolean => {
  const match = routes.match('GET', template)
  return match.template === template && match.policy.exempt.auth
}
/** The state the front gives `request` (here without a route). */
const stateFor = (request: Request) => new RequestState(request, new URL(request.url).pathname, UNMATCHED, 'test-1', null, false, performance.now())

const TOKEN = 'tok-3f9a8c1d2e7b'
const req = (method: string, path: string, headers: Record<string, string> = {}) =>
  new Request(`http://localhost${path}`, { method, headers, ...(method === 'GET' || method === 'HEAD' ? {} : { body: '{}' }) })
type Envelope = { error: { code: string; message: string } }

function build(apiToken: string, authReads = false, log = createLogger({ logLevel: 'silent' })) {
  let handled = 0
  const app = stackApp([auth({ apiToken, authReads })], (e) => e
    .get('/healthz', () => 'ok', { policy: PROBE })
    .get('/readyz', () => ({ status: 'ready' }), { policy: PROBE })
    .get('/metrics', () => '# metrics', { policy: SCRAPE })
    .get('/swagger/json', () => ({ openapi: '3.0.3' }), { policy: DOCS })
    .get('/users/:id', () => ({ id: 1 }))
    .post('/users', () => { handled++; return { id: 1 } })
    .put('/users/:id', () => { handled++; return { id: 1 } })
    .patch('/users/:id', () => { handled++; return { id: 1 } })
    .delete('/users/:id', () => { handled++; return { id: 1 } }), { log })
  return { app, handled: () => handled }
}

describe('auth', () => {
  test('mutating methods without a token: 401 unauthorized with WWW-Authenticate, handler not run', async () => {
    const { app, handled } = build(TOKEN)
    for (const [method, path] of [['POST', '/users'], ['PUT', '/users/1'], ['PATCH', '/users/1'], ['DELETE', '/users/1']] as const) {
      const res = await app.handle(req(method, path))
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe(WWW_AUTHENTICATE)
      expect(((await res.json()) as Envelope).error.code).toBe('unauthorized')
    }
    expect(handled()).toBe(0)
  })

  test('the right token passes (scheme case-insensitive); a wrong, truncated or extended one does not', async () => {
    const { app, handled } = build(TOKEN)
    expect((await app.handle(req('POST', '/users', { authorization: `Bearer ${TOKEN}` }))).status).toBe(200)
    expect((await app.handle(req('DELETE', '/users/1', { authorization: `bearer ${TOKEN}` }))).status).toBe(200)
    expect(handled()).toBe(2)
    for (const bad of [`Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.toUpperCase()}`, `Basic ${btoa(`u:${TOKEN}`)}`, TOKEN, 'Bearer ', `Bearer ${'x'.repeat(10_000)}`]) {
      const res = await app.handle(req('POST', '/users', { authorization: bad }))
      expect(res.status).toBe(401)
    }
    expect(handled()).toBe(2)
  })

  test('reads stay open by default and need the token with AUTH_READS', async () => {
    const open = build(TOKEN).app
    expect((await open.handle(req('GET', '/users/1'))).status).toBe(200)
    const closed = build(TOKEN, true).app
    const res = await closed.handle(req('GET', '/users/1'))
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe(WWW_AUTHENTICATE)
    expect((await closed.handle(req('GET', '/users/1', { authorization: `Bearer ${TOKEN}` }))).status).toBe(200)
  })

  test('health, readiness, metrics and the API docs never need the token, even with AUTH_READS', async () => {
    const { app } = build(TOKEN, true)
    for (const path of ['/healthz', '/readyz', '/metrics', '/swagger/json']) {
      expect((await app.handle(req('GET', path))).status).toBe(200)
    }
    expect(isAuthExempt('/swagger')).toBe(true)
    expect(isAuthExempt('/swaggerish')).toBe(false)
  })

  test('no API_TOKEN: everything is open', async () => {
    const { app } = build('', true)
    expect((await app.handle(req('POST', '/users'))).status).toBe(200)
    expect((await app.handle(req('GET', '/users/1'))).status).toBe(200)
  })

  test('the token never appears in a response or in the log', async () => {
    const lines: string[] = []
    const log = createLogger({ logLevel: 'trace' }, { write: (s: string) => { lines.push(s) } })
    const { app } = build(TOKEN, false, log)
    const wrong = await app.handle(req('POST', '/users', { authorization: `Bearer ${TOKEN}-wrong` }))
    const right = await app.handle(req('POST', '/users', { authorization: `Bearer ${TOKEN}` }))
    const seen = [await wrong.text(), await right.text(), ...wrong.headers.values(), ...right.headers.values(), ...lines].join('\n')
    expect(seen).not.toContain(TOKEN)
  })
})

describe('TokenVerifier (constant-time path)', () => {
  test('compares equal-length SHA-256 digests, so any length is safe to compare', () => {
    const v = new TokenVerifier(TOKEN)
    expect(v.verify(TOKEN)).toBe(true)
    // timingSafeEqual throws on unequal lengths; hashing first means these simply return false.
    for (const t of ['', 'a', TOKEN.slice(1), `${TOKEN}${TOKEN}`, 'x'.repeat(1_000_000)]) expect(v.verify(t)).toBe(false)
    expect(v.verifyHeader(null)).toBe(false)
    expect(v.verifyHeader('Bearer')).toBe(false)
    expect(() => new TokenVerifier('')).toThrow(RangeError)
  })

  test('the verdict is memoised per request (the rate limiter and auth hash once between them)', () => {
    const v = new TokenVerifier(TOKEN)
    const r = stateFor(req('POST', '/users', { authorization: `Bearer ${TOKEN}` }))
    expect(r.authenticated(v)).toBe(true)
    expect(r.authenticated(v)).toBe(true)
    expect(stateFor(req('POST', '/users')).authenticated(v)).toBe(false)
  })
})

describe('auth wired into createApp', () => {
  test('API_TOKEN / AUTH_READS from config; the token never reaches the access log', async () => {
    const logDir = tempDir()
    const logFile = join(logDir.dir, 'access.log')
    const u = await testDeps({ apiToken: TOKEN, accessLog: logFile, logLevel: 'info' })
    try {
      const app = createApp(u.deps)
      const denied = await app.handle(req('POST', '/users', { authorization: `Bearer ${TOKEN}-wrong`, 'content-type': 'application/json' }))
      expect(denied.status).toBe(401)
      expect(denied.headers.get('www-authenticate')).toBe(WWW_AUTHENTICATE)
      const created = await app.handle(new Request('http://localhost/users', {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Ada', email: 'ada@example.com' }),
      }))
      expect(created.status).toBeLessThan(300)
      expect((await app.handle(req('GET', '/healthz'))).status).toBe(200)
    } finally {
      await u.close()
    }
    const text = await Bun.file(logFile).text()
    logDir.remove()
    expect(text).toContain('/users')
    expect(text).toContain('401')
    expect(text).not.toContain(TOKEN)
  })
})
