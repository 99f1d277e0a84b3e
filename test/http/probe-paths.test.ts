import { describe, expect, test } from 'bun:test'
import { isDocsPath, isProbePath } from '../../src/http/probe-paths.ts'

describe('probe paths', () => {
  test('probes and the scrape are exempt, with or without a trailing slash', () => {
    for (const p of ['/healthz', '/readyz', '/metrics', '/healthz/', '/readyz/', '/metrics/']) expect(isProbePath(p)).toBe(true)
  })

  test('nothing else is: look-alikes, sub-paths and the root', () => {
    for (const p of ['/', '', '/healthzz', '/healthz//', '/healthz/x', '/metricsx', '/users', '/swagger']) expect(isProbePath(p)).toBe(false)
  })

  test('the API docs are their own set', () => {
    expect(isDocsPath('/swagger')).toBe(true)
    expect(isDocsPath('/swagger/json')).toBe(true)
    expect(isDocsPath('/swaggerish')).toBe(false)
  })
})
