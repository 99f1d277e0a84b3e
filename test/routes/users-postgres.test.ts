/**
 * `DATABASE_URL=postgres://…` through the whole app: the same answers as on bun:sqlite (201 +
 * Location, 409 on a duplicate email, numeric ids, keyset paging), 503 `storage_unavailable` (never
 * a 500) while PostgreSQL is gone with the other routes still answering, the backup's note, and
 * the one-line start-up error of the real process.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApp } from '../../src/app.ts'
import { testDeps, type TestDeps } from '../support/deps.ts'
import { tempDatabase } from '../support/postgres.ts'
import { TcpProxy } from '../support/tcp-proxy.ts'
import { spawnHighperf, freePort } from '../support/process.ts'
import { startFakeLlm } from '../support/fake-llm.ts'

const TOKEN = 'pg-test-token'
let db: Awaited<ReturnType<typeof tempDatabase>>
let proxy: TcpProxy
let t: TestDeps
let app: ReturnType<typeof createApp>
const fake = startFakeLlm()
beforeAll(async () => {
  db = await tempDatabase()
  // Through a proxy this file can take down, as PostgreSQL going away would.
  proxy = await TcpProxy.start(5432)
  t = await testDeps({ databaseUrl: db.url.replace(':5432/', `:${proxy.port}/`), requestTimeout: 30_000, apiToken: TOKEN, llmBaseUrl: fake.url })
  app = createApp(t.deps)
})
afterAll(async () => {
  await t?.close()
  proxy?.stop()
  await db?.drop()
  fake.stop()
})

const call = (method: string, path: string, body?: unknown) =>
  app.handle(new Request(`http://localhost${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }))

describe('users on PostgreSQL (DATABASE_URL)', () => {
  test('create, read, page, change and delete answer as on bun:sqlite', async () => {
    const res = await call('POST', '/users', { name: 'Ada', email: 'ada@example.com' })
    expect(res.status).toBe(201)
    const ada = (await res.json()) as { id: number; email: string }
    expect(typeof ada.id).toBe('number')
    expect(res.headers.get('location')).toBe(`/users/${ada.id}`)
    const dup = await call('POST', '/users', { name: 'Ada 2', email: 'ADA@example.com' })
    expect(dup.status).toBe(409)
    expect(((await dup.json()) as { error: { code: string } }).error.code).toBe('conflict')
    const got = await call('GET', `/users/${ada.id}`)
    expect(got.status).toBe(200)
    expect(got.headers.get('etag')).toStartWith('W/')
    expect(await got.json()).toEqual(ada)
    for (let i = 0; i < 4; i++) expect((await call('POST', '/users', { name: `u${i}`, email: `u${i}@x.io` })).status).toBe(201)
    const page = (await (await call('GET', '/users?limit=3')).json()) as { items: Array<{ id: number }>; nextCursor: string }
    expect(page.items.length).toBe(3)
    expect(page.nextCursor).toBe(String(page.items[2]!.id))
    const rest = (await (await call('GET', `/users?limit=3&cursor=${page.nextCursor}`)).json()) as { items: unknown[]; nextCursor: null }
    expect(rest).toMatchObject({ nextCursor: null })
    expect(rest.items.length).toBe(2)
    expect((await call('PATCH', `/users/${ada.id}`, { name: 'Ada L.' })).status).toBe(200)
    expect((await call('DELETE', `/users/${ada.id}`)).status).toBe(204)
    expect((await call('GET', `/users/${ada.id}`)).status).toBe(404)
    expect((await call('DELETE', `/users/${ada.id}`)).status).toBe(404)
  })

  test('messages: POST /messages stores the exchange in PostgreSQL, GET reads and pages it', async () => {
    const res = await call('POST', '/messages', { input: 'Hola' })
    expect(res.status).toBe(201)
    const m = (await res.json()) as { id: number; input: string; response: string }
    expect(typeof m.id).toBe('number')
    expect(res.headers.get('location')).toBe(`/messages/${m.id}`)
    expect(await (await call('GET', `/messages/${m.id}`)).json()).toEqual(m)
    const page = (await (await call('GET', '/messages?limit=5')).json()) as { items: Array<{ id: number }> }
    expect(page.items.map((x) => x.id)).toContain(m.id)
    expect(await t.deps.messages.count()).toBe(1)
  })

  test('a backup holds jobs only and says where users and messages are', async () => {
    const res = await call('POST', '/admin/backup')
    expect(res.status).toBe(200)
    const report = (await res.json()) as { databases: Array<{ name: string }>; elsewhere: string }
    expect(report.databases.map((d) => d.name)).toEqual(['jobs'])
    expect(report.elsewhere).toContain('PostgreSQL')
  })

  test('PostgreSQL gone: 503 storage_unavailable with Retry-After, /healthz still 200; back when it is', async () => {
    const made = (await (await call('POST', '/users', { name: 'Bob', email: 'bob@example.com' })).json()) as { id: number }
    proxy.stop()
    try {
      for (const [method, path, body] of [['GET', `/users/${made.id}`], ['GET', '/users'], ['POST', '/users', { name: 'C', email: 'c@x.io' }], ['GET', '/messages']] as const) {
        const res = await call(method, path, body)
        expect(res.status).toBe(503)
        expect(res.headers.get('retry-after')).toBe('5')
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('storage_unavailable')
      }
      const health = await call('GET', '/healthz')
      expect(health.status).toBe(200)
    } finally {
      await proxy.restart()
    }
    let status = 0
    for (let i = 0; i < 20 && status !== 200; i++) {
      status = (await call('GET', `/users/${made.id}`)).status
      if (status !== 200) await Bun.sleep(100)
    }
    expect(status).toBe(200)
  }, 30_000)

  test('an unreachable DATABASE_URL stops the real process at start with one line, exit 1', async () => {
    const proc = spawnHighperf([process.execPath, 'run', 'src/main.ts'], {
      PORT: String(freePort()), HOST: '127.0.0.1', DATA_DIR: `${t.dir}/other`, WORKERS: '1', LOG_LEVEL: 'silent', ACCESS_LOG: 'off',
      DATABASE_URL: 'postgres://app:s3cret@127.0.0.1:1/nowhere', START_WAIT: '1s',
    })
    const { code, stderr } = await proc.output()
    expect(code).toBe(1)
    const lines = stderr.trim().split('\n')
    expect(lines.length).toBe(1)
    expect(lines[0]).toStartWith('highperf: cannot start: DATABASE_URL postgres://app:***@127.0.0.1:1/nowhere cannot be used')
    expect(stderr).not.toContain('s3cret')
  }, 30_000)
})
