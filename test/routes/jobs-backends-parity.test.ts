/**
 * /jobs answers the same on bun:sqlite and on BullMQ over Redis (db 15) where a hostile or
 * careless client pokes at ids: DELETE twice (a canceled job stays canceled: 200 both times), a
 * DELETE of a finished job (409 naming its state, twice), garbage and unknown ids on every
 * /jobs/:id route including the event stream (400 `invalid_id` / 404 `not_found`, never a 5xx or
 * a stream left open), and list cursors of the other backend's shape (422).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'

const DB = 15
const tmp = tempDir('highperf-jobs-parity-')
const backends: Array<{ name: string; jobsUrl: string; srv?: RunningServer }> = [
  { name: 'bun:sqlite', jobsUrl: '' },
  { name: 'BullMQ on Redis', jobsUrl: `redis://127.0.0.1:6379/${DB}` },
]

beforeAll(async () => {
  for (const [i, b] of backends.entries()) {
    b.srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, `data${i}`), filesDir: join(tmp.dir, 'files'), workers: 1, rateLimitRps: 0, jobsUrl: b.jobsUrl }), { log: silentLogger() })
  }
}, 30_000)
afterAll(async () => {
  for (const b of backends) await b.srv?.shutdown()
  const q = new Queue('highperf', { connection: { host: '127.0.0.1', port: 6379, db: DB } })
  await q.obliterate({ force: true }).catch(() => {})
  await q.close()
  tmp.remove()
})

describe.each(backends)('/jobs ids on $name', (b) => {
  const url = (path: string) => `${b.srv!.url.replace(/\/$/, '')}${path}`
  const submit = async (body: unknown) => ((await (await fetch(url('/jobs'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { id: string })
  const state = async (id: string) => ((await (await fetch(url(`/jobs/${id}`))).json()) as { state: string }).state

  test('DELETE twice: 200 canceled both times; a finished job: 409 naming its state, twice', async () => {
    const delayed = await submit({ task: 'echo', input: {}, delayMs: 60_000 })
    for (let i = 0; i < 2; i++) {
      const res = await fetch(url(`/jobs/${delayed.id}`), { method: 'DELETE' })
      expect(res.status).toBe(200)
      expect(((await res.json()) as { state: string }).state).toBe('canceled')
    }
    const done = await submit({ task: 'echo', input: { a: 1 } })
    for (let i = 0; i < 200 && (await state(done.id)) !== 'succeeded'; i++) await Bun.sleep(25)
    for (let i = 0; i < 2; i++) {
      const res = await fetch(url(`/jobs/${done.id}`), { method: 'DELETE' })
      expect(res.status).toBe(409)
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('succeeded')
    }
    expect(await state(done.id)).toBe('succeeded')
  })

  test('garbage and unknown ids on every route: 400 or 404 with the envelope, the event stream included', async () => {
    const ids = ['nope', '%00', '%FF', 'x'.repeat(3000), '..', '-1', '9'.repeat(400), '__proto__', '00000000-0000-0000-0000-000000000000', '01a23c5a-fc27-75b5-99c5-5cae1a3d681a']
    for (const id of ids) {
      for (const [method, suffix] of [['GET', ''], ['GET', '/result'], ['GET', '/events'], ['DELETE', '']] as const) {
        const res = await fetch(url(`/jobs/${id}${suffix}`), { method, signal: AbortSignal.timeout(10_000) })
        const body = await res.text()
        expect(`${method} ${id.slice(0, 40)}${suffix} ${res.status}`).toMatch(/ (?:400|404|422)$/)
        expect(body).toContain('"requestId"')
      }
    }
  })

  test("the other backend's cursors and hostile ones are 422, never a 5xx", async () => {
    for (const cursor of ['01a23c5a-fc27-75b5-99c5-5cae1a3d681a', '1.2', '0.0', '9007199254740993.1', '1e400.1', 'x'.repeat(3000), '%00', '-1.-1']) {
      const res = await fetch(url(`/jobs?cursor=${cursor}`))
      expect([200, 422]).toContain(res.status)
    }
  })
})
