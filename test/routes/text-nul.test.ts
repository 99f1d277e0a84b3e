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
