/**
 * The policy every route declares (src/routes/policy.ts, through the `policy` route option), as
 * the front's route table reads it from the app: which routes the guards leave alone, and each
 * route's deadline. The table in docs/resilience.md is this test's `EXPECTED`.
 */
import { beforeAll, describe, expect, test } from 'bun:test'
import { openapiDocs } from '../../src/routes/docs/index.ts'
import type { RouteTable } from '../../src/http/front/router.ts'
import { UNMATCHED_ROUTE, type RoutePolicy } from '../../src/http/route-policy.ts'
import { DASHBOARD, DOCS, HOT_READ, LLM, PROBE, SCRAPE, STATUS, STREAM, TASK } from '../../src/routes/policy.ts'
import { appRoutes } from '../support/front.ts'

let table: RouteTable
let listed: Array<{ method: string; path: string }>
beforeAll(async () => {
  ;({ table, routes: listed } = await appRoutes())
})

/** The policy highperf's route `method template` declares, when `template` is a route template. */
const policyOf = (method: string, template: string): RoutePolicy | undefined => {
  const match = table.match(method, template)
  return match.template === template ? match.policy : undefined
}
const exemptFromAll = (p: RoutePolicy | undefined) => p !== undefined && p.exempt.shed && p.exempt.rateLimit && p.exempt.auth && p.exempt.breaker
/** True for the route templates of the probes and the scrape: every guard leaves them alone. */
const isProbeRoute = (template: string) => exemptFromAll(policyOf('GET', template))
/** True for the route templates of the API docs: no token, no breaker, still shed and rate limited. */
const isDocsRoute = (template: string) => {
  const p = policyOf('GET', template)
  return p !== undefined && p.exempt.auth && p.exempt.breaker && !p.exempt.shed && !p.exempt.rateLimit
}
const routesWhere = (pick: (template: string) => boolean) => listed.filter((r) => r.method === 'GET' && pick(r.path)).map((r) => r.path)

describe('exempt routes', () => {
  test('probes and the scrape are exempt by their route template', () => {
    for (const r of ['/healthz', '/readyz', '/metrics']) expect(isProbeRoute(r)).toBe(true)
    expect(routesWhere(isProbeRoute).sort()).toEqual(['/healthz', '/metrics', '/readyz'])
  })

  test('nothing else is: look-alikes, raw paths with a slash, sub-paths, the root and unmatched requests', () => {
    for (const r of ['/', '', '/healthzz', '/healthz/', '/healthz/x', '/metricsx', '/users', '/swagger', UNMATCHED_ROUTE]) expect(isProbeRoute(r)).toBe(false)
  })

  test('the docs routes are exactly the ones the docs plugin registers, all GET', () => {
    const registered = openapiDocs().routes
    expect(registered.map((r) => r.method).every((m) => m === 'GET')).toBe(true)
    expect(registered.map((r) => r.path).sort()).toEqual(routesWhere(isDocsRoute).sort())
    for (const r of registered) expect(isDocsRoute(r.path)).toBe(true)
  })

  test('a path under /swagger/ that is no docs route is not exempt', () => {
    for (const r of ['/swagger/', '/swagger/users', '/swagger/json/x', '/swaggerish', '/swagger/assets/x.js', UNMATCHED_ROUTE]) expect(isDocsRoute(r)).toBe(false)
  })
})

describe('every route declares its policy', () => {
  /** method and template → the preset it declares; every route not listed declares none. */
  const EXPECTED: Record<string, RoutePolicy> = {
    'GET /healthz': PROBE,
    'GET /readyz': PROBE,
    'GET /metrics': SCRAPE,
    'GET /swagger': DOCS,
    'GET /swagger/json': DOCS,
    'GET /swagger/assets/swagger-ui-bundle.js': DOCS,
    'GET /swagger/assets/swagger-ui.css': DOCS,
    'GET /swagger/assets/init.js': DOCS,
    'GET /swagger/assets/page.css': DOCS,
    'GET /users/:id': HOT_READ,
    'GET /api/cars': HOT_READ,
    'GET /api/cars/:id': HOT_READ,
    'GET /tasks': TASK,
    'POST /tasks/:name': TASK,
    'POST /batch': TASK,
    'POST /messages': LLM,
    'POST /messages/batch': LLM,
    'GET /messages': LLM,
    'GET /messages/:id': LLM,
    'GET /files/*': STREAM,
    'GET /jobs/:id/events': STREAM,
    'GET /status': STATUS,
    'GET /status/json': STATUS,
    'GET /status/assets/status.js': STATUS,
    'GET /status/assets/status.css': STATUS,
    'GET /admin/queues': DASHBOARD,
    'GET /admin/queues/*': DASHBOARD,
    'PUT /admin/queues/*': DASHBOARD,
    'POST /admin/queues/*': DASHBOARD,
    'DELETE /admin/queues/*': DASHBOARD,
    'PATCH /admin/queues/*': DASHBOARD,
    'PUT /admin/queues': DASHBOARD,
    'POST /admin/queues': DASHBOARD,
    'DELETE /admin/queues': DASHBOARD,
    'PATCH /admin/queues': DASHBOARD,
  }
  const DEFAULT = { deadline: 'request', clientSetsDeadline: false, exempt: { shed: false, rateLimit: false, auth: false, breaker: false } }

  test('each route of the app has exactly the policy of the table (and the default otherwise)', () => {
    expect(listed.length).toBeGreaterThan(20)
    const wrong: string[] = []
    for (const { method, path } of listed) {
      const want = EXPECTED[`${method} ${path}`] ?? DEFAULT
      const got = policyOf(method, path)
      if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${method} ${path}: ${JSON.stringify(got)}`)
    }
    expect(wrong).toEqual([])
    // Every entry of the table is a route of the app: a renamed route cannot leave a stale row.
    const keys = new Set(listed.map((r) => `${r.method} ${r.path}`))
    expect(Object.keys(EXPECTED).filter((k) => !keys.has(k))).toEqual([])
  })

  test('HEAD gets the policy of GET; a request matching no route gets every guard but the breaker', () => {
    expect(table.match('HEAD', '/healthz').policy).toBe(table.match('GET', '/healthz').policy)
    expect(table.match('HEAD', '/users/7').policy.deadline).toBe('hot-read')
    const unmatched = table.match('GET', '/nope')
    expect(unmatched.template).toBe(UNMATCHED_ROUTE)
    expect(unmatched.policy).toEqual({ deadline: 'request', clientSetsDeadline: false, exempt: { shed: false, rateLimit: false, auth: false, breaker: true } })
  })
})
