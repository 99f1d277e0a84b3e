/**
 * ETag and 304 on the JSON reads of one resource (GET /users/:id, /messages/:id, /jobs/:id) over
 * a real server: the tag is sent, If-None-Match naming it (weakly, in a list, or `*`) answers a
 * bodiless 304 that still carries the tag, and the tag changes when the resource does.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'
import { startFakeLlm } from '../support/fake-llm.ts'
import { rawRequest } from '../support/raw-http.ts'

const TAG_SHAPE = /^W\/"[0-9a-f]{16}"$/
const fake = startFakeLlm()
const dir = tempDir('highperf-etag-')
let srv: RunningServer
beforeAll(async () => {
  srv = await startServer(testConfig({
    port: 0, host: '127.0.0.1', dataDir: join(dir.dir, 'data'), filesDir: join(dir.dir, 'files'),
    requestTimeout: 30_000, rateLimitRps: 0, llmBaseUrl: fake.url, llmApiKey: 'sk-test', llmModel: 'fake-1', workers: 2,
  }), { log: silentLogger() })
})
afterAll(async () => {
  await srv.shutdown()
  fake.stop()
  dir.remove()
})

const get = (path: string, inm?: string) => fetch(`${srv.url}${path.slice(1)}`, inm === undefined ? {} : { headers: { 'if-none-match': inm } })
const post = (path: string, body: unknown) => fetch(`${srv.url}${path.slice(1)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

/** GETs `path`, checks the tag's shape and that the body is the resource, and returns the tag. */
async function tagOf(path: string): Promise<string> {
  const res = await get(path)
  expect(res.status).toBe(200)
  expect(res.headers.get('cache-control')).toBe('no-cache')
  const tag = res.headers.get('etag') ?? ''
  expect(tag).toMatch(TAG_SHAPE)
  await res.json()
  return tag
}

/** Every way of naming `tag` in If-None-Match answers a bodiless 304 with the tag; others a 200. */
async function expectValidators(path: string, tag: string): Promise<void> {
  for (const inm of [tag, tag.slice(2), `"nope", ${tag}`, `"a,b",${tag.slice(2)}`, '*']) {
    const res = await get(path, inm)
    expect(res.status).toBe(304)
    expect(res.headers.get('etag')).toBe(tag)
    expect(res.headers.get('cache-control')).toBe('no-cache')
    expect(res.headers.get('x-request-id')).not.toBeNull()
    expect(await res.text()).toBe('')
  }
  for (const inm of ['"0000000000000000"', tag.slice(3, -1), `w/${tag.slice(2)}`, '']) {
    const res = await get(path, inm)
    expect(res.status).toBe(200)
    expect(res.headers.get('etag')).toBe(tag)
    await res.json()
  }
}

describe('GET /users/:id', () => {
  test('carries a weak ETag; If-None-Match naming it is a bodiless 304', async () => {
    const created = await post('/users', { name: 'Etag', email: 'etag@example.com' })
    expect(created.status).toBe(201)
    const { id } = (await created.json()) as { id: number }
    const tag = await tagOf(`/users/${id}`)
    expect(await tagOf(`/users/${id}`)).toBe(tag) // stable while nothing changes
    await expectValidators(`/users/${id}`, tag)
  })

  test('the tag changes when the user does, and the old tag gets a 200 with the new body', async () => {
    const { id } = (await (await post('/users', { name: 'Before', email: 'before@example.com' })).json()) as { id: number }
    const before = await tagOf(`/users/${id}`)
    const patched = await fetch(`${srv.url}users/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"name":"After"}' })
    expect(patched.status).toBe(200)
    const res = await get(`/users/${id}`, before)
    expect(res.status).toBe(200)
    expect(((await res.json()) as { name: string }).name).toBe('After')
    expect(res.headers.get('etag')).not.toBe(before)
    expect(res.headers.get('etag')).toBe(patched.headers.get('etag'))
  })

  test('an unknown user is 404 whatever If-None-Match says (* matches only a current representation)', async () => {
    const res = await get('/users/999999', '*')
    expect(res.status).toBe(404)
    expect(res.headers.get('etag')).toBeNull()
  })

  test('two If-None-Match lines on a raw socket are one list: the second names the tag', async () => {
    const { id } = (await (await post('/users', { name: 'Raw', email: 'raw@example.com' })).json()) as { id: number }
    const tag = await tagOf(`/users/${id}`)
    const res = await rawRequest(srv.port, `GET /users/${id} HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: "other"\r\nIf-None-Match: ${tag}\r\nConnection: close\r\n\r\n`)
    expect(res.status).toBe(304)
    expect(res.headers.etag).toBe(tag)
    expect(res.body).toBe('')
  })

  test('a hostile If-None-Match (8 KB of quotes, commas, W/) is a 200, never an error', async () => {
    const { id } = (await (await post('/users', { name: 'Hostile', email: 'hostile@example.com' })).json()) as { id: number }
    for (const inm of ['"'.repeat(8000), ','.repeat(8000), 'W/'.repeat(4000), 'W/"', '"\u00ff"']) {
      const res = await get(`/users/${id}`, inm)
      expect(res.status).toBe(200)
      await res.json()
    }
  })
})

describe('GET /messages/:id', () => {
  test('carries a weak ETag; If-None-Match naming it is a bodiless 304', async () => {
    const created = await post('/messages', { input: 'Hola' })
    expect(created.status).toBe(201)
    const { id } = (await created.json()) as { id: number }
    const tag = await tagOf(`/messages/${id}`)
    await expectValidators(`/messages/${id}`, tag)
    // Another message has another tag.
    const other = (await (await post('/messages', { input: 'Adiós' })).json()) as { id: number }
    expect(await tagOf(`/messages/${other.id}`)).not.toBe(tag)
  })
})

describe('GET /jobs/:id', () => {
  test('the tag follows the job through its states and progress; a poll with the last tag is 304 until it changes', async () => {
    const submitted = await post('/jobs', { task: 'sleep', input: { ms: 600, steps: 3 } })
    expect(submitted.status).toBe(202)
    const { id } = (await submitted.json()) as { id: string }
    const path = `/jobs/${id}`
    // Poll like a client would: always with the last tag; a 200 means the job changed.
    const seen = new Map<string, string>() // tag -> state/progress it stood for
    let tag = ''
    let view = { state: '', progress: -1 }
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      const res = await get(path, tag === '' ? undefined : tag)
      if (res.status === 304) {
        expect(res.headers.get('etag')).toBe(tag)
        expect(await res.text()).toBe('')
      } else {
        expect(res.status).toBe(200)
        const next = (await res.json()) as { state: string; progress: number; updatedAt: string }
        const nextTag = res.headers.get('etag') ?? ''
        expect(nextTag).toMatch(TAG_SHAPE)
        expect(nextTag).not.toBe(tag)
        // A new tag is never one seen before for another view.
        expect(seen.has(nextTag)).toBe(false)
        seen.set(nextTag, `${next.state}/${next.progress}`)
        tag = nextTag
        view = next
        if (next.state === 'succeeded') break
      }
      await Bun.sleep(20)
    }
    expect(view).toMatchObject({ state: 'succeeded', progress: 100 })
    // At least queued-or-running, some progress, and done: each its own tag.
    expect(seen.size).toBeGreaterThanOrEqual(3)
    await expectValidators(path, tag)
  })

  test('an unknown job is 404, a bad id 400, whatever If-None-Match says', async () => {
    expect((await get('/jobs/019a9f1c-7c3e-7d2a-8b41-5f0e2a9c1d33', '*')).status).toBe(404)
    expect((await get('/jobs/nope', '*')).status).toBe(400)
  })
})
