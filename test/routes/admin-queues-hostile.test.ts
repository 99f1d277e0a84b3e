/**
 * `/admin/queues` (bull-board, JOBS_URL on Redis db 15, API_TOKEN set) under hostile requests:
 * traversal in every spelling (raw bytes over a socket too), encoded slashes, NUL and overlong
 * names, unknown queues, garbage job ids and statuses on each of bull-board's API routes, bodies
 * that are not JSON or nest 20 000 deep, huge query strings. Never a 5xx, never a file from
 * outside bull-board's UI, and without the token a 401 on every path under it.
 *
 * Before: `/admin/queues/static/%00` and `/admin/queues/static/<5000 characters>` were 500s
 * (Hono's serveStatic opened the decoded name: ERR_INVALID_ARG_VALUE, ENAMETOOLONG).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'
import { rawRequest } from '../support/raw-http.ts'

const DB = 15
const TOKEN = 'admin-hostile-token'
const AUTH = { authorization: `Bearer ${TOKEN}` }
const tmp = tempDir('highperf-admin-hostile-')
let srv: RunningServer
let base: string
let jobId: string

beforeAll(async () => {
  srv = await startServer(testConfig({
    port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1, rateLimitRps: 0,
    jobsUrl: `redis://127.0.0.1:6379/${DB}`, apiToken: TOKEN,
  }), { log: silentLogger() })
  base = `${srv.url.replace(/\/$/, '')}/admin/queues`
  const res = await fetch(`${srv.url}jobs`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: '{"task":"echo","input":{"a":1}}' })
  jobId = ((await res.json()) as { id: string }).id
}, 30_000)

afterAll(async () => {
  await srv?.shutdown()
  const q = new Queue('highperf', { connection: { host: '127.0.0.1', port: 6379, db: DB } })
  await q.obliterate({ force: true }).catch(() => {})
  await q.close()
  tmp.remove()
})

/** Requests [method, path under /admin/queues, body?] built from bull-board's API routes and hostile values. */
function hostileRequests(): Array<[string, string, string?]> {
  const ids = [jobId, 'nope', '%00', '%FF', 'x'.repeat(3000), '%2e%2e', 'a%2Fb', '9'.repeat(400), '__proto__']
  const queues = ['highperf', 'nope', '%FF', 'x'.repeat(3000), '__proto__']
  const out: Array<[string, string, string?]> = []
  for (const q of queues) {
    for (const p of ['metrics', 'default-job-options', 'workers', 'rate-limit', 'job-data-schema']) out.push(['GET', `/api/queues/${q}/${p}`])
    for (const id of ids) {
      for (const p of ['', '/logs', '/flow']) out.push(['GET', `/api/queues/${q}/${id}${p}`])
      for (const p of ['/retry', '/clean', '/promote']) out.push(['PUT', `/api/queues/${q}/${id}${p}`, '{}'])
      for (const [p, body] of [['/update-data', '{"data":"x"}'], ['/update-data', '[[[['], ['/delay', '{"runAt":"soon"}'], ['/delay', '{"runAt":1e400}'],
        ['/priority', '{"priority":-5}'], ['/priority', '{"priority":"high"}'], ['/priority', `{"priority":${'['.repeat(20_000)}}`]] as const) {
        out.push(['PATCH', `/api/queues/${q}/${id}${p}`, body])
      }
    }
    for (const s of ['nope', '%FF', '__proto__', 'x'.repeat(3000)]) out.push(['PUT', `/api/queues/${q}/retry/${s}`, '{}'], ['PUT', `/api/queues/${q}/clean/${s}`, '{}'])
    out.push(['PUT', `/api/queues/${q}/concurrency`, '[[[[['], ['PUT', `/api/queues/${q}/concurrency`, '{"concurrency":"x"}'], ['PUT', `/api/queues/${q}/rate-limit`, '{"max":1e400}'])
    out.push(['POST', `/api/queues/${q}/add`, 'not json'], ['POST', `/api/queues/${q}/add`, `{"name":"x","data":${'['.repeat(20_000)}${']'.repeat(20_000)}}`])
  }
  for (const query of ['?activeQueue=%FF&page=-1&jobsPerPage=1e9&status=nope', `?page=${'9'.repeat(400)}`, '?activeQueue=__proto__&status=__proto__', `?query=${'x'.repeat(6000)}`]) {
    for (const p of ['/api/queues', '/api/redis/stats', '/api/job-schedulers', '/api/metrics/latency', '']) out.push(['GET', `${p}${query}`])
  }
  for (const p of ['/static/%00', `/static/${'x'.repeat(5000)}`, `/${'y'.repeat(300)}`, '/static/a%00b.js', '/static/%2e%2e/%2e%2e/package.json', '/static/..%2f..%2fpackage.json',
    '/static/..%5c..%5cpackage.json', '/static/%FF', '/queue/%FF', '/queue/%00', '/api/', '/api//queues', '/%2e%2e/%2e%2e/package.json']) out.push(['GET', p])
  return out
}

describe('/admin/queues under hostile requests', () => {
  test('never a 5xx nor a file from outside the UI, whatever the path, params or body', async () => {
    const problems: string[] = []
    const requests = hostileRequests()
    let next = 0
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (next < requests.length) {
        const [method, path, body] = requests[next++]!
        const res = await fetch(`${base}${path}`, { method, headers: { ...AUTH, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body }) })
        const text = await res.text()
        if (res.status >= 500) problems.push(`${method} ${path.slice(0, 80)} -> ${res.status} ${text.slice(0, 120)}`)
        if (/"devDependencies"|root:x:0:0/.test(text)) problems.push(`${method} ${path.slice(0, 80)} leaked a file`)
      }
    }))
    for (const target of ['/admin/queues/../../etc/passwd', '/admin/queues/static/../../../package.json', '/admin/queues/static/..\\..\\package.json',
      '/admin/queues/static/\xff\xfe', '/admin/queues/static/%00', `/admin/queues/static/${'z'.repeat(4000)}`]) {
      const res = await rawRequest(srv.port, Buffer.from(`GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`, 'latin1'))
      if (res.status >= 500 || res.status === 0) problems.push(`raw ${target.slice(0, 60)} -> ${res.status} ${res.body.slice(0, 120)}`)
      if (/"devDependencies"|root:x:0:0/.test(res.body)) problems.push(`raw ${target.slice(0, 60)} leaked a file`)
    }
    expect(problems).toEqual([])
    expect((await fetch(`${base}/api/queues`, { headers: AUTH })).status).toBe(200)
  }, 60_000)

  test("an action that does not fit the job's state (promote a finished job) is a 409 with BullMQ's reason, not bull-board's 500", async () => {
    const res = await fetch(`${srv.url}jobs`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: '{"task":"echo","input":{"b":2}}' })
    const id = ((await res.json()) as { id: string }).id
    for (let i = 0; i < 60; i++) {
      const job = (await (await fetch(`${srv.url}jobs/${id}`, { headers: AUTH })).json()) as { state: string }
      if (job.state === 'succeeded') break
      await Bun.sleep(50)
    }
    // BullMQ moves the job to `completed` just after the outcome is known.
    await Bun.sleep(300)
    for (const action of ['promote']) {
      const res = await fetch(`${base}/api/queues/highperf/${id}/${action}`, { method: 'PUT', headers: { ...AUTH, 'content-type': 'application/json' }, body: '{}' })
      expect(`${action} ${res.status}`).toBe(`${action} 409`)
      const err = ((await res.json()) as { error: { code: string; message: string; requestId: string } }).error
      expect(err.code).toBe('conflict')
      expect(err.message).toContain(id)
    }
  }, 15_000)

  test("bull-board's PATCH actions reach it: a delayed job is rescheduled and reprioritised from the dashboard", async () => {
    const res = await fetch(`${srv.url}jobs`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: '{"task":"echo","input":{"c":3},"delayMs":600000}' })
    expect(res.status).toBe(202)
    const id = ((await res.json()) as { id: string }).id
    const patch = (what: string, body: unknown) =>
      fetch(`${base}/api/queues/highperf/${id}/${what}`, { method: 'PATCH', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const runAt = Date.now() + 1_200_000
    expect((await patch('delay', { runAt })).status).toBe(200)
    expect((await patch('priority', { priority: 7 })).status).toBe(200)
    const job = (await (await fetch(`${base}/api/queues/highperf/${id}`, { headers: AUTH })).json()) as { job: { delay: number; priority: number } }
    expect(job.job.priority).toBe(7)
    expect(job.job.delay).toBeGreaterThan(600_000)
  }, 15_000)

  test('without the token every path under it is a 401 with the envelope', async () => {
    for (const path of ['', '/', '/api/queues', `/api/queues/highperf/${jobId}`, '/static/%00', '/api/redis/stats', '/queue/highperf']) {
      for (const method of ['GET', 'PUT', 'POST', 'PATCH', 'DELETE']) {
        if (path === '' && method !== 'GET') continue
        const res = await fetch(`${base}${path}`, { method, ...(method === 'GET' ? {} : { body: '{}' }) })
        expect(`${method} ${path} ${res.status}`).toBe(`${method} ${path} 401`)
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized')
      }
    }
    // Basic credentials with a wrong password, or huge ones, are no way in either.
    for (const header of [`Basic ${btoa('a:wrong')}`, `Basic ${'A'.repeat(6000)}`, 'Basic', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`]) {
      expect((await fetch(`${base}/api/queues`, { headers: { authorization: header } })).status).toBe(401)
    }
  })
})
