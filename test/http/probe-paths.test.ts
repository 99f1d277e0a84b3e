import { describe, expect, test } from 'bun:test'
import { DOCS_ROUTES, isDocsRoute, isProbeRoute, PROBE_ROUTES } from '../../src/http/probe-paths.ts'
import { openapiDocs } from '../../src/routes/docs/index.ts'
import { UNMATCHED_ROUTE } from '../../src/http/front/index.ts'

describe('exempt routes', () => {
  test('probes and the scrape are exempt by their route template', () => {
    for (const r of ['/healthz', '/readyz', '/metrics']) expect(isProbeRoute(r)).toBe(true)
    expect([...PROBE_ROUTES].sort()).toEqual(['/healthz', '/metrics', '/readyz'])
  })

  test('nothing else is: look-alikes, raw paths with a slash, sub-paths, the root and unmatched requests', () => {
    for (const r of ['/', '', '/healthzz', '/healthz/', '/healthz/x', '/metricsx', '/users', '/swagger', UNMATCHED_ROUTE]) expect(isProbeRoute(r)).toBe(false)
  })

  test('the docs routes are exactly the ones the docs plugin registers, all GET', () => {
    const registered = openapiDocs().routes
    expect(registered.map((r) => r.method).every((m) => m === 'GET')).toBe(true)
    expect(registered.map((r) => r.path).sort()).toEqual([...DOCS_ROUTES].sort())
    for (const r of DOCS_ROUTES) expect(isDocsRoute(r)).toBe(true)
  })

  test('a path under /swagger/ that is no docs route is not exempt', () => {
    for (const r of ['/swagger/', '/swagger/users', '/swagger/json/x', '/swaggerish', '/swagger/assets/x.js', UNMATCHED_ROUTE]) expect(isDocsRoute(r)).toBe(false)
  })
})
