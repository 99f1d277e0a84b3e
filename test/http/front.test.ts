/**
 * The front's one routing decision, tried as a hostile client would: raw sockets, so the Host
 * header and the request target go out exactly as written (a client library would normalise them).
 *
 * What is pinned down: the route every guard judges is the route Elysia runs, for every legal
 * Host (`x`, `db`, `[::1]`, `x:80`…) and request-target form (origin, absolute with any host,
 * HTTP/1.0 without Host); API_TOKEN holds on every route for every form; probes answer for any
 * legal Host; an invalid Host is a 400 `invalid_host`.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Elysia, type AnyElysia } from 'elysia'
import { join } from 'node:path'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { createRoutes } from '../../src/app.ts'
import { createFront, type Stage } from '../../src/http/front/index.ts'
import { recovery } from '../../src/http/recovery/index.ts'
import { canonicalUrl, ELYSIA_PATH_FROM, locatePath, NOT_A_PATH, pathAt } from '../../src/http/front/target.ts'
import { RouteTable } from '../../src/http/front/router.ts'
import type { RequestState } from '../../src/http/request-state.ts'
import { UNMATCHED, UNMATCHED_ROUTE } from '../../src/http/route-policy.ts'
import { AppError } from '../../src/errors.ts'
import { rawRequest, type RawResponse } from '../support/raw-http.ts'
import { tempDir, testDeps } from '../support/deps.ts'
import { appRoutes, stackApp } from '../support/front.ts'

const TOKEN = 'front-test-token-5be1'
const tmp = tempDir('highperf-front-')
afterAll(() => tmp.remove())

/** A concrete path for a route template: `:id` → 1, `:name` → primes, `*` → a file name. */
function concrete(template: string): string {
  return template.replace(/:id\b/g, '1').replace(/:name\b/g, 'primes').replace(/:[A-Za-z]+/g, 'v').replace(/\*$/, 'a.txt')
}

/** The ways a client can name the same request; each builds the request head (without the final CRLF). */
const FORMS: Record<string, (method: string, target: string, port: number) => string> = {
  'Host: x': (m, t) => `${m} ${t} HTTP/1.1\r\nHost: x\r\n`,
  'Host: db': (m, t) => `${m} ${t} HTTP/1.1\r\nHost: db\r\n`,
  'Host: api': (m, t) => `${m} ${t} HTTP/1.1\r\nHost: api\r\n`,
  'Host: a.b': (m, t) => `${m} ${t} HTTP/1.1\r\nHost: a.b\r\n`,
  'Host: x:80': (m, t) => `${m} ${t} HTTP/1.1\r\nHost: x:80\r\n`,
  'Host: x:1': (m, t) => `${m} ${t} HTTP/1.1\r\nHost: x:1\r\n`,
  'Host: [::1]': (m, t) => `${m} ${t} HTTP/1.1\r\nHost: [::1]\r\n`,
  'Host: [::1]:8080': (m, t) => `${m} ${t} HTTP/1.1\r\nHost: [::1]:8080\r\n`,
  'Host: X.Example.COM': (m, t) => `${m} ${t} HTTP/1.1\r\nHost: X.Example.COM\r\n`,
  'Host: a 300-character name': (m, t) => `${m} ${t} HTTP/1.1\r\nHost: ${'a'.repeat(290)}.example\r\n`,
  'Host: 127.0.0.1:port': (m, t, port) => `${m} ${t} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`,
  'absolute http://x': (m, t) => `${m} http://x${t} HTTP/1.1\r\nHost: x\r\n`,
  'absolute https://x': (m, t) => `${m} https://x${t} HTTP/1.1\r\nHost: x\r\n`,
  'absolute http://db:1 (other Host header)': (m, t) => `${m} http://db:1${t} HTTP/1.1\r\nHost: db:1\r\n`,
  'absolute http://u@x (userinfo)': (m, t) => `${m} http://u@x${t} HTTP/1.1\r\nHost: localhost\r\n`,
  'HTTP/1.0 without Host': (m, t) => `${m} ${t} HTTP/1.0\r\n`,
  'empty Host': (m, t) => `${m} ${t} HTTP/1.1\r\nHost: \r\n`,
}

const BODY = '{"name":"Eve","email":"eve@example.com","task":"primes","input":{"limit":10},"tasks":[],"prompt":"hi"}'

/** Sends `method target` in `form` (with a JSON body for methods that carry one) and returns the answer. */
function send(port: number, form: string, method: string, target: string, headers = '', json = BODY): Promise<RawResponse> {
  const head = (FORMS[form] as (m: string, t: string, p: number) => string)(method, target, port)
  const withBody = method !== 'GET' && method !== 'HEAD'
  const body = withBody ? json : ''
  const extra = withBody ? `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` : ''
  return rawRequest(port, `${head}${extra}${headers}Connection: close\r\n\r\n${body}`, { timeoutMs: 10_000 })
}

const codeOf = (res: RawResponse): string | undefined => {
  try {
    return (JSON.parse(res.body) as { error?: { code?: string } }).error?.code
  } catch {
    return undefined
  }
}

async function serve(authReads: boolean, dir: string): Promise<RunningServer> {
  const srv = await startServer(testConfig({
    port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, dir), filesDir: join(tmp.dir, 'files'), workers: 1,
    apiToken: TOKEN, authReads, rateLimitRps: 0,
  }), { log: silentLogger() })
  // Ready once a pool worker is up (workers start in the background).
  for (let i = 0; i < 1000; i++) {
    if ((await fetch(`${srv.url}readyz`)).status === 200) break
    await Bun.sleep(10)
  }
  return srv
}

const EXEMPT = new Set(['/healthz', '/readyz', '/metrics', '/swagger', '/swagger/json', '/swagger/assets/swagger-ui-bundle.js', '/swagger/assets/swagger-ui.css', '/swagger/assets/init.js', '/swagger/assets/page.css',
  // The status page, open like /metrics (src/routes/policy.ts STATUS).
  '/status', '/status/json', '/status/assets/status.js', '/status/assets/status.css'])

describe('API_TOKEN holds for every Host and request-target form', () => {
  let open: RunningServer
  let closed: RunningServer
  beforeAll(async () => {
    open = await serve(false, 'open')
    closed = await serve(true, 'closed')
  })
  afterAll(async () => {
    await open.shutdown()
    await closed.shutdown()
  })

  test('every mutating route, plain, behind a /swagger prefix (plain or percent-encoded), with a slash or a query: 401 without a token, nothing stored', async () => {
    const mutating = routeList(open).filter((r) => r.method !== 'GET')
    expect(mutating.length).toBeGreaterThanOrEqual(8)
    const wrong: string[] = []
    for (const { method, path } of mutating) {
      for (const form of Object.keys(FORMS)) {
        for (const target of [concrete(path), `/swagger${concrete(path)}`, `${concrete(path)}/`, `/%73wagger${concrete(path)}`, `${concrete(path)}?x=/swagger/#f`]) {
          const res = await send(open.port, form, method, target)
          if (res.status !== 401) wrong.push(`${form} ${method} ${target} -> ${res.status} ${res.body.slice(0, 80)}`)
        }
      }
    }
    expect(wrong).toEqual([])
    expect(open.deps.users.count()).toBe(0)
  }, 120_000)

  test('with AUTH_READS every read but the probes and the docs: 401 without a token', async () => {
    const reads = routeList(closed).filter((r) => r.method === 'GET' && !EXEMPT.has(r.path))
    expect(reads.length).toBeGreaterThanOrEqual(10)
    const wrong: string[] = []
    for (const { path } of reads) {
      for (const form of Object.keys(FORMS)) {
        for (const method of ['GET', 'HEAD']) {
          for (const target of [concrete(path), `/swagger${concrete(path)}`]) {
            const res = await send(closed.port, form, method, target)
            if (res.status !== 401) wrong.push(`${form} ${method} ${target} -> ${res.status} ${res.body.slice(0, 80)}`)
          }
        }
      }
    }
    expect(wrong).toEqual([])
  }, 120_000)

  test('probes answer 200 for any legal Host (x, db, [::1], x:80, none on HTTP/1.0), with AUTH_READS', async () => {
    const wrong: string[] = []
    for (const path of ['/healthz', '/readyz', '/metrics', '/healthz/']) {
      for (const form of Object.keys(FORMS)) {
        for (const method of ['GET', 'HEAD']) {
          const res = await send(closed.port, form, method, path)
          if (res.status !== 200) wrong.push(`${form} ${method} ${path} -> ${res.status} ${res.body.slice(0, 80)}`)
        }
      }
    }
    expect(wrong).toEqual([])
  }, 60_000)

  test('exactly the docs routes are open with AUTH_READS: the UI, the document and its assets, nothing under /swagger/ else', async () => {
    for (const form of ['Host: x', 'Host: db', 'absolute http://x', 'HTTP/1.0 without Host']) {
      for (const path of ['/swagger', '/swagger/json', '/swagger/assets/swagger-ui.css']) {
        expect(`${form} ${path} ${(await send(closed.port, form, 'GET', path)).status}`).toBe(`${form} ${path} 200`)
      }
      for (const path of ['/swagger/nope', '/swagger/json/x', '/swaggerx', '/swagger/assets/nope.js']) {
        expect(`${form} ${path} ${(await send(closed.port, form, 'GET', path)).status}`).toBe(`${form} ${path} 401`)
      }
      // The docs are read-only: a POST to them is no docs route, so it needs the token.
      expect((await send(closed.port, form, 'POST', '/swagger/json')).status).toBe(401)
    }
  }, 60_000)

  test('with the token every form reaches its route: POST /users with Host: x creates a user', async () => {
    // A body of /users' own fields only: JSON bodies refuse unknown fields (docs/resilience.md#unknown-fields).
    const res = await send(open.port, 'Host: x', 'POST', '/users', `Authorization: Bearer ${TOKEN}\r\n`, '{"name":"Eve","email":"eve@example.com"}')
    expect(res.status).toBe(201)
    const viaSwagger = await send(open.port, 'Host: x', 'POST', '/swagger/users', `Authorization: Bearer ${TOKEN}\r\n`)
    expect(viaSwagger.status).toBe(404)
    expect(codeOf(viaSwagger)).toBe('route_not_found')
  })

  test('an invalid or duplicated Host is a 400 invalid_host, never served', async () => {
    for (const host of ['a/b', 'a?b', 'a#b', 'user@h', 'x, y', 'a\\b']) {
      const res = await rawRequest(open.port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      expect(`${host} ${res.status} ${codeOf(res)}`).toBe(`${host} 400 invalid_host`)
    }
    const twice = await rawRequest(open.port, 'POST /swagger/users HTTP/1.1\r\nHost: x\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}')
    expect(twice.status).toBe(400)
    expect(codeOf(twice)).toBe('invalid_host')
  })

  test('a CONNECT (authority-form target) gets a 4xx envelope, not a route', async () => {
    const res = await rawRequest(open.port, 'CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\nConnection: close\r\n\r\n')
    expect(res.status).toBeGreaterThanOrEqual(400)
    expect(res.status).toBeLessThan(500)
    expect(codeOf(res)).toBeDefined()
  })
})

let cachedRoutes: Array<{ method: string; path: string }> | undefined
/** The server's route templates (method and path), as Elysia lists them. */
function routeList(srv: RunningServer): Array<{ method: string; path: string }> {
  cachedRoutes ??= createRoutes(srv.deps).routes.map((r) => ({ method: r.method, path: r.path }))
  return cachedRoutes
}

describe('the front matches the route Elysia runs', () => {
  // A mirror of highperf's route table: every template of the real app, each answering with its
  // own template; a stage reports the front's match. Any disagreement is a guard judging one
  // route while another runs.
  let server: ReturnType<typeof Bun.serve>
  let templates: Array<{ method: string; path: string }> = []
  beforeAll(async () => {
    const t = await testDeps()
    try {
      templates = createRoutes(t.deps).routes.map((r) => ({ method: r.method, path: r.path }))
    } finally {
      await t.close()
    }
    let mirror: AnyElysia = new Elysia().use(recovery(silentLogger()))
    for (const { method, path } of templates) {
      mirror = mirror.route(method, path, () => new Response(`ran ${path}`, { headers: { 'x-ran': path } }))
    }
    const reportRoute: Stage = {
      name: 'report',
      before(state) { state.client() },
      after(state, response) {
        response.headers.set('x-front-route', state.route)
        response.headers.set('x-client', state.client())
      },
    }
    const front = createFront(mirror, [reportRoute], { serverName: 'test', log: silentLogger(), trustProxy: false })
    server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: front.fetch })
  })
  afterAll(() => server?.stop(true))

  test('for every route template, host form, path variant and method', async () => {
    expect(templates.length).toBeGreaterThan(20)
    const forms = ['Host: x', 'Host: db', 'Host: 127.0.0.1:port', 'absolute http://x', 'absolute https://x', 'HTTP/1.0 without Host', 'empty Host']
    const variants = (p: string) => [p, `${p}/`, `${p}?a=1`, `${p}//`, `/swagger${p}`, `//x${p}`, `${p}#frag`, p.replace(/^\/(.)/, (_, c: string) => `/%${c.charCodeAt(0).toString(16)}`)]
    const wrong: string[] = []
    let checked = 0
    for (const { path } of templates) {
      for (const form of forms) {
        for (const target of variants(concrete(path))) {
          for (const method of ['GET', 'HEAD', 'POST', 'DELETE', 'PUT', 'OPTIONS', 'PURGE']) {
            const head = (FORMS[form] as (m: string, t: string, p: number) => string)(method, target, server.port as number)
            const res = await rawRequest(server.port as number, `${head}Connection: close\r\n\r\n`, { timeoutMs: 10_000 })
            checked++
            const judged = res.headers['x-front-route'] ?? 'no answer from the front'
            // No route ran for a 405 or a bare OPTIONS 204: the front named the path's template,
            // and its Allow must leave out the method refused (and list it for OPTIONS).
            const allow = res.headers.allow?.split(', ')
            const refused = allow !== undefined && res.headers['x-ran'] === undefined && ((res.status === 405 && !allow.includes(method)) || (res.status === 204 && method === 'OPTIONS'))
            const ran = res.headers['x-ran'] ?? (res.status === 404 ? 'unmatched' : refused ? judged : `status ${res.status}`)
            if (ran !== judged) wrong.push(`${form} ${method} ${target}: Elysia ran ${ran}, the front judged ${judged}`)
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(5000)
    expect(wrong.slice(0, 40)).toEqual([])
  }, 300_000)

  test('a request whose URL the front rewrote keeps its client address (server.requestIP needs the native Request)', async () => {
    for (const form of ['Host: x', 'HTTP/1.0 without Host', 'absolute https://x']) {
      const head = (FORMS[form] as (m: string, t: string, p: number) => string)('GET', '/healthz', server.port as number)
      const res = await rawRequest(server.port as number, `${head}Connection: close\r\n\r\n`)
      expect(`${form}: ${res.status} ${res.headers['x-client']}`).toBe(`${form}: 200 127.0.0.1`)
    }
  })
})

describe('the request target (src/http/front/target.ts)', () => {
  /** Elysia 1.4's own cut of the path (its compiled handler and getPath). */
  const elysiaPath = (url: string) => {
    const s = url.indexOf('/', 11)
    const q = url.indexOf('?', s + 1)
    return url.substring(s, q === -1 ? undefined : q)
  }

  test('finds the path after any authority, or at 0 for a relative URL; anything else is not a path', () => {
    expect(locatePath('http://localhost:3000/users?x=1')).toBe(21)
    expect(locatePath('http://x/users')).toBe(8)
    expect(locatePath('https://db/users')).toBe(10)
    expect(locatePath('http://[::1]/users')).toBe(12)
    expect(locatePath('/users')).toBe(0)
    expect(locatePath('//x/users')).toBe(0)
    for (const url of ['x:443', 'localhost:443', 'http:443', 'ftp://x/a', 'http:/x', 'httpx//a/b', '', '*']) expect(`${url} ${locatePath(url)}`).toBe(`${url} ${NOT_A_PATH}`)
  })

  test('the canonical URL is the same URL (a URL parser reads the same href) and Elysia cuts the same path from it', () => {
    const urls = [
      'http://x/swagger/users', 'http://x/', 'http://db/users/1?x=/y', 'http://api/a', 'https://x/a', 'https://db/a', 'http://x:1/a', 'http://x:80/a',
      'http://x:8080/a', 'http://[::1]/a', 'http://a.b/swagger/users', 'http://x/a#f/b', 'http://x:abc/a', 'http://x//a/b',
    ]
    for (const url of urls) {
      const start = locatePath(url)
      if (start >= ELYSIA_PATH_FROM) continue
      const canonical = canonicalUrl(url, start)
      expect(canonical.indexOf('/', ELYSIA_PATH_FROM)).toBe(canonical.indexOf('/', url.indexOf('//') + 2))
      expect(elysiaPath(canonical)).toBe(pathAt(url, start))
      if (URL.canParse(url)) expect(`${url} -> ${new URL(canonical).href}`).toBe(`${url} -> ${new URL(url).href}`)
    }
    expect(canonicalUrl('http://x/swagger/users', 8)).toBe('http://x:80/swagger/users')
    expect(canonicalUrl('/users?x=1', 0)).toBe('http://localhost/users?x=1')
    expect(elysiaPath(canonicalUrl('/swagger/users', 0))).toBe('/swagger/users')
  })

  test('the path is cut at the query as Elysia cuts it; a fragment stays in (so it matches no route, for both)', () => {
    expect(pathAt('http://localhost/users/7?x=1', 16)).toBe('/users/7')
    expect(pathAt('http://localhost/users/7#f?x', 16)).toBe('/users/7#f')
    expect(pathAt('/a?b', 0)).toBe('/a')
  })
})

describe('X-Content-Type-Options: nosniff on every answer', () => {
  let srv: RunningServer
  beforeAll(async () => {
    const files = join(tmp.dir, 'nosniff-files')
    await Bun.write(join(files, 'page.html'), '<script>alert(1)</script>')
    srv = await startServer(testConfig({
      port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'nosniff'), filesDir: files, workers: 1, apiToken: TOKEN, maxBodySize: 2048,
    }), { log: silentLogger() })
  })
  afterAll(() => srv.shutdown())

  test('2xx, 3xx, 4xx and 5xx alike: JSON, HTML, files, ranges, streams, HEAD, refusals and the front\'s own 400s', async () => {
    const auth = `Authorization: Bearer ${TOKEN}\r\n`
    const job = await fetch(`${srv.url}jobs`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{"task":"primes","input":{"limit":10}}' })
    const jobId = ((await job.json()) as { id: string }).id
    const json = 'Content-Type: application/json\r\n'
    const etag = (await fetch(`${srv.url}swagger/assets/swagger-ui.css`)).headers.get('etag')
    const cases: Array<[string, string]> = [
      ['GET /healthz HTTP/1.1\r\nHost: x\r\n', '200'],
      ['HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n', '200'],
      ['GET /metrics HTTP/1.1\r\nHost: localhost\r\n', '200'],
      ['GET /swagger HTTP/1.1\r\nHost: localhost\r\n', '200'],
      ['GET /swagger/json HTTP/1.1\r\nHost: localhost\r\n', '200'],
      ['GET /swagger/assets/swagger-ui.css HTTP/1.1\r\nHost: localhost\r\n', '200'],
      ['GET /files/page.html HTTP/1.1\r\nHost: localhost\r\n', '200'],
      ['HEAD /files/page.html HTTP/1.1\r\nHost: localhost\r\n', '200'],
      ['GET /files/page.html HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-3\r\n', '206'],
      ['GET /files/page.html HTTP/1.1\r\nHost: localhost\r\nRange: bytes=900-\r\n', '416'],
      ['GET /files/nope HTTP/1.1\r\nHost: localhost\r\n', '404'],
      [`POST /users HTTP/1.1\r\nHost: localhost\r\n${auth}${json}Content-Length: 42\r\n\r\n{"name":"Ann","email":"ann@example.com"}  `, '201'],
      [`GET /jobs/${jobId}/events HTTP/1.1\r\nHost: localhost\r\n`, '200'],
      ['GET /users/999 HTTP/1.1\r\nHost: localhost\r\n', '404'],
      ['GET /nope HTTP/1.1\r\nHost: localhost\r\n', '404'],
      ['GET /users?limit=abc HTTP/1.1\r\nHost: localhost\r\n', '422'],
      [`POST /users HTTP/1.1\r\nHost: localhost\r\n${auth}${json}Content-Length: 5\r\n\r\n{"a":`, '400'],
      [`POST /users HTTP/1.1\r\nHost: localhost\r\n${json}Content-Length: 2\r\n\r\n{}`, '401'],
      [`POST /users HTTP/1.1\r\nHost: localhost\r\n${auth}${json}Content-Length: 999999\r\n\r\n`, '413'],
      ['GET /healthz HTTP/1.1\r\nHost: a/b\r\n', '400'],
      ['CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n', '400'],
      [`POST /tasks/nope HTTP/1.1\r\nHost: localhost\r\n${auth}${json}Content-Length: 2\r\n\r\n{}`, '404'],
      [`GET /swagger/assets/swagger-ui.css HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: ${etag}\r\n`, '304'],
      // No LLM upstream configured: 503 llm_not_configured.
      [`POST /messages HTTP/1.1\r\nHost: localhost\r\n${auth}${json}Content-Length: 16\r\n\r\n{"input":"Hola"}`, '503'],
    ]
    const missing: string[] = []
    for (const [head, status] of cases) {
      const [line] = head.split('\r\n')
      const text = head.includes('\r\n\r\n') ? head.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n') : `${head}Connection: close\r\n\r\n`
      const res = await rawRequest(srv.port, text, { timeoutMs: 1500 })
      if (String(res.status) !== status || res.headers['x-content-type-options'] !== 'nosniff') {
        missing.push(`${line}: ${res.status} (wanted ${status}), x-content-type-options: ${res.headers['x-content-type-options']}`)
      }
    }
    expect(missing).toEqual([])
  }, 30_000)
})

describe('the route table (src/http/front/router.ts)', () => {
  test('every route template of the app matches itself with its declared policy: as written, with a trailing slash, by HEAD for GET, and under a `*`', async () => {
    const { routes, table } = await appRoutes()
    expect(routes.length).toBeGreaterThan(20)
    const wrong: string[] = []
    const check = (method: string, path: string, want: { path: string; policy: unknown }) => {
      const got = table.match(method, path)
      if (got.template !== want.path || JSON.stringify(got.policy) !== JSON.stringify(want.policy)) {
        wrong.push(`${method} ${path} -> ${got.template} ${JSON.stringify(got.policy)}`)
      }
    }
    let wildcards = 0
    for (const route of routes) {
      check(route.method, route.path, route)
      check(route.method, `${route.path}/`, route)
      if (route.method === 'GET') check('HEAD', route.path, route)
      if (route.path.endsWith('/*')) {
        wildcards++
        for (const rest of ['a.txt', 'a/b/c.txt', '%2e%2e']) check(route.method, route.path.replace(/\*$/, rest), route)
      }
    }
    expect(wildcards).toBeGreaterThan(0)
    expect(wrong).toEqual([])
  })

  test('a match is the route\'s own object, made once: matching the same route twice answers the same match', async () => {
    const { table } = await appRoutes()
    expect(table.match('GET', '/users/7')).toBe(table.match('HEAD', '/users/8/'))
    expect(table.match('GET', '/nope')).toBe(UNMATCHED)
  })

  test('a route that declares no policy gets the default; a malformed policy fails when the table is built', () => {
    const table = new RouteTable([{ method: 'GET', path: '/plain' }, { method: 'GET', path: '/empty', hooks: {} }])
    expect(table.match('GET', '/plain').policy).toEqual({ deadline: 'request', clientSetsDeadline: false, exempt: { shed: false, rateLimit: false, auth: false, breaker: false } })
    expect(table.match('GET', '/empty').policy).toBe(table.match('GET', '/plain').policy)
    for (const policy of [{ deadline: 'forever' }, { deadline: 0 }, { exempt: { auht: true } }, { exempt: { auth: 'yes' } }, { clientSetsDeadline: 1 }, { timeout: 5 }, null]) {
      expect(() => new RouteTable([{ method: 'POST', path: '/x', hooks: { policy } }])).toThrow(/The policy of POST \/x is invalid/)
    }
  })
})

describe('the stages, in order', () => {
  /** Stages that log their calls; `refuse` names one whose `before` throws (or rejects, `async`). */
  function logged(refuse?: { at: string; async?: boolean }) {
    const log: string[] = []
    const seen: Array<{ route: string; status: number; error: unknown }> = []
    const stage = (name: string): Stage => ({
      name,
      before(_state: RequestState) {
        log.push(`${name} before`)
        if (refuse?.at !== name) return undefined
        const err = new AppError('rate_limited', 'slow down', { retryAfter: 3 })
        if (refuse.async) return Promise.reject(err)
        throw err
      },
      after(state, response) {
        log.push(`${name} after`)
        seen.push({ route: state.route, status: response.status, error: state.error })
      },
    })
    const app = stackApp([stage('a'), stage('b'), stage('c')], (e) => e.get('/r/:id', () => { log.push('route'); return 'ok' }))
    return { app, log, seen }
  }

  test('`before` in stack order, then the route, then every `after` in reverse order', async () => {
    const { app, log, seen } = logged()
    const res = await app.handle(new Request('http://localhost/r/1'))
    expect(res.status).toBe(200)
    expect(log).toEqual(['a before', 'b before', 'c before', 'route', 'c after', 'b after', 'a after'])
    expect(seen.map((s) => s.route)).toEqual(['/r/:id', '/r/:id', '/r/:id'])
  })

  for (const async of [false, true]) {
    test(`a refusal (${async ? 'a rejected promise' : 'a throw'}) stops the later \`before\`s and the route, and every \`after\` still runs, seeing the refusal`, async () => {
      const { app, log, seen } = logged({ at: 'b', async })
      const res = await app.handle(new Request('http://localhost/r/1'))
      expect(res.status).toBe(429)
      expect(res.headers.get('retry-after')).toBe('3')
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('rate_limited')
      expect(log).toEqual(['a before', 'b before', 'c after', 'b after', 'a after'])
      expect(seen.every((s) => s.status === 429 && s.error instanceof AppError && s.error.code === 'rate_limited')).toBe(true)
    })
  }

  test('a request matching no route passes every stage as `unmatched` and every `after` sees its 404', async () => {
    const { app, log, seen } = logged()
    const res = await app.handle(new Request('http://localhost/nope'))
    expect(res.status).toBe(404)
    expect(log).toEqual(['a before', 'b before', 'c before', 'c after', 'b after', 'a after'])
    expect(seen.every((s) => s.route === UNMATCHED_ROUTE && s.status === 404)).toBe(true)
  })

  test('a known path under another method passes every stage under its template, then gets a 405 envelope with Allow, not the route', async () => {
    const { app, log, seen } = logged()
    const res = await app.handle(new Request('http://localhost/r/1', { method: 'DELETE' }))
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS')
    const body = (await res.json()) as { error: { code: string; message: string; requestId: string } }
    expect(body.error.code).toBe('method_not_allowed')
    expect(body.error.requestId).toBe(res.headers.get('x-request-id') as string)
    expect(log).toEqual(['a before', 'b before', 'c before', 'c after', 'b after', 'a after'])
    expect(seen.every((s) => s.route === '/r/:id' && s.status === 405)).toBe(true)
  })

  test('a refusal of a guard wins over the 405 (the guards judge it as they judge a 404)', async () => {
    const { app, log } = logged({ at: 'b' })
    const res = await app.handle(new Request('http://localhost/r/1', { method: 'PUT' }))
    expect(res.status).toBe(429)
    expect(log).toEqual(['a before', 'b before', 'c after', 'b after', 'a after'])
  })

  test('OPTIONS on a known path: 204 with Allow and no body, before any `before` (nothing runs), every `after` sees it', async () => {
    const { app, log, seen } = logged({ at: 'a' })
    const res = await app.handle(new Request('http://localhost/r/1/', { method: 'OPTIONS' }))
    expect(res.status).toBe(204)
    expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS')
    expect(await res.text()).toBe('')
    expect(log).toEqual(['c after', 'b after', 'a after'])
    expect(seen.every((s) => s.route === '/r/:id' && s.status === 204)).toBe(true)
    // An unknown path is a 404, through the guards (here refused by `a`, as any request).
    expect((await app.handle(new Request('http://localhost/nope', { method: 'OPTIONS' }))).status).toBe(429)
  })

  test('an OPTIONS that declares a body is not answered early: it passes every `before` (the declared-body limit must see it), then gets its 204', async () => {
    const { app, log } = logged()
    const res = await app.handle(new Request('http://localhost/r/1', { method: 'OPTIONS', body: 'x'.repeat(10), headers: { 'content-length': '10' } }))
    expect(res.status).toBe(204)
    expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS')
    expect(log).toEqual(['a before', 'b before', 'c before', 'c after', 'b after', 'a after'])
  })

  test('a request the front refuses itself (a repeated Host) runs no `before` and every `after`', async () => {
    const { app, log, seen } = logged()
    const res = await app.handle(new Request('http://localhost/r/1', { headers: { host: 'a, b' } }))
    expect(res.status).toBe(400)
    expect(log).toEqual(['c after', 'b after', 'a after'])
    expect(seen.every((s) => s.route === UNMATCHED_ROUTE && s.error instanceof AppError && s.error.code === 'invalid_host')).toBe(true)
  })
})

describe('HTTP method semantics on every route of the app (real server, raw sockets)', () => {
  let srv: RunningServer
  let routes: Array<{ method: string; path: string }> = []
  beforeAll(async () => {
    srv = await startServer(testConfig({
      port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'methods'), filesDir: join(tmp.dir, 'methods-files'), workers: 1, rateLimitRps: 0,
    }), { log: silentLogger() })
    routes = (await appRoutes()).routes.map(({ method, path }) => ({ method, path }))
  })
  afterAll(() => srv.shutdown())

  /** True when `template` (`:x` one segment, a final `*` the rest) matches `path`, as Elysia routes. */
  const fitsTemplate = (template: string, path: string): boolean =>
    new RegExp(`^${template.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+').replace(/\/\*$/, '(?:/.*)?')}/?$`).test(path)

  /** The methods `path` answers (HEAD with GET, OPTIONS), in the front's order, from the app's route list. */
  function allowOf(path: string): string {
    const own = new Set(routes.filter((r) => fitsTemplate(r.path, path)).map((r) => r.method))
    if (own.has('GET')) own.add('HEAD')
    own.add('OPTIONS')
    return ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].filter((m) => own.has(m)).join(', ')
  }

  test('every other method on every route path: 405 method_not_allowed envelope with the exact Allow; OPTIONS: 204 with it', async () => {
    expect(routes.length).toBeGreaterThan(20)
    const wrong: string[] = []
    for (const path of new Set(routes.map((r) => r.path))) {
      const target = concrete(path)
      const allow = allowOf(target)
      for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'PURGE', 'OPTIONS']) {
        if (allow.split(', ').includes(method) && method !== 'OPTIONS') continue
        const res = await send(srv.port, 'Host: 127.0.0.1:port', method, target)
        const want = method === 'OPTIONS' ? `204 ${allow} ` : `405 ${allow} ${method === 'HEAD' ? '' : 'method_not_allowed'}`
        const got = `${res.status} ${res.headers.allow} ${method === 'OPTIONS' || method === 'HEAD' ? res.body : codeOf(res)}`
        if (got !== want) wrong.push(`${method} ${target}: ${got}, want ${want}`)
      }
    }
    expect(wrong).toEqual([])
  }, 120_000)

  const LIVE_FIGURES = new Set(['/metrics', '/pool', '/status/json'])
  // (A 404 of /files/* answers HEAD with Content-Length: 0 where its GET sends an 82-byte
  // envelope: src/routes/files answers HEAD itself; only 2xx lengths are compared.)
  test('HEAD on every GET route: the GET\'s status (and length, for a 2xx), no body', async () => {
    const wrong: string[] = []
    for (const { path } of routes.filter((r) => r.method === 'GET' && !r.path.endsWith('/events'))) {
      const target = concrete(path)
      const get = await send(srv.port, 'Host: 127.0.0.1:port', 'GET', target)
      const head = await send(srv.port, 'Host: 127.0.0.1:port', 'HEAD', target)
      // Live figures change between the two requests (/metrics grows, /pool's utilization and
      // /status/json's counters move): their length is not compared.
      const sameLength = LIVE_FIGURES.has(path) || get.status >= 300 || head.headers['content-length'] === get.headers['content-length']
      if (head.status !== get.status || head.body !== '' || !sameLength) wrong.push(`${target}: GET ${get.status} ${get.headers['content-length']}, HEAD ${head.status} ${head.headers['content-length']} body ${head.body.length}`)
    }
    expect(wrong).toEqual([])
  }, 60_000)

  test('a 405 is not a breaker failure nor a route: a flood of them leaves the route serving', async () => {
    for (let i = 0; i < 50; i++) expect((await fetch(`${srv.url}healthz`, { method: 'DELETE' })).status).toBe(405)
    expect((await fetch(`${srv.url}healthz`)).status).toBe(200)
  })
})

describe('the Swagger page\'s headers (src/routes/docs)', () => {
  test('GET and HEAD /swagger (with or without a slash): a strict CSP with no inline script, X-Frame-Options: DENY; the page names only local assets', async () => {
    const t = await testDeps({ workers: 1 })
    try {
      const front = createFront(createRoutes(t.deps), [], { serverName: 'test', log: silentLogger(), trustProxy: false })
      for (const [method, path] of [['GET', '/swagger'], ['GET', '/swagger/'], ['HEAD', '/swagger']] as const) {
        const res = await front.handle(new Request(`http://localhost${path}`, { method }))
        expect(res.status).toBe(200)
        const csp = res.headers.get('content-security-policy') ?? ''
        expect(csp).toContain("default-src 'none'")
        expect(csp).toContain("script-src 'self';")
        expect(csp).toContain("frame-ancestors 'none'")
        expect(csp).not.toContain('unsafe-inline')
        expect(res.headers.get('x-frame-options')).toBe('DENY')
      }
      const page = await (await front.handle(new Request('http://localhost/swagger'))).text()
      // Every script is a file (the CSP would block an inline one), and every URL is local.
      expect(page.match(/<script>/g)).toBeNull()
      expect(page.match(/<style/g)).toBeNull()
      for (const url of page.match(/(?:src|href)="[^"]+"/g) ?? []) expect(url).toMatch(/^(?:src|href)="\/swagger\/assets\//)
      for (const asset of ['init.js', 'page.css']) expect((await front.handle(new Request(`http://localhost/swagger/assets/${asset}`))).status).toBe(200)
    } finally {
      await t.close()
    }
  })
})
