/**
 * src/http/error-response.ts, the one error renderer: every envelope takes its status from the
 * registry (src/errors.ts), whoever renders it; Elysia's own errors map to stable codes; nothing
 * but an AppError's own message leaves the server, and only 5xx are logged.
 */
import { describe, expect, test } from 'bun:test'
import { Elysia, t } from 'elysia'
import { AppError, ERRORS, type ErrorCode } from '../../src/errors.ts'
import { errorJson, errorResponse, FAILED_LOG_EVERY_MS, renderError } from '../../src/http/error-response.ts'
import { createLogger } from '../../src/log.ts'

type Envelope = { error: { code: string; message: string; requestId: string; details?: unknown } }

/** A logger that keeps its lines, and the levels they were written at. */
function capture() {
  const lines: Array<{ level: number; msg: string; err?: unknown }> = []
  const log = createLogger({ logLevel: 'trace' }, { write: (s: string) => { lines.push(JSON.parse(s)) } })
  return { log, lines }
}

describe('errorJson', () => {
  test('every code of the registry answers with its registry status, the envelope and JSON', async () => {
    for (const code of Object.keys(ERRORS) as ErrorCode[]) {
      const res = errorJson(code, `about ${code}`, 'rid-1')
      expect(`${code} ${res.status}`).toBe(`${code} ${ERRORS[code].status}`)
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
      expect(await res.json()).toEqual({ error: { code, message: `about ${code}`, requestId: 'rid-1' } })
    }
  })

  test('details are sent when given, and only then', async () => {
    expect(((await errorJson('overloaded', 'x', 'r', [{ path: '/checks/pool', message: 'fails' }]).json()) as Envelope).error.details).toEqual([{ path: '/checks/pool', message: 'fails' }])
    expect('details' in ((await errorJson('overloaded', 'x', 'r').json()) as Envelope).error).toBe(false)
  })
})

describe('errorResponse', () => {
  test('an AppError: its status, Retry-After rounded up to whole seconds (at least 1), its own headers', async () => {
    const { log } = capture()
    const limited = errorResponse(new AppError('rate_limited', 'slow down', { retryAfter: 2.2 }), 'rid', log)
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('3')
    expect(errorResponse(new AppError('queue_full', 'full', { retryAfter: 0 }), 'rid', log).headers.get('retry-after')).toBe('1')
    const auth = errorResponse(new AppError('unauthorized', 'no', { headers: { 'www-authenticate': 'Bearer realm="x"' } }), 'rid', log)
    expect(auth.headers.get('www-authenticate')).toBe('Bearer realm="x"')
    expect(((await auth.json()) as Envelope).error).toEqual({ code: 'unauthorized', message: 'no', requestId: 'rid' })
  })

  test('a 5xx is logged at warn with its code and cause; a 4xx is not; without a log nothing is', () => {
    const { log, lines } = capture()
    errorResponse(new AppError('not_found', 'gone'), 'rid', log)
    expect(lines).toEqual([])
    errorResponse(new AppError('storage_busy', 'busy', { cause: new Error('SQLITE_BUSY') }), 'rid', log)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 40, msg: 'request failed', code: 'storage_busy', cause: 'SQLITE_BUSY', requestId: 'rid' })
    expect(errorResponse(new AppError('storage_busy', 'busy'), 'rid').status).toBe(503)
    expect(lines).toHaveLength(1)
  })

  test('an outage of 503s writes one line per code and second, then says how many it left out', () => {
    const { log, lines } = capture()
    for (let i = 0; i < 500; i++) expect(errorResponse(new AppError('jobs_unavailable', 'away'), `r${i}`, log).status).toBe(503)
    errorResponse(new AppError('storage_busy', 'busy'), 'other', log)
    expect(lines.map((l) => { const r = l as { code?: string; requestId?: string }; return `${r.code} ${r.requestId}` })).toEqual(['jobs_unavailable r0', 'storage_busy other'])
    const realNow = Date.now
    Date.now = () => realNow() + FAILED_LOG_EVERY_MS + 1
    try {
      errorResponse(new AppError('jobs_unavailable', 'away'), 'later', log)
    } finally {
      Date.now = realNow
    }
    expect(lines.at(-1)).toMatchObject({ code: 'jobs_unavailable', requestId: 'later', repeatsSinceLast: 499 })
  })
})

describe('renderError (what Elysia and the stages throw)', () => {
  const request = new Request('http://localhost/users/x', { method: 'PUT' })
  const render = async (error: unknown, code: unknown) => {
    const { log, lines } = capture()
    const res = renderError(error, code, request, '/users/x', 'rid', log)
    return { status: res.status, body: ((await res.json()) as Envelope).error, lines }
  }

  test('Elysia\'s errors get stable codes with the registry\'s statuses', async () => {
    expect(await render(new Error('x'), 'NOT_FOUND')).toMatchObject({ status: 404, body: { code: 'route_not_found', message: 'No route for PUT /users/x' } })
    expect(await render(new Error('x'), 'PARSE')).toMatchObject({ status: 400, body: { code: 'invalid_json' } })
    expect(await render(new Error('x'), 'INVALID_COOKIE_SIGNATURE')).toMatchObject({ status: 400, body: { code: 'bad_request' } })
    expect(await render(Object.assign(new Error('big'), { status: 413 }), 'UNKNOWN')).toMatchObject({ status: 413, body: { code: 'payload_too_large' } })
    // A framework's own 4xx keeps its status under the generic client-error code.
    expect(await render(Object.assign(new Error('x'), { status: 405 }), 'UNKNOWN')).toMatchObject({ status: 405, body: { code: 'bad_request' } })
  })

  test('a parser\'s own AppError wrapped in a ParseError is answered as itself', async () => {
    const wrapped = new Error('parse', { cause: new AppError('too_deep', 'nested too deeply') })
    expect(await render(wrapped, 'PARSE')).toMatchObject({ status: 422, body: { code: 'too_deep', message: 'nested too deeply' } })
  })

  test('a validation error is a 422 naming the failing field, never echoing its value', async () => {
    const app = new Elysia().onError(({ error, code, request, path }) => renderError(error, code, request, path, 'rid', capture().log))
      .get('/v', () => 'ok', { query: t.Object({ limit: t.Numeric({ maximum: 10 }) }) })
    const res = await app.handle(new Request('http://localhost/v?limit=secret-value-999'))
    expect(res.status).toBe(422)
    const body = ((await res.json()) as Envelope).error
    expect(body.code).toBe('validation_failed')
    expect(JSON.stringify(body.details)).toContain('/limit')
    expect(JSON.stringify(body)).not.toContain('secret-value-999')
  })

  test('an answer that fails its own response schema is the server\'s fault: a logged 500, the stored value never echoed', async () => {
    const { log, lines } = capture()
    // A row written by hand (or by an older version): its createdAt is not a date-time.
    const app = new Elysia().onError(({ error, code, request, path }) => renderError(error, code, request, path, 'rid', log))
      .get('/r', () => ({ createdAt: 'stored-garbage-77' }), { response: { 200: t.Object({ createdAt: t.String({ format: 'date-time' }) }) } })
    const res = await app.handle(new Request('http://localhost/r'))
    expect(res.status).toBe(500)
    const body = ((await res.json()) as Envelope).error
    expect(body).toEqual({ code: 'internal', message: 'Internal server error', requestId: 'rid' })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 50, msg: 'a response failed its declared schema', requestId: 'rid' })
    expect(JSON.stringify(lines[0])).toContain('/createdAt')
  })

  test('anything else is a bare 500 internal, its message and stack logged and never sent', async () => {
    const out = await render(new TypeError('secret detail at line 42'), 'UNKNOWN')
    expect(out.status).toBe(500)
    expect(out.body).toEqual({ code: 'internal', message: 'Internal server error', requestId: 'rid' })
    expect(out.lines).toHaveLength(1)
    expect(out.lines[0]).toMatchObject({ level: 50, msg: 'unhandled error', requestId: 'rid' })
    expect(JSON.stringify(out.lines[0])).toContain('secret detail at line 42')
  })
})
