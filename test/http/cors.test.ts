/**
 * CORS (`CORS_ORIGINS`, src/http/cors) on real servers, as a browser and a hostile client would
 * send it: preflights answered 204 before any guard (no token, no rate limit), every answer of an
 * allowed origin readable by its script (refusals included), nothing for an origin not listed,
 * `*` never with credentials.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { ConfigError, loadConfig, testConfig, type Config } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { rawRequest } from '../support/raw-http.ts'
import { tempDir } from '../support/deps.ts'

const APP = 'https://app.example'
const TOKEN = 'cors-test-token-77a1'
const tmp = tempDir('highperf-cors-')
afterAll(() => tmp.remove())

let n = 0
async function serve(overrides: Partial<Config>): Promise<RunningServer> {
  const dir = join(tmp.dir, `s${++n}`)
  return startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'data'), filesDir: join(dir, 'files'), workers: 1, ...overrides }), { log: silentLogger() })
}

function preflight(srv: RunningServer, path: string, origin: string | null, method = 'POST', headers = 'content-type, authorization'): Promise<Response> {
  const h: Record<string, string> = { 'access-control-request-method': method, 'access-control-request-headers': headers }
  if (origin !== null) h.origin = origin
  return fetch(`${srv.url}${path.slice(1)}`, { method: 'OPTIONS', headers: h })
}

const corsHeaders = (res: Response): string[] => [...res.headers.keys()].filter((k) => k.startsWith('access-control-'))

describe('CORS_ORIGINS lists origins', () => {
  let srv: RunningServer
  const accessLog = join(tmp.dir, 'access.log')
  beforeAll(async () => {
    srv = await serve({ corsOrigins: [APP, 'http://localhost:5173'], apiToken: TOKEN, rateLimitRps: 1, rateLimitBurst: 3, accessLog, logLevel: 'info' })
  })
  afterAll(() => srv?.shutdown())

  test('a preflight of a listed origin: 204 with Allow-Origin/Methods/Headers/Max-Age, Vary: Origin and the exposed headers, no body', async () => {
    const res = await preflight(srv, '/users', APP)
    expect(res.status).toBe(204)
    expect(await res.text()).toBe('')
    expect(res.headers.get('access-control-allow-origin')).toBe(APP)
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, HEAD, POST, OPTIONS')
    expect(res.headers.get('access-control-allow-headers')).toBe('content-type, authorization')
    expect(res.headers.get('access-control-max-age')).toBe('600')
    expect(res.headers.get('vary')).toBe('Origin')
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/,\s*/)
    for (const h of ['x-request-id', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']) expect(exposed).toContain(h)
    // Credentials only with CORS_CREDENTIALS.
    expect(res.headers.get('access-control-allow-credentials')).toBeNull()
  })

  test('preflights pass no guard: 30 of them without a token under a burst of 3 all get 204 and spend no quota', async () => {
    for (let i = 0; i < 30; i++) {
      const res = await preflight(srv, '/users/7', 'http://localhost:5173', 'DELETE')
      expect(res.status).toBe(204)
      expect(res.headers.get('ratelimit-remaining')).toBeNull()
      expect(res.headers.get('access-control-allow-methods')).toBe('GET, HEAD, PATCH, DELETE, OPTIONS')
    }
    // The quota is untouched: a real request right after is served (and readable by the script).
    const res = await fetch(`${srv.url}healthz`, { headers: { origin: APP } })
    expect(res.status).toBe(200)
    expect(res.headers.get('access-control-allow-origin')).toBe(APP)
  })

  test('every answer of a listed origin is readable: a 401, a 404, a 405 and a 429 carry Allow-Origin and the exposed headers', async () => {
    const h = { origin: APP }
    const unauthorized = await fetch(`${srv.url}users`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: '{}' })
    expect(unauthorized.status).toBe(401)
    const missing = await fetch(`${srv.url}nope`, { headers: h })
    expect(missing.status).toBe(404)
    const wrongMethod = await fetch(`${srv.url}healthz`, { method: 'DELETE', headers: { ...h, authorization: `Bearer ${TOKEN}` } })
    expect(wrongMethod.status).toBe(405)
    let limited: Response | undefined
    for (let i = 0; i < 20 && limited === undefined; i++) {
      const r = await fetch(`${srv.url}users`, { headers: h })
      if (r.status === 429) limited = r
    }
    expect(limited?.status).toBe(429)
    for (const res of [unauthorized, missing, wrongMethod, limited as Response]) {
      expect(`${res.status} ${res.headers.get('access-control-allow-origin')}`).toBe(`${res.status} ${APP}`)
      expect(res.headers.get('access-control-expose-headers')).toContain('Retry-After')
      expect(res.headers.get('vary')).toContain('Origin')
      expect(((await res.json()) as { error: { code: string } }).error.code).toBeString()
    }
    expect((limited as Response).headers.get('retry-after')).not.toBeNull()
  })

  test('an origin not listed gets no CORS header at all: preflight (a plain OPTIONS answer), GET, error', async () => {
    for (const origin of ['https://evil.example', 'https://app.example.evil', 'http://app.example', 'https://APP.example', 'null', `${APP}:443`, `${APP}/`]) {
      const pre = await preflight(srv, '/users', origin)
      expect(`${origin} ${pre.status} ${corsHeaders(pre).join()}`).toBe(`${origin} 204 `)
      expect(pre.headers.get('allow')).toBe('GET, HEAD, POST, OPTIONS')
      const get = await fetch(`${srv.url}nope`, { headers: { origin } })
      expect(`${origin} ${corsHeaders(get).join()}`).toBe(`${origin} `)
      // The answer depends on Origin: a shared cache must know (JSON answers vary by Accept-Encoding too).
      expect(get.headers.get('vary')?.split(', ')).toContain('Origin')
    }
  })

  test('a preflight of a path no route has: 204 with every method, so the script reads the 404 that follows', async () => {
    const res = await preflight(srv, '/no/such/path', APP, 'PUT')
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS')
    // Without Origin it is no preflight: an unknown path is a 404 (after the guards).
    const plain = await fetch(`${srv.url}no/such/path`, { method: 'OPTIONS' })
    expect([404, 429]).toContain(plain.status)
  })

  test('a malformed Access-Control-Request-Headers is not echoed (raw socket); the default list is sent', async () => {
    const res = await rawRequest(srv.port, `OPTIONS /users HTTP/1.1\r\nHost: x\r\nOrigin: ${APP}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: x-a, <script>alert(1)</script>\r\nConnection: close\r\n\r\n`)
    expect(res.status).toBe(204)
    expect(res.headers['access-control-allow-headers']).toBe('Authorization, Content-Type, X-Request-Id, traceparent, tracestate, If-None-Match, If-Match, Range, Last-Event-ID')
    // An Access-Control-Request-Method that is not a method token: no preflight, the plain
    // OPTIONS answer (which, from a listed origin, the script may read like any other).
    const bad = await rawRequest(srv.port, `OPTIONS /users HTTP/1.1\r\nHost: x\r\nOrigin: ${APP}\r\nAccess-Control-Request-Method: P O\r\nConnection: close\r\n\r\n`)
    expect(bad.status).toBe(204)
    expect(bad.headers.allow).toBe('GET, HEAD, POST, OPTIONS')
    expect(bad.headers['access-control-allow-methods']).toBeUndefined()
    expect(bad.headers['access-control-max-age']).toBeUndefined()
  })

  test('preflights are logged as the 204s they are, under their route, never as errors', async () => {
    await preflight(srv, '/jobs/abc', APP, 'DELETE')
    // The access log is flushed every 250 ms.
    let lines: Array<{ method: string; route: string; status: number }> = []
    for (let i = 0; i < 40; i++) {
      await Bun.sleep(100)
      lines = readFileSync(accessLog, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { method: string; route: string; status: number })
      if (lines.some((l) => l.route === '/jobs/:id')) break
    }
    const options = lines.filter((l) => l.method === 'OPTIONS')
    expect(options.length).toBeGreaterThan(30)
    expect(options.filter((l) => l.status !== 204 && l.route !== 'unmatched')).toEqual([])
    expect(options.some((l) => l.route === '/jobs/:id' && l.status === 204)).toBe(true)
  })
})

describe('CORS_ORIGINS=*', () => {
  let srv: RunningServer
  beforeAll(async () => {
    srv = await serve({ corsOrigins: ['*'] })
  })
  afterAll(() => srv?.shutdown())

  test('any origin, null included, gets Allow-Origin: * and never Allow-Credentials', async () => {
    for (const origin of ['https://a.example', 'null', 'http://localhost:1']) {
      const pre = await preflight(srv, '/tasks/primes', origin)
      expect(pre.status).toBe(204)
      expect(pre.headers.get('access-control-allow-origin')).toBe('*')
      expect(pre.headers.get('access-control-allow-credentials')).toBeNull()
      const get = await fetch(`${srv.url}healthz`, { headers: { origin } })
      expect(get.headers.get('access-control-allow-origin')).toBe('*')
      expect(get.headers.get('access-control-allow-credentials')).toBeNull()
    }
    // A request without Origin is no CORS request: no CORS header.
    expect(corsHeaders(await fetch(`${srv.url}healthz`))).toEqual([])
  })
})

describe('CORS_CREDENTIALS', () => {
  test('listed origins get Allow-Credentials: true and their own origin echoed, never *', async () => {
    const srv = await serve({ corsOrigins: [APP], corsCredentials: true })
    try {
      const pre = await preflight(srv, '/users', APP)
      expect(pre.headers.get('access-control-allow-credentials')).toBe('true')
      expect(pre.headers.get('access-control-allow-origin')).toBe(APP)
      const get = await fetch(`${srv.url}users`, { headers: { origin: APP } })
      expect(get.headers.get('access-control-allow-credentials')).toBe('true')
      const other = await fetch(`${srv.url}users`, { headers: { origin: 'https://evil.example' } })
      expect(corsHeaders(other)).toEqual([])
    } finally {
      await srv.shutdown()
    }
  })

  test('is refused with CORS_ORIGINS=* at start, and malformed origins are refused naming the variable', () => {
    expect(() => loadConfig([], { CORS_ORIGINS: '*', CORS_CREDENTIALS: 'true' })).toThrow(ConfigError)
    expect(() => loadConfig([], { CORS_ORIGINS: '*', CORS_CREDENTIALS: 'true' })).toThrow(/only without credentials/)
    for (const bad of ['https://a.example/path', '*,https://a.example', 'null', 'ftp://a.example', 'a.example', 'https://u:p@a.example', 'https://a.example?x=1']) {
      expect(() => loadConfig([], { CORS_ORIGINS: bad })).toThrow(/CORS_ORIGINS/)
    }
    const ok = loadConfig(['--cors-origins', 'HTTPS://App.Example:443, http://localhost:5173'], {})
    expect(ok.kind === 'config' && ok.config.corsOrigins).toEqual([APP, 'http://localhost:5173'])
  })
})

describe('CORS off (CORS_ORIGINS unset)', () => {
  let srv: RunningServer
  beforeAll(async () => {
    srv = await serve({})
  })
  afterAll(() => srv?.shutdown())

  test('no CORS header and no Vary: Origin on any answer, a preflight included', async () => {
    const pre = await preflight(srv, '/users', APP)
    expect(pre.status).toBe(204)
    expect(pre.headers.get('allow')).toBe('GET, HEAD, POST, OPTIONS')
    expect(corsHeaders(pre)).toEqual([])
    const get = await fetch(`${srv.url}users`, { headers: { origin: APP } })
    expect(corsHeaders(get)).toEqual([])
    expect(get.headers.get('vary')?.split(', ') ?? []).not.toContain('Origin')
  })
})

describe('OPTIONS with a declared body (raw socket)', () => {
  test('an oversize declared body still gets the declared-body limit\'s 413 and a closed connection, not an early 204', async () => {
    const srv = await serve({ corsOrigins: [APP], maxBodySize: 2048 })
    try {
      const res = await rawRequest(srv.port, `OPTIONS /users HTTP/1.1\r\nHost: x\r\nOrigin: ${APP}\r\nAccess-Control-Request-Method: POST\r\nContent-Length: 100000000\r\n\r\n`, { timeoutMs: 5000 })
      expect(res.status).toBe(413)
      expect(res.headers.connection).toBe('close')
    } finally {
      await srv.shutdown()
    }
  })
})
