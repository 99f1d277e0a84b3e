/**
 * PATCH /users/:id over a real server (startServer) with API_TOKEN set: a partial update of name
 * and email, its refusals, and that it is a write behind the token.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'
import { rawRequest } from '../support/raw-http.ts'

interface User { id: number; name: string; email: string; createdAt: string }
interface Envelope { error: { code: string; message: string; requestId: string; details?: Array<{ path: string; message: string }> } }

const TOKEN = 'patch-test-token'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const dir = tempDir('highperf-users-patch-')
let srv: RunningServer
beforeAll(async () => {
  srv = await startServer(testConfig({
    port: 0, host: '127.0.0.1', dataDir: join(dir.dir, 'data'), filesDir: join(dir.dir, 'files'),
    apiToken: TOKEN, requestTimeout: 30_000, rateLimitRps: 0,
  }), { log: silentLogger() })
})
afterAll(async () => {
  await srv.shutdown()
  dir.remove()
})

let seq = 0
const email = () => `patch${++seq}-${Math.random().toString(36).slice(2, 8)}@example.com`
const patch = (id: number | string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json', ...AUTH }) =>
  fetch(`${srv.url}users/${id}`, { method: 'PATCH', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })
const create = async (name = 'Ada', mail = email()): Promise<User> => {
  const res = await fetch(`${srv.url}users`, { method: 'POST', headers: { 'content-type': 'application/json', ...AUTH }, body: JSON.stringify({ name, email: mail }) })
  expect(res.status).toBe(201)
  return (await res.json()) as User
}
const read = async (id: number): Promise<User> => (await (await fetch(`${srv.url}users/${id}`)).json()) as User
const errorOf = async (res: Response) => ((await res.json()) as Envelope).error

describe('PATCH /users/:id', () => {
  test('changes only the fields given, trimmed, and answers the stored user with its ETag', async () => {
    const ada = await create('Ada')
    const res = await patch(ada.id, { name: '  Ada Lovelace  ' })
    expect(res.status).toBe(200)
    const after = (await res.json()) as User
    expect(after).toEqual({ ...ada, name: 'Ada Lovelace' })
    expect(await read(ada.id)).toEqual(after)
    // The tag of the answer is the tag a later GET carries: a client can revalidate with it at once.
    const tag = res.headers.get('etag')
    expect(tag).toMatch(/^W\/"[0-9a-f]{16}"$/)
    expect((await fetch(`${srv.url}users/${ada.id}`)).headers.get('etag')).toBe(tag)

    const newEmail = email()
    const res2 = await patch(ada.id, { email: `  ${newEmail} ` })
    expect(res2.status).toBe(200)
    expect(await read(ada.id)).toEqual({ ...after, email: newEmail })
    expect(res2.headers.get('etag')).not.toBe(tag)
  })

  test('both fields at once; id and createdAt never change', async () => {
    const u = await create('Bob')
    const mail = email()
    const res = await patch(u.id, { name: 'Robert', email: mail })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ id: u.id, name: 'Robert', email: mail, createdAt: u.createdAt })
  })

  test('an email taken by another user, in any case, is 409 conflict naming /email; nothing changes', async () => {
    const a = await create('A')
    const b = await create('B')
    const res = await patch(b.id, { name: 'Changed', email: a.email.toUpperCase() })
    expect(res.status).toBe(409)
    const err = await errorOf(res)
    expect(err.code).toBe('conflict')
    expect(err.details).toEqual([{ path: '/email', message: 'already registered' }])
    expect(await read(b.id)).toEqual(b)
  })

  test("the user's own email in another case is not a conflict", async () => {
    const u = await create('Case')
    const res = await patch(u.id, { email: u.email.toUpperCase() })
    expect(res.status).toBe(200)
    expect(((await res.json()) as User).email).toBe(u.email.toUpperCase())
  })

  test('an unknown id is 404 not_found, a deleted one too; an id that is not a number is 422 naming /id', async () => {
    expect((await errorOf(await patch(999_999, { name: 'x' }))).code).toBe('not_found')
    const u = await create('Gone')
    expect((await fetch(`${srv.url}users/${u.id}`, { method: 'DELETE', headers: AUTH })).status).toBe(204)
    const gone = await patch(u.id, { name: 'x' })
    expect(gone.status).toBe(404)
    expect((await errorOf(gone)).code).toBe('not_found')
    // Past the safe integers: matches the id pattern but can name no row.
    expect((await patch('9999999999999999', { name: 'x' })).status).toBe(404)
    const bad = await patch('abc', { name: 'x' })
    expect(bad.status).toBe(422)
    expect((await errorOf(bad)).details?.map((d) => d.path)).toEqual(['/id'])
  })

  test.each([
    ['an empty patch', {}, '/'],
    ['an unknown field (a typo must not look like success)', { emial: 'x@example.com' }, '/emial'],
    ['an unknown field next to a known one', { name: 'Ok', id: 7 }, '/id'],
    ['a null name (no field can be removed)', { name: null }, '/name'],
    ['a name of spaces', { name: '   ' }, '/name'],
    ['a malformed email', { email: 'not-an-email' }, '/email'],
    ['a name over 100 characters', { name: 'x'.repeat(101) }, '/name'],
  ])('%s is 422 validation_failed naming the field, and nothing changes', async (_what, body, path) => {
    const u = await create('Same')
    const res = await patch(u.id, body)
    expect(res.status).toBe(422)
    const err = await errorOf(res)
    expect(err.code).toBe('validation_failed')
    expect(err.details?.map((d) => d.path)).toContain(path)
    expect(await read(u.id)).toEqual(u)
  })

  test('an empty patch says in words what a patch needs', async () => {
    const u = await create()
    expect((await errorOf(await patch(u.id, {}))).message).toBe('body: a patch names at least one field to change: name, email')
  })

  test('a body that is not an object is 422; one that is not JSON is 400', async () => {
    const u = await create()
    for (const body of ['[]', '"x"', '42', 'null']) expect((await patch(u.id, body)).status).toBe(422)
    const res = await patch(u.id, '{"name":')
    expect(res.status).toBe(400)
    expect((await errorOf(res)).code).toBe('invalid_json')
  })

  test('a body over MAX_BODY_SIZE is 413 payload_too_large, and nothing changes', async () => {
    const u = await create('Big')
    const res = await patch(u.id, { name: 'x'.repeat(2 * 1024 * 1024) })
    expect(res.status).toBe(413)
    expect((await errorOf(res)).code).toBe('payload_too_large')
    expect(await read(u.id)).toEqual(u)
  })

  test('application/merge-patch+json is accepted; another content type is 415', async () => {
    const u = await create()
    const ok = await patch(u.id, { name: 'Merged' }, { 'content-type': 'Application/Merge-Patch+JSON; charset=utf-8', ...AUTH })
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as User).name).toBe('Merged')
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json-patch+json']) {
      const res = await patch(u.id, { name: 'No' }, { 'content-type': type, ...AUTH })
      expect(res.status).toBe(415)
      expect((await errorOf(res)).code).toBe('unsupported_media_type')
    }
    expect((await read(u.id)).name).toBe('Merged')
  })

  test('without the token it is 401 with a Bearer challenge, before the body is read; nothing changes', async () => {
    const u = await create('Locked')
    const attempts: Array<Record<string, string>> = [{ 'content-type': 'application/json' }, { 'content-type': 'application/json', authorization: 'Bearer wrong' }]
    for (const headers of attempts) {
      const res = await patch(u.id, { name: 'Hacked' }, headers)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="highperf"')
      expect((await errorOf(res)).code).toBe('unauthorized')
    }
    // Over a raw socket, exactly as written: still the token first.
    const raw = await rawRequest(srv.port, `PATCH /users/${u.id} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{"name":"Hacked"}`)
    expect(raw.status).toBe(401)
    expect(await read(u.id)).toEqual(u)
  })

  test('two patches of the same user at once both land, and the later wins field by field', async () => {
    const u = await create('Race')
    const mail = email()
    const [a, b] = await Promise.all([patch(u.id, { name: 'Concurrent' }), patch(u.id, { email: mail })])
    expect([a.status, b.status]).toEqual([200, 200])
    expect(await read(u.id)).toEqual({ ...u, name: 'Concurrent', email: mail })
  })

  test('two users racing for the same new email: exactly one gets it, the other 409', async () => {
    const a = await create('RaceA')
    const b = await create('RaceB')
    const wanted = email()
    const statuses = (await Promise.all([patch(a.id, { email: wanted }), patch(b.id, { email: wanted.toUpperCase() })])).map((r) => r.status).sort()
    expect(statuses).toEqual([200, 409])
  })
})
