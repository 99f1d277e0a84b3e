/**
 * src/http/json-body: every JSON body route parses through one bounded parser and is validated by
 * highperf, with at most 20 details that never echo the client's values; Elysia's own body
 * validation (whose error pretty-prints the whole value) never runs.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Elysia, t } from 'elysia'
import { createApp, createRoutes } from '../../src/app.ts'
import { isJsonBodySchema, jsonBody } from '../../src/http/json-body/index.ts'
import { recovery } from '../../src/http/recovery/index.ts'
import { LONG_STRING, MAX_DETAILS, schemaErrors, type ValueErrorLike } from '../../src/http/recovery/details.ts'
import { silentLogger } from '../../src/log.ts'
import { MAX_JSON_DEPTH } from '../../src/json/depth.ts'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ValueErrorType } from '@sinclair/typebox/errors'
import { testDeps, type TestDeps } from '../support/deps.ts'

type Envelope = { error: { code: string; message: string; requestId: string; details?: unknown } }

let t0: TestDeps
let app: ReturnType<typeof createApp>

beforeAll(async () => {
  // MAX_BODY_SIZE=1mb (four times the default): the bounds must hold at a raised limit too.
  t0 = await testDeps({ rateLimitRps: 0, maxBodySize: 1024 * 1024 })
  app = createApp(t0.deps)
})
afterAll(() => t0.close())

const post = (path: string, body: string, type: string | null = 'application/json') =>
  app.handle(new Request(`http://localhost${path}`, { method: 'POST', body, ...(type === null ? {} : { headers: { 'content-type': type } }) }))

describe('one parser for every JSON body', () => {
  test('every route that declares a body hands it to jsonBody, so Elysia never validates one itself', () => {
    const routes = createRoutes(t0.deps).routes as unknown as Array<{ method: string; path: string; hooks: { body?: unknown } }>
    const withBody = routes.filter((r) => r.hooks.body !== undefined)
    expect(withBody.map((r) => `${r.method} ${r.path}`).sort()).toEqual(['PATCH /users/:id', 'POST /batch', 'POST /jobs', 'POST /messages', 'POST /messages/batch', 'POST /users'])
    for (const r of withBody) expect({ route: `${r.method} ${r.path}`, ours: isJsonBodySchema(r.hooks.body) }).toEqual({ route: `${r.method} ${r.path}`, ours: true })
  })

  test('Elysia skips its own check of a jsonBody schema (a body the parser let through reaches the handler)', async () => {
    const S = t.Object({ a: t.String() })
    // The parser is swapped for one returning an invalid body: were Elysia validating, this would be its 422.
    const probe = new Elysia().use(recovery(silentLogger())).post('/x', ({ body }) => ({ got: body }), { ...jsonBody(S), parse: [() => Promise.resolve({ a: 5 }), 'json'] })
    const res = await probe.handle(new Request('http://localhost/x', { method: 'POST', body: '{}' }))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ got: { a: 5 } })
    // The schema handed over is a copy: the shared one is untouched.
    expect(isJsonBodySchema(S)).toBe(false)
  })

  test('the OpenAPI document lists application/json only and carries no noValidate flag', async () => {
    const text = await (await app.handle(new Request('http://localhost/swagger/json'))).text()
    expect(text).not.toContain('noValidate')
    const doc = JSON.parse(text) as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>> }
    for (const [path, method] of [['/batch', 'post'], ['/jobs', 'post'], ['/messages', 'post'], ['/messages/batch', 'post'], ['/users', 'post']] as const) {
      expect({ path, types: Object.keys(doc.paths[path]?.[method]?.requestBody?.content ?? {}) }).toEqual({ path, types: ['application/json'] })
    }
  })

  test(`a body nested deeper than ${MAX_JSON_DEPTH} levels is 422 too_deep on every JSON route; ${MAX_JSON_DEPTH} levels pass the parser`, async () => {
    const over = '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1)
    for (const path of ['/batch', '/jobs', '/messages', '/messages/batch', '/users']) {
      const res = await post(path, over)
      expect({ path, status: res.status }).toEqual({ path, status: 422 })
      const err = ((await res.json()) as Envelope).error
      expect(err.code).toBe('too_deep')
      expect(err.message).toContain(`deeper than ${MAX_JSON_DEPTH} levels`)
    }
    // Exactly the limit, envelope included: a batch item's input may use the 61 levels left.
    const input = '['.repeat(MAX_JSON_DEPTH - 3) + ']'.repeat(MAX_JSON_DEPTH - 3)
    const ok = await post('/batch', `{"items":[{"task":"echo","input":${input}}]}`)
    expect(ok.status).toBe(200)
    const one = await post('/batch', `{"items":[{"task":"echo","input":[${input}]}]}`)
    expect(((await one.json()) as Envelope).error.code).toBe('too_deep')
  })

  test('a body that is not JSON is 400 invalid_json; JSON sent with a form or text type is parsed as JSON (curl -d)', async () => {
    for (const body of ['', '{', '{"items":[}', '\u0000']) {
      const res = await post('/batch', body)
      expect({ body, status: res.status }).toEqual({ body, status: 400 })
      expect(((await res.json()) as Envelope).error.code).toBe('invalid_json')
    }
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', null]) {
      const res = await post('/batch', '{"items":[{"task":"echo","input":1}]}', type)
      expect({ type, status: res.status }).toEqual({ type, status: 200 })
    }
  })
})

describe('bounded validation errors', () => {
  test(`100 000 wrong items give ${MAX_DETAILS} details, none of which echoes a value`, async () => {
    const secret = 'sentinel-value-7f3a'
    const body = JSON.stringify({ inputs: [[secret], ...Array.from({ length: 100_000 }, () => 1)] })
    const res = await post('/messages/batch', body)
    expect(res.status).toBe(422)
    const text = await res.text()
    expect(text).not.toContain(secret)
    const err = (JSON.parse(text) as Envelope).error
    expect(err.code).toBe('validation_failed')
    expect(err.message).toBe('body /inputs/0: Expected string')
    expect(err.details).toHaveLength(MAX_DETAILS)
    expect((err.details as Array<{ path: string }>)[19]?.path).toBe('/inputs/19')
  })

  test('a wrong value where a string belongs is named by path, not echoed (Elysia printed "but found: <value>")', async () => {
    const res = await post('/users', JSON.stringify({ name: ['x'.repeat(1000), [[['deep-secret']]]], email: 'a@example.com' }))
    expect(res.status).toBe(422)
    const text = await res.text()
    expect(text).not.toContain('deep-secret')
    expect(text).not.toContain('xxxxxxxx')
    expect((JSON.parse(text) as Envelope).error.message).toBe('body /name: Expected string')
  })

  test('unknown properties of a closed schema are 422 (they used to be dropped silently before the check)', async () => {
    const res = await post('/jobs', JSON.stringify({ task: 'echo', input: 1, prioriti: 5 }))
    expect(res.status).toBe(422)
    expect(((await res.json()) as Envelope).error.details).toEqual([{ path: '/prioriti', message: 'Unexpected property' }])
  })

  test('query errors reported by Elysia are bounded and do not echo values either', async () => {
    const value = 'q'.repeat(5000)
    const res = await app.handle(new Request(`http://localhost/jobs?limit=${value}&limit=${value}`))
    expect(res.status).toBe(422)
    const text = await res.text()
    expect(text).not.toContain('qqqqqqqq')
    expect(((JSON.parse(text) as Envelope).error.details as unknown[]).length).toBeLessThanOrEqual(MAX_DETAILS)
  })

  test('the list ends at an over-long string, before TypeBox regex-tests it (a crafted 800 KB email cost 288 ms)', async () => {
    const long = 'a'.repeat(LONG_STRING + 1)
    function* errors(): Generator<ValueErrorLike> {
      yield { path: '/a', message: 'Expected string length less or equal to 10', type: ValueErrorType.StringMaxLength, value: 'x'.repeat(20) }
      yield { path: '/b', message: 'Expected string length less or equal to 254', type: ValueErrorType.StringMaxLength, value: long }
      throw new Error('the iterator was asked for more: the format regex would now run over the long string')
    }
    expect(schemaErrors(errors())).toEqual([
      { path: '/a', message: 'Expected string length less or equal to 10' },
      { path: '/b', message: 'Expected string length less or equal to 254' },
    ])
    const res = await post('/users', JSON.stringify({ name: 'a', email: `a@a${'.a'.repeat(400_000)}!` }))
    expect(res.status).toBe(422)
    expect(((await res.json()) as Envelope).error.details).toEqual([{ path: '/email', message: 'Expected string length less or equal to 254' }])
    // A short wrong email still gets its format named.
    const short = await post('/users', JSON.stringify({ name: 'a', email: 'nope' }))
    expect(((await short.json()) as Envelope).error.details).toEqual([{ path: '/email', message: "Expected string to match 'email' format" }])
  })

  test('a union names what its variants expected (Elysia\'s t.Integer is numeric-string or integer)', () => {
    const check = TypeCompiler.Compile(t.Object({ n: t.Integer() }))
    expect(schemaErrors(check.Errors({ n: 1.5 }))).toEqual([{ path: '/n', message: 'Expected string or integer' }])
    expect(schemaErrors(check.Errors({ n: 1.5 }), 0)).toEqual([])
  })
})

describe('readable errors over real HTTP', () => {
  let server: ReturnType<typeof Bun.serve>
  let base: string
  beforeAll(() => {
    server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: app.fetch })
    base = `http://127.0.0.1:${server.port}`
  })
  afterAll(() => server?.stop(true))

  const send = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Envelope }> => {
    const res = await fetch(`${base}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) })
    return { status: res.status, body: (await res.json()) as Envelope }
  }

  test('an enum names its allowed values once, in a sentence', async () => {
    const { status, body } = await send('GET', '/jobs?state=bogus')
    expect(status).toBe(422)
    expect(body.error.message).toBe('query: state must be one of queued, running, succeeded, failed, canceled')
    expect(body.error.details).toEqual([{ path: '/state', message: 'state must be one of queued, running, succeeded, failed, canceled' }])
    expect(JSON.stringify(body)).not.toContain("'string'")
  })

  test('a digit pattern is worded, not shown as its regex', async () => {
    const cases: Array<[string, string, string]> = [
      ['/users?limit=abc', '/limit', 'limit must be an integer from 1 to 100'],
      ['/jobs?limit=0', '/limit', 'limit must be an integer from 1 to 1000'],
      ['/users/abc', '/id', 'id must be a positive integer'],
    ]
    for (const [url, path, message] of cases) {
      const { status, body } = await send('GET', url)
      expect({ url, status, details: body.error.details }).toEqual({ url, status: 422, details: [{ path, message }] })
      expect(body.error.message).not.toContain('^')
    }
  })

  test('every JSON body route refuses an unknown field with 422 naming it (a typo is never dropped silently)', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['/users', { name: 'Ada', email: 'ada@example.com', emial: 'x' }, '/emial'],
      ['/jobs', { task: 'hash', input: { text: 'a' }, prioity: 5 }, '/prioity'],
      ['/messages', { input: 'hi', temprature: 0.2 }, '/temprature'],
      ['/messages/batch', { inputs: ['hi'], sytem: 'x' }, '/sytem'],
      ['/batch', { items: [{ task: 'hash', input: { text: 'a' }, extra: true }] }, '/items/0/extra'],
    ]
    for (const [path, payload, field] of cases) {
      const { status, body } = await send('POST', path, payload)
      expect({ path, status, code: body.error.code }).toEqual({ path, status: 422, code: 'validation_failed' })
      expect(body.error.details).toContainEqual({ path: field, message: 'Unexpected property' })
    }
    // The same bodies without the stray field pass validation (users: created).
    expect((await send('POST', '/users', { name: 'Ada', email: 'ada@example.com' })).status).toBe(201)
  })

  test('unknown query parameters are ignored (cache busters, tracking tags)', async () => {
    const res = await fetch(`${base}/users?limit=5&_=1700000000&utm_source=x`)
    expect(res.status).toBe(200)
  })

  test('OpenAPI says the same: every object of every JSON request body has additionalProperties false', async () => {
    const doc = (await (await fetch(`${base}/swagger/json`)).json()) as { paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: unknown }> } }>> }
    const open: string[] = []
    const walk = (node: unknown, at: string): void => {
      if (node === null || typeof node !== 'object') return
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}/${i}`))
      const n = node as Record<string, unknown>
      if (n.type === 'object' && n.properties !== undefined && n.additionalProperties !== false) open.push(at)
      for (const [k, v] of Object.entries(n)) if (k !== 'examples' && k !== 'example' && k !== 'default') walk(v, `${at}/${k}`)
    }
    let bodies = 0
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const schema = op.requestBody?.content?.['application/json']?.schema
        if (schema === undefined) continue
        bodies++
        walk(schema, `${method} ${path}`)
      }
    }
    expect(bodies).toBeGreaterThanOrEqual(5)
    expect(open).toEqual([])
  })

  test('details are always an array of {path, message}', async () => {
    const answers = [
      await send('GET', '/jobs?state=bogus'),
      await send('GET', '/users?limit=0'),
      await send('POST', '/users', { name: 7 }),
      await send('POST', '/jobs', { task: 'hash', pipeline: [{ task: 'hash' }] }),
      await send('POST', '/jobs', { pipeline: [{ task: 'no-such-task' }] }),
      { status: 0, body: (await (await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1) })).json()) as Envelope },
    ]
    for (const { body } of answers) {
      expect(Array.isArray(body.error.details)).toBe(true)
      for (const d of body.error.details as unknown[]) expect(Object.keys(d as object).sort()).toEqual(['message', 'path'])
    }
  })
})

describe('enum messages', () => {
  test('a nested enum of more than four values is named by its path, every value once', () => {
    const check = TypeCompiler.Compile(t.Object({ items: t.Array(t.Object({ kind: t.Union(['a', 'b', 'c', 'd', 'e', 'f'].map((v) => t.Literal(v))) })) }))
    expect(schemaErrors(check.Errors({ items: [{ kind: 'z' }] }) as Iterable<ValueErrorLike>)).toEqual([{ path: '/items/0/kind', message: 'items/0/kind must be one of a, b, c, d, e, f' }])
  })
})
