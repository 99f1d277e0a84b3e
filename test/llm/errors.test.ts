import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { failureOf, finalError, isUpstreamFault, retryAfterOf, scrub, UpstreamFailure } from '../../src/llm/errors.ts'

const KEY = 'sk-live-abcdef'

describe('retryAfterOf', () => {
  test('reads seconds, an HTTP date and OpenAI\'s retry-after-ms (which wins)', () => {
    expect(retryAfterOf(new Headers({ 'retry-after': '3' }))).toBe(3000)
    const now = Date.parse('2026-11-22T05:00:00Z')
    expect(retryAfterOf(new Headers({ 'retry-after': 'Sun, 22 Nov 2026 05:00:10 GMT' }), now)).toBe(10_000)
    expect(retryAfterOf(new Headers({ 'retry-after': '3', 'retry-after-ms': '250' }))).toBe(250)
    expect(retryAfterOf(new Headers({ 'retry-after': 'soon' }))).toBeUndefined()
    expect(retryAfterOf(new Headers())).toBeUndefined()
  })
})

describe('failureOf', () => {
  test('429 and 5xx are retryable failures carrying Retry-After', async () => {
    const f = await failureOf(new Response('', { status: 429, headers: { 'retry-after': '2' } }), KEY)
    expect(f).toBeInstanceOf(UpstreamFailure)
    expect(f as UpstreamFailure).toMatchObject({ status: 429, retryable: true, retryAfterMs: 2000 })
    expect(await failureOf(new Response('', { status: 503 }), KEY)).toMatchObject({ status: 503, retryable: true })
  })

  test('401 and 403 say the key was refused without quoting anything the upstream said', async () => {
    for (const status of [401, 403]) {
      const e = await failureOf(Response.json({ error: { message: `Incorrect API key provided: ${KEY}` } }, { status }), KEY)
      expect(e).toBeInstanceOf(AppError)
      expect((e as AppError).code).toBe('upstream_unauthorized')
      expect(e.message).not.toContain(KEY)
      expect(e.message).not.toContain('Incorrect')
    }
  })

  test('other 4xx pass on the upstream message with the key scrubbed and the length capped', async () => {
    const e = await failureOf(Response.json({ error: { message: `model not found for ${KEY} ${'x'.repeat(1000)}` } }, { status: 404 }), KEY)
    expect((e as AppError).code).toBe('upstream_error')
    expect(e.message).toContain('model not found for [redacted]')
    expect(e.message).not.toContain(KEY)
    expect(e.message.length).toBeLessThan(400)
    expect((await failureOf(new Response('<html>', { status: 400 }), KEY)).message).toBe('The LLM upstream rejected the request (HTTP 400)')
    expect((await failureOf(Response.json({ error: 'bad model' }, { status: 400 }), KEY)).message).toContain('bad model')
  })
})

describe('finalError and isUpstreamFault', () => {
  test('network errors become upstream_unreachable, cut-off answers and HTTP errors upstream_error', () => {
    expect(finalError(new UpstreamFailure('no route', 0, true), 3)).toMatchObject({ code: 'upstream_unreachable', message: 'no route (after 3 attempts)' })
    expect(finalError(new UpstreamFailure('cut', 0, true, undefined, undefined, true), 1)).toMatchObject({ code: 'upstream_error', message: 'cut' })
    expect(finalError(new UpstreamFailure('HTTP 429', 429, true, 1500), 2)).toMatchObject({ code: 'upstream_error', retryAfter: 2 })
  })

  test('only upstream health problems count for the breaker', () => {
    expect(isUpstreamFault(new UpstreamFailure('x', 500, true))).toBe(true)
    expect(isUpstreamFault(new AppError('upstream_timeout'))).toBe(true)
    expect(isUpstreamFault(new AppError('upstream_bad_response'))).toBe(true)
    expect(isUpstreamFault(new AppError('upstream_unauthorized'))).toBe(false)
    expect(isUpstreamFault(new AppError('upstream_error'))).toBe(false)
    expect(isUpstreamFault(new AppError('client_closed'))).toBe(false)
  })

  test('scrub removes every occurrence of the secret, and nothing without one', () => {
    expect(scrub(`${KEY} and ${KEY}`, KEY)).toBe('[redacted] and [redacted]')
    expect(scrub('text', '')).toBe('text')
  })
})
