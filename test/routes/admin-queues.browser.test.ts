/**
 * The queue dashboard (`/admin/queues`, bull-board): with JOBS_URL set, headless Chromium opens
 * it behind API_TOKEN and sees a job that was submitted through `POST /jobs`; without the token
 * it is a 401 asking for Basic or Bearer credentials; without JOBS_URL it is a 404 saying what
 * to set. Uses Redis on 127.0.0.1:6379 (db 11, its queue removed afterwards).
 *
 * The browser part is skipped (with a message) only when /usr/bin/chromium is missing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Queue } from 'bullmq'
import type { BrowserContext } from 'playwright-core'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from '../support/browser.ts'

const TOKEN = 'dashboard-secret'
const JOBS_URL = 'redis://127.0.0.1:6379/11'

describe('/admin/queues without JOBS_URL', () => {
  test('answers 404 with the envelope saying to set JOBS_URL', async () => {
    const tmp = tempDir('highperf-queues-none-')
    const srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1 }), { log: silentLogger() })
    try {
      for (const path of ['admin/queues', 'admin/queues/api/queues']) {
        const res = await fetch(`${srv.url}${path}`)
        expect(res.status).toBe(404)
        const body = (await res.json()) as { error: { code: string; message: string; requestId: string } }
        expect(body.error.code).toBe('not_found')
        expect(body.error.message).toContain('JOBS_URL')
        expect(body.error.requestId).toBeString()
      }
    } finally {
      await srv.shutdown()
      tmp.remove()
    }
  })
})

describe('/admin/queues with JOBS_URL (bull-board)', () => {
  const tmp = tempDir('highperf-queues-')
  let srv: RunningServer
  let context: BrowserContext | undefined

  beforeAll(async () => {
    srv = await startServer(
      testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1, jobsUrl: JOBS_URL, apiToken: TOKEN, rateLimitRps: 0 }),
      { log: silentLogger() },
    )
  }, 30_000)

  afterAll(async () => {
    await context?.close().catch(() => {})
    await srv?.shutdown()
    const q = new Queue('highperf', { connection: { host: '127.0.0.1', port: 6379, db: 11 } })
    await q.obliterate({ force: true }).catch(() => {})
    await q.close()
    tmp.remove()
  })

  test('asks for the token (Basic challenge), and serves its API with it', async () => {
    const anon = await fetch(`${srv.url}admin/queues`)
    expect(anon.status).toBe(401)
    expect(anon.headers.get('www-authenticate')).toContain('Basic')
    expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('unauthorized')
    const api = await fetch(`${srv.url}admin/queues/api/queues?activeQueue=highperf&page=1&jobsPerPage=10`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(api.status).toBe(200)
    const basic = await fetch(`${srv.url}admin/queues/api/redis/stats`, { headers: { authorization: `Basic ${btoa(`admin:${TOKEN}`)}` } })
    expect(basic.status).toBe(200)
  })

  test.skipIf(!HAVE_CHROMIUM)('headless Chromium opens the dashboard and sees a submitted job', async () => {
    const res = await fetch(`${srv.url}jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ task: 'echo', input: { marker: 'seen-in-bull-board' }, delayMs: 600_000 }),
    })
    expect(res.status).toBe(202)
    const job = (await res.json()) as { id: string }
    context = await launchChromium(join(tmp.dir, 'profile'), { viewport: { width: 1200, height: 800 } })
    await context.setExtraHTTPHeaders({ authorization: `Bearer ${TOKEN}` })
    const page = await context.newPage()
    const problems: string[] = []
    page.on('pageerror', (e) => problems.push(e.message))
    const nav = await page.goto(`${srv.url}admin/queues/queue/highperf?status=delayed`)
    expect(nav?.status()).toBe(200)
    await page.getByText(job.id).first().waitFor({ timeout: 20_000 })
    expect(problems).toEqual([])
  }, 60_000)
})

if (!HAVE_CHROMIUM) console.warn(`admin-queues.browser.test: browser part SKIPPED, ${CHROMIUM} is missing (apt-get install chromium; .ci/run does it)`)
