/**
 * A NUL character (`\u0000`: valid JSON, refused by PostgreSQL's `text`) in a field a database
 * stores is a 422 naming the field, the same on bun:sqlite and on PostgreSQL (`DATABASE_URL`),
 * and before any work: the LLM is not called for a message that could not be stored. It was a
 * 500 on PostgreSQL (SQLSTATE 22021), after the upstream had already answered.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApp } from '../../src/app.ts'
import { testDeps, type TestDeps } from '../support/deps.ts'
import { tempDatabase } from '../support/postgres.ts'
import { startFakeLlm } from '../support/fake-llm.ts'

const fake = startFakeLlm()
const backends: Array<{ name: string; t?: TestDeps; app?: ReturnType<typeof createApp> }> = [{ name: 'bun:sqlite' }, { name: 'PostgreSQL' }]
let db: Awaited<ReturnType<typeof tempDatabase>>

beforeAll(async () => {
  db = await tempDatabase()
  for (const b of backends) {
    b.t = await testDeps({ llmBaseUrl: fake.url, llmApiKey: 'sk-nul', ...(b.name === 'PostgreSQL' ? { databaseUrl: db.url } : {}) })
    b.app = createApp(b.t.deps)
  }
})
afterAll(async () => {
  for (const b of backends) await b.t?.close()
  await db?.drop()
  fake.stop()
})

const NUL_BODIES: Array<[string, string, string, string]> = [
  ['POST', '/users', '{"name":"a\\u0000b","email":"nul@example.com"}', '/name'],
  ['POST', '/users', '{"name":"ok","email":"nul\\u0000@example.com"}', '/email'],
  ['PATCH', '/users/1', '{"name":"\\u0000"}', '/name'],
  ['POST', '/messages', '{"input":"a\\u0000b"}', '/input'],
  ['POST', '/messages', '{"input":"ab","system":"\\u0000"}', '/system'],
  ['POST', '/messages', '{"input":"ab","model":"m\\u0000"}', '/model'],
  ['POST', '/messages', '{"input":"a\\u0000b","stream":true}', '/input'],
  ['POST', '/messages/batch', '{"inputs":["ok","a\\u0000b"]}', '/inputs/1'],
]

describe.each(backends)('U+0000 in stored text on $name', (b) => {
  test('every field a database stores answers 422 naming it; nothing reaches the LLM', async () => {
    const call = (method: string, path: string, body: string) =>
      b.app!.handle(new Request(`http://localhost${path}`, { method, headers: { 'content-type': 'application/json' }, body }))
    expect((await call('POST', '/users', '{"name":"Ada","email":"ada-nul@example.com"}')).status).toBe(201)
    const before = fake.stats.requests
    for (const [method, path, body, field] of NUL_BODIES) {
      const res = await call(method, path, body)
      const text = await res.text()
      expect(`${method} ${path} ${body} -> ${res.status}`).toBe(`${method} ${path} ${body} -> 422`)
      const err = (JSON.parse(text) as { error: { code: string; details: Array<{ path: string }> } }).error
      expect(err.code).toBe('validation_failed')
      expect(err.details[0]?.path).toBe(field)
    }
    expect(fake.stats.requests).toBe(before)
    // The stores still serve.
    expect((await call('PATCH', '/users/1', '{"name":"Ada L"}')).status).toBe(200)
    expect((await call('POST', '/messages', '{"input":"still fine"}')).status).toBe(201)
  })
})

/**
 * The NUL wording (`x-message` of STORED_TEXT) belongs to its pattern alone: a stored-text field
 * too long or empty was told "must not contain U+0000 (NUL)", which sends a client looking for a
 * character that is not there. Every other failure of such a field keeps TypeBox's own words.
 */
const NOT_NUL_BODIES: Array<[string, string, unknown, string, RegExp]> = [
  ['POST', '/users', { name: 'x'.repeat(101), email: 'long@example.com' }, '/name', /length/],
  ['POST', '/users', { name: '   ', email: 'blank@example.com' }, '/name', /length/],
  ['PATCH', '/users/1', { name: '' }, '/name', /length/],
  ['POST', '/messages', { input: '' }, '/input', /length/],
  ['POST', '/messages', { input: 'ok', model: 'm'.repeat(10_000) }, '/model', /length/],
  ['POST', '/messages/batch', { inputs: ['ok', ''] }, '/inputs/1', /length/],
]

describe('a stored-text field that fails otherwise than by a NUL', () => {
  test('is told what is wrong (its length), not that it holds a NUL', async () => {
    const app = backends[0]!.app!
    const call = (method: string, path: string, body: unknown) =>
      app.handle(new Request(`http://localhost${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))
    for (const [method, path, body, field, wording] of NOT_NUL_BODIES) {
      const res = await call(method, path, body)
      const err = ((await res.json()) as { error: { code: string; message: string; details: Array<{ path: string; message: string }> } }).error
      expect(`${method} ${path} -> ${res.status} ${err.code}`).toBe(`${method} ${path} -> 422 validation_failed`)
      const detail = err.details.find((d) => d.path === field)
      expect(detail?.message ?? `no detail for ${field}: ${JSON.stringify(err.details)}`).toMatch(wording)
      expect(err.message).not.toContain('U+0000')
    }
  })
})
