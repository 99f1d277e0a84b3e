/**
 * The single binary: `scripts/build.ts` compiles highperf, the executable is copied ALONE into an
 * empty directory and started there, and the test exercises it over HTTP: health, Swagger UI with
 * its embedded assets, the OpenAPI document, a user round trip, tasks on the worker pool (the
 * worker entry must be embedded), then SIGTERM -> exit 0. A second server of the same binary, in
 * another empty directory with JOBS_URL (Redis db 14, its queue removed afterwards) and API_TOKEN,
 * serves the queue dashboard (/admin/queues, bull-board) with its UI embedded in the binary: the
 * page, its scripts and stylesheets, its API listing a job submitted through POST /jobs, and (when
 * /usr/bin/chromium is installed) headless Chromium rendering that job.
 *
 * Startup time and idle RSS are printed, not asserted (they belong to bench/http).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Queue } from 'bullmq'
import type { BrowserContext } from 'playwright-core'
import { HAVE_CHROMIUM, launchChromium } from './support/browser.ts'
import { tempDir } from './support/deps.ts'
import { freePort, spawnHighperf, waitHealthy, type Spawned } from './support/process.ts'

const ROOT = resolve(import.meta.dir, '..')
const tmp = tempDir('highperf-binary-')
const runDir = join(tmp.dir, 'run')
const binary = join(runDir, 'highperf')
const port = freePort()
const base = `http://127.0.0.1:${port}`
let server: Spawned
let firstOkMs = 0
let buildLog = ''

beforeAll(async () => {
  const built = join(tmp.dir, 'build', 'highperf')
  const b = Bun.spawnSync([process.execPath, 'run', 'scripts/build.ts', '--outfile', built], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  if (b.exitCode !== 0) throw new Error(`build failed (${b.exitCode}):\n${b.stdout.toString()}\n${b.stderr.toString()}`)
  buildLog = b.stdout.toString()
  Bun.spawnSync(['mkdir', '-p', runDir])
  copyFileSync(built, binary)
  Bun.spawnSync(['chmod', '755', binary])
  expect(readdirSync(runDir)).toEqual(['highperf'])
  // Defaults for everything but the address: ./data is created next to the binary.
  server = spawnHighperf([binary], { PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ACCESS_LOG: 'off' }, runDir)
  firstOkMs = await waitHealthy(`${base}/healthz`, server.proc, 20_000)
}, 90_000)

afterAll(() => {
  server?.proc.kill('SIGKILL')
  tmp.remove()
})

const json = (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })

describe('compiled binary, alone in an empty directory', () => {
  test('answers /healthz (startup time and idle RSS reported)', async () => {
    const res = await fetch(`${base}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('ok')
    await Bun.sleep(200)
    const status = await Bun.file(`/proc/${server.proc.pid}/status`).text()
    const rssKb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0)
    console.log(`binary: first 200 from /healthz ${firstOkMs.toFixed(0)} ms after spawn (includes polling); idle RSS ${(rssKb / 1024).toFixed(1)} MB; size ${(Bun.file(binary).size / 1e6).toFixed(0)} MB`)
    expect(rssKb).toBeGreaterThan(0)
  })

  test('was built in two passes, the second laid out by a recorded start (scripts/build.ts)', () => {
    const passes = buildLog.split('\n').filter((l) => l.startsWith('$ '))
    expect(passes.length).toBe(2)
    expect(passes[0]).not.toContain('--bytecode-order')
    expect(passes[1]).toMatch(/--bytecode-order=\S+/)
  })

  test('serves Swagger UI with the assets embedded in the binary, and the OpenAPI document', async () => {
    const page = await fetch(`${base}/swagger`)
    expect(page.status).toBe(200)
    const html = await page.text()
    const assets = [...html.matchAll(/(?:src|href)="(\/swagger\/assets\/[^"]+)"/g)].map((m) => m[1] as string)
    // swagger-ui-dist's bundle and stylesheet, and the page's own start script and dark-mode rules.
    expect(assets.length).toBe(4)
    for (const asset of assets) {
      const res = await fetch(`${base}${asset}`)
      expect(res.status).toBe(200)
      const name = asset.split('/').pop() as string
      if (name === 'init.js' || name === 'page.css') continue
      const original = Bun.file(Bun.resolveSync(`swagger-ui-dist/${name}`, ROOT))
      expect((await res.bytes()).length).toBe(original.size)
    }
    const doc = (await (await fetch(`${base}/swagger/json`)).json()) as { info: { title: string }; paths: Record<string, unknown> }
    expect(doc.info.title).toBe('highperf')
    expect(Object.keys(doc.paths)).toContain('/healthz')
    expect(Object.keys(doc.paths)).toContain('/users')
  })

  test('a user round trip lands in ./data next to the binary', async () => {
    const email = `bin-${Date.now()}@example.com`
    const created = await json('POST', '/users', { name: 'Binary', email })
    expect(created.status).toBe(201)
    const location = created.headers.get('location')
    expect(location).toMatch(/^\/users\/\d+$/)
    const got = await fetch(`${base}${location}`)
    expect(got.status).toBe(200)
    expect(await got.json()).toMatchObject({ name: 'Binary', email })
    expect(readdirSync(runDir)).toContain('data')
  })

  test('runs tasks on the embedded worker pool', async () => {
    const echo = await json('POST', '/tasks/echo', { hello: 'binary' })
    expect(echo.status).toBe(200)
    expect(JSON.stringify(await echo.json())).toContain('binary')
    const primes = await json('POST', '/tasks/primes', { n: 100_000 })
    expect(primes.status).toBe(200)
    // 9592 primes below 100 000.
    expect(JSON.stringify(await primes.json())).toContain('9592')
  })

  test('SIGTERM -> exit 0', async () => {
    server.proc.kill('SIGTERM')
    const { code, stderr } = await server.output()
    expect(stderr).not.toMatch(/\n\s+at /)
    expect(code).toBe(0)
  })
})

describe('compiled binary with JOBS_URL: the queue dashboard embedded', () => {
  const TOKEN = 'binary-dashboard-secret'
  const REDIS_DB = 14
  const jobsDir = join(tmp.dir, 'jobs-run')
  const jobsPort = freePort()
  const jobsBase = `http://127.0.0.1:${jobsPort}`
  const auth = { authorization: `Bearer ${TOKEN}` }
  const queue = () => new Queue('highperf', { connection: { host: '127.0.0.1', port: 6379, db: REDIS_DB } })
  let jobs: Spawned
  let context: BrowserContext | undefined
  let jobId = ''

  beforeAll(async () => {
    const q = queue()
    await q.obliterate({ force: true })
    await q.close()
    mkdirSync(jobsDir)
    jobs = spawnHighperf([binary], {
      PORT: String(jobsPort), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ACCESS_LOG: 'off', WORKERS: '1', RATE_LIMIT_RPS: '0',
      JOBS_URL: `redis://127.0.0.1:6379/${REDIS_DB}`, API_TOKEN: TOKEN,
    }, jobsDir)
    await waitHealthy(`${jobsBase}/readyz`, jobs.proc, 20_000)
  }, 30_000)

  afterAll(async () => {
    await context?.close().catch(() => {})
    jobs?.proc.kill('SIGKILL')
    const q = queue()
    await q.obliterate({ force: true }).catch(() => {})
    await q.close()
  })

  test('without the token: 401 with the Basic challenge', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      const res = await fetch(`${jobsBase}${path}`)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toContain('Basic')
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized')
    }
  })

  test('the page and every script and stylesheet it names, byte for byte those of @bull-board/ui', async () => {
    const rssBefore = rssKb(jobs.proc.pid)
    const page = await fetch(`${jobsBase}/admin/queues`, { headers: auth })
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toStartWith('text/html')
    const html = await page.text()
    expect(html).toContain('<title>highperf jobs</title>')
    expect(html).toContain('<base href="/admin/queues/"')
    const assets = [...html.matchAll(/(?:src|href)="(static\/[^"]+)"/g)].map((m) => m[1] as string)
    const types: Record<string, string> = { js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml', png: 'image/png' }
    expect(assets.filter((a) => a.endsWith('.js')).length).toBeGreaterThanOrEqual(2)
    expect(assets.filter((a) => a.endsWith('.css')).length).toBeGreaterThanOrEqual(1)
    for (const asset of [...new Set(assets), 'static/locales/en-US/messages.json']) {
      const res = await fetch(`${jobsBase}/admin/queues/${asset}`, { headers: auth })
      expect(res.status).toBe(200)
      const ext = asset.slice(asset.lastIndexOf('.') + 1)
      expect(res.headers.get('content-type')).toStartWith(types[ext] ?? 'application/json')
      const original = Bun.file(Bun.resolveSync(`@bull-board/ui/dist/${asset}`, ROOT))
      expect((await res.bytes()).length).toBe(original.size)
    }
    const missing = await fetch(`${jobsBase}/admin/queues/static/js/none.js`, { headers: auth })
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found')
    console.log(`binary: dashboard idle RSS ${(rssBefore / 1024).toFixed(1)} MB before the first page, ${(rssKb(jobs.proc.pid) / 1024).toFixed(1)} MB after the page and its assets`)
  })

  test('its API lists a job submitted through POST /jobs', async () => {
    const res = await fetch(`${jobsBase}/jobs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'echo', input: { marker: 'seen-in-the-binary' }, delayMs: 600_000 }),
    })
    expect(res.status).toBe(202)
    jobId = ((await res.json()) as { id: string }).id
    const api = await fetch(`${jobsBase}/admin/queues/api/queues?activeQueue=highperf&status=delayed&page=1&jobsPerPage=10`, { headers: auth })
    expect(api.status).toBe(200)
    const body = (await api.json()) as { queues: { name: string; jobs: { id: string }[] }[] }
    const q = body.queues.find((x) => x.name === 'highperf')
    expect(q?.jobs.map((j) => j.id)).toContain(jobId)
  })

  test.skipIf(!HAVE_CHROMIUM)('headless Chromium renders the dashboard from the binary and sees the job', async () => {
    expect(jobId).not.toBe('')
    context = await launchChromium(join(tmp.dir, 'profile'), { viewport: { width: 1200, height: 800 } })
    await context.setExtraHTTPHeaders(auth)
    const page = await context.newPage()
    const problems: string[] = []
    page.on('pageerror', (e) => problems.push(e.message))
    page.on('response', (r) => { if (r.url().startsWith(jobsBase) && r.status() >= 400) problems.push(`${r.status()} ${r.url()}`) })
    const nav = await page.goto(`${jobsBase}/admin/queues/queue/highperf?status=delayed`)
    expect(nav?.status()).toBe(200)
    await page.getByText(jobId).first().waitFor({ timeout: 20_000 })
    expect(problems).toEqual([])
  }, 60_000)

  test('SIGTERM -> exit 0', async () => {
    jobs.proc.kill('SIGTERM')
    const { code, stderr } = await jobs.output()
    expect(stderr).not.toMatch(/\n\s+at /)
    expect(code).toBe(0)
  })
})

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0)
}
