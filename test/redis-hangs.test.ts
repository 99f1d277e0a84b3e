/**
 * A Redis that hangs (a TCP proxy that stops forwarding, test/support/tcp-proxy.ts) under a
 * server with jobs on BullMQ (`JOBS_URL`) and rate limits on Redis (`RATE_LIMIT_URL`,
 * `TRUST_PROXY` with hostile X-Forwarded-For values): every request is answered within a bound,
 * never with a 500, and the event loop keeps answering /healthz at once throughout.
 *
 * - /jobs (submit with and without Idempotency-Key, list, read, events, cancel): 503
 *   `jobs_unavailable` with Retry-After after the jobs' command timeout;
 * - rate-limited routes: answered from the in-process limiter (200 or 429) within ~the 50 ms
 *   Redis command timeout;
 * - /admin/queues' API: 503 `jobs_unavailable` (was bull-board's 500 "Command timed out");
 * - /metrics: 200 within ~1 s with the jobs gauge at its last values (was 503 after 5 s: the
 *   whole scrape failed with the job counts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import { testConfig } from '../src/config.ts'
import { silentLogger } from '../src/log.ts'
import { startServer, type RunningServer } from '../src/server.ts'
import { tempDir } from './support/deps.ts'
import { TcpProxy } from './support/tcp-proxy.ts'

const DB = 15
const tmp = tempDir('highperf-redis-hangs-')
let proxy: TcpProxy
let srv: RunningServer
let base: string

const XFF = ['x'.repeat(6000), '1.2.3.4, ::ffff:999.1.1.1, not-an-ip', '\u00e9\u00e9, , ,', '2001:db8::1', Array.from({ length: 500 }, (_, i) => `10.0.${i % 250}.1`).join(','), '203.0.113.7']

beforeAll(async () => {
  proxy = await TcpProxy.start(6379)
  const url = `redis://127.0.0.1:${proxy.port}/${DB}`
  srv = await startServer(testConfig({
    port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1,
    jobsUrl: url, rateLimitUrl: url, rateLimitRps: 5, rateLimitBurst: 5, trustProxy: true,
  }), { log: silentLogger() })
  base = srv.url.replace(/\/$/, '')
  for (let i = 0; i < 100 && (await fetch(`${base}/readyz`)).status !== 200; i++) await Bun.sleep(50)
}, 30_000)

afterAll(async () => {
  await proxy?.restart()
  await srv?.shutdown()
  proxy?.stop()
  const q = new Queue('highperf', { connection: { host: '127.0.0.1', port: 6379, db: DB } })
  await q.obliterate({ force: true }).catch(() => {})
  await q.close()
  tmp.remove()
})

interface Answer { label: string; status: number; ms: number; code?: string; retryAfter: string | null }

let clients = 0

/** One request; without its own X-Forwarded-For it comes from a client of its own (the limit is 5/s each). */
async function timed(label: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const start = performance.now()
  const headers = new Headers(init.headers)
  if (!headers.has('x-forwarded-for')) headers.set('x-forwarded-for', `198.51.100.${++clients % 250}`)
  const res = await fetch(`${base}${path}`, { ...init, headers, signal: AbortSignal.timeout(30_000) })
  const text = await res.text()
  let code: string | undefined
  try { code = (JSON.parse(text) as { error?: { code?: string } }).error?.code } catch { /* a page or a body */ }
  return { label, status: res.status, ms: performance.now() - start, ...(code === undefined ? {} : { code }), retryAfter: res.headers.get('retry-after') }
}

const json = { 'content-type': 'application/json' }

describe('Redis hangs under JOBS_URL and RATE_LIMIT_URL', () => {
  test('hostile X-Forwarded-For values with a healthy Redis: 200 or 429, never a 5xx', async () => {
    for (const xff of XFF) {
      for (let i = 0; i < 7; i++) {
        const a = await timed(`xff ${xff.slice(0, 20)}`, '/users', { headers: { 'x-forwarded-for': xff } })
        expect([200, 429]).toContain(a.status)
      }
    }
  })

  test('frozen: bounded answers, no 500, /healthz answers at once all along', async () => {
    const before = await timed('submit before', '/jobs', { method: 'POST', headers: json, body: '{"task":"echo","input":{}}' })
    expect(before.status).toBe(202)
    await fetch(`${base}/metrics`)
    proxy.freeze()
    let frozen = true
    const health: number[] = []
    const probe = (async () => {
      while (frozen) {
        const s = performance.now()
        expect((await fetch(`${base}/healthz`)).status).toBe(200)
        health.push(performance.now() - s)
        await Bun.sleep(100)
      }
    })()
    const id = '01a23c5a-fc27-75b5-99c5-5cae1a3d681a'
    const answers = await Promise.all([
      timed('submit', '/jobs', { method: 'POST', headers: json, body: '{"task":"echo","input":{}}' }),
      timed('submit idempotent', '/jobs', { method: 'POST', headers: { ...json, 'idempotency-key': 'k'.repeat(200) }, body: '{"task":"echo","input":{}}' }),
      timed('list', '/jobs?limit=5'),
      timed('read', `/jobs/${id}`),
      timed('events', `/jobs/${id}/events`),
      timed('cancel', `/jobs/${id}`, { method: 'DELETE' }),
      timed('dashboard api', '/admin/queues/api/queues'),
      timed('metrics', '/metrics'),
      ...XFF.map((xff, i) => timed(`rate-limited ${i}`, '/users', { headers: { 'x-forwarded-for': xff } })),
    ])
    frozen = false
    await probe
    for (const a of answers) {
      expect(`${a.label}: ${a.status}`).not.toMatch(/: (?:500|0)$/)
      expect(a.ms).toBeLessThan(15_000)
      if (a.label.startsWith('rate-limited')) {
        expect([200, 429]).toContain(a.status)
        expect(a.ms).toBeLessThan(2_000)
      } else if (a.label === 'metrics') {
        expect(a.status).toBe(200)
        expect(a.ms).toBeLessThan(4_000)
      } else {
        expect(`${a.label}: ${a.status} ${a.code}`).toBe(`${a.label}: 503 jobs_unavailable`)
        expect(a.retryAfter).not.toBeNull()
      }
    }
    expect(health.length).toBeGreaterThan(5)
    expect(Math.max(...health)).toBeLessThan(1_000)

    // Back: the jobs answer again, nothing was lost.
    await proxy.restart()
    let after: Answer | undefined
    for (let i = 0; i < 50; i++) {
      after = await timed('submit after', '/jobs', { method: 'POST', headers: json, body: '{"task":"echo","input":{}}' })
      if (after.status === 202) break
      await Bun.sleep(200)
    }
    expect(after?.status).toBe(202)
  }, 40_000)
})
