/**
 * The status page over real HTTP: the page and its assets under a strict CSP with no inline code,
 * `/status/json` reading the pool, the jobs runner and the HTTP series (and moving when tasks run),
 * its route policy (open like /metrics, even with AUTH_READS; not rate limited), and its assets
 * embedded by `bun build --compile` (a compiled binary alone in an empty directory serves them).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import type { StatusSnapshot } from '../../src/routes/status/snapshot.ts'
import { tempDir } from '../support/deps.ts'

const ROOT = resolve(import.meta.dir, '../..')
const STATUS_DIR = join(ROOT, 'src/routes/status')

async function serve(overrides: Parameters<typeof testConfig>[0] = {}): Promise<{ srv: RunningServer; close(): Promise<void> }> {
  const tmp = tempDir('highperf-status-')
  const srv = await startServer(
    testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 2, ...overrides }),
    { log: silentLogger() },
  )
  return { srv, close: async () => { await srv.shutdown(); tmp.remove() } }
}

describe('GET /status and its assets', () => {
  let s: Awaited<ReturnType<typeof serve>>
  beforeAll(async () => { s = await serve() })
  afterAll(() => s.close())

  test('the page is HTML with a strict CSP, no framing, nosniff, and neither inline script nor inline style', async () => {
    const res = await fetch(`${s.srv.url}status`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("style-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    const html = await res.text()
    // Every script is an external, same-origin file; no <style> element, no style="" or on*="" attribute.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
    expect(scripts.length).toBe(1)
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\bsrc="\/status\/assets\/status\.js"/)
      expect(body?.trim()).toBe('')
    }
    expect(html).not.toMatch(/<style\b/i)
    expect(html).not.toMatch(/\sstyle=/i)
    expect(html).not.toMatch(/\son[a-z]+=/i)
    expect(html).not.toMatch(/https?:\/\//) // no CDN, no external anything
  })

  test('serves the script and the stylesheet byte for byte, with types, the CSP, and 304 on the ETag', async () => {
    for (const [name, type] of [['status.js', 'text/javascript; charset=utf-8'], ['status.css', 'text/css; charset=utf-8']] as const) {
      const res = await fetch(`${s.srv.url}status/assets/${name}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe(type)
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      const source = name === 'status.js' ? 'client.js' : 'status.css'
      expect(await res.text()).toBe(readFileSync(join(STATUS_DIR, source), 'utf8'))
      const etag = res.headers.get('etag') ?? ''
      expect(etag).toMatch(/^"[0-9a-z]+"$/)
      const again = await fetch(`${s.srv.url}status/assets/${name}`, { headers: { 'if-none-match': etag } })
      expect(again.status).toBe(304)
      expect(await again.text()).toBe('')
    }
  })

  test('an unknown asset is a JSON 404, not a file read', async () => {
    for (const path of ['status/assets/client.js', 'status/assets/..%2Findex.ts', 'status/assets/']) {
      const res = await fetch(`${s.srv.url}${path}`)
      expect(res.status).toBe(404)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('route_not_found')
    }
  })
})

describe('GET /status/json', () => {
  let s: Awaited<ReturnType<typeof serve>>
  beforeAll(async () => { s = await serve({ rateLimitRps: 1, rateLimitBurst: 2 }) })
  afterAll(() => s.close())
  const snapshot = async () => {
    const res = await fetch(`${s.srv.url}status/json`)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    return (await res.json()) as StatusSnapshot
  }

  test('reads the pool, the tasks, the jobs and the HTTP counts, and they move when tasks run', async () => {
    for (let i = 0; i < 500 && (await snapshot()).pool.alive < 2; i++) await Bun.sleep(10)
    const before = await snapshot()
    expect(before.pool.workers).toBe(2)
    expect(before.pool.utilization).toHaveLength(2)
    expect(Object.keys(before.jobs).sort()).toEqual(['canceled', 'failed', 'queued', 'running', 'succeeded'])
    expect(before.http.requests).toBe(0) // the polls above are the page's own: not counted
    expect(Math.abs(before.at - Date.now())).toBeLessThan(5_000)

    // 3 tasks, 1 bad input (422), within the burst of 2 per client... so one more is a 429.
    const runs = await Promise.all([1, 2].map(() => fetch(`${s.srv.url}tasks/primes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":20000}' })))
    expect(runs.map((r) => r.status)).toEqual([200, 200])
    const limited = await fetch(`${s.srv.url}tasks/primes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' })
    expect(limited.status).toBe(429)

    const after = await snapshot()
    const primes = after.tasks.find((t) => t.name === 'primes')
    expect(primes?.ok).toBe(2)
    expect(primes?.runMs.p99).toBeGreaterThanOrEqual(primes?.runMs.p50 ?? Infinity)
    expect(after.http.requests).toBe(3)
    expect(after.http.clientErrors).toBe(1)
    expect(after.http.serverErrors).toBe(0)
    expect(after.at).toBeGreaterThanOrEqual(before.at)
  })

  test('is not rate limited: a viewer polling it never uses up the client\'s budget', async () => {
    const codes = await Promise.all(Array.from({ length: 10 }, () => fetch(`${s.srv.url}status/json`).then((r) => r.status)))
    expect(codes.every((c) => c === 200)).toBe(true)
  })
})

describe('with API_TOKEN and AUTH_READS', () => {
  let s: Awaited<ReturnType<typeof serve>>
  beforeAll(async () => { s = await serve({ apiToken: 's3cret-token', authReads: true }) })
  afterAll(() => s.close())

  test('the page and its figures stay open like /metrics, while GET /pool needs the token', async () => {
    expect((await fetch(`${s.srv.url}pool`)).status).toBe(401)
    expect((await fetch(`${s.srv.url}metrics`)).status).toBe(200)
    for (const path of ['status', 'status/json', 'status/assets/status.js', 'status/assets/status.css']) {
      expect({ path, status: (await fetch(`${s.srv.url}${path}`)).status }).toEqual({ path, status: 200 })
    }
  })
})

describe('embedding', () => {
  test('the assets are imported as files, the way `bun build --compile` embeds them', () => {
    const source = readFileSync(join(STATUS_DIR, 'index.ts'), 'utf8')
    expect(source).toContain("import clientFile from './client.js' with { type: 'file' }")
    expect(source).toContain("import cssFile from './status.css' with { type: 'file' }")
  })

  test('a compiled binary alone in an empty directory serves them byte for byte', async () => {
    const tmp = tempDir('highperf-status-bin-')
    try {
      const entry = join(tmp.dir, 'entry.ts')
      await Bun.write(entry, [
        `import { Elysia } from ${JSON.stringify(Bun.resolveSync('elysia', ROOT))}`,
        `import { statusRoutes } from ${JSON.stringify(join(STATUS_DIR, 'index.ts'))}`,
        `const zero = { p50: 0, p90: 0, p99: 0 }`,
        `const app = new Elysia().use(statusRoutes({`,
        `  pool: { stats: () => ({ workers: 1, alive: 1, queued: 0, running: 0, queueLimit: 8, utilization: [0.5], restarts: 0, tasks: { primes: { ok: 1, failed: 0, canceled: 0, timedOut: 0, queueWaitMs: zero, runMs: zero } } }) },`,
        `  jobs: { counts: () => ({ queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 }) },`,
        `  metrics: { http: { entries: function* () {} } } as never,`,
        `}))`,
        `const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: app.fetch })`,
        `console.log(server.port)`,
      ].join('\n'))
      const runDir = join(tmp.dir, 'run')
      const binary = join(runDir, 'status-bin')
      const b = Bun.spawnSync([process.execPath, 'build', '--compile', entry, '--outfile', binary], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
      if (b.exitCode !== 0) throw new Error(`build failed: ${b.stderr.toString()}`)
      expect(readdirSync(runDir)).toEqual(['status-bin'])
      // Moved away from the sources' tree: a path read from disk would not resolve.
      const alone = join(tempDir('highperf-status-alone-').dir, 'status-bin')
      copyFileSync(binary, alone)
      Bun.spawnSync(['chmod', '755', alone])
      const proc = Bun.spawn([alone], { cwd: resolve(alone, '..'), stdout: 'pipe', stderr: 'pipe' })
      try {
        const reader = proc.stdout.getReader()
        const { value } = await reader.read()
        const port = Number(new TextDecoder().decode(value).trim())
        expect(port).toBeGreaterThan(0)
        const base = `http://127.0.0.1:${port}`
        expect(await (await fetch(`${base}/status/assets/status.js`)).text()).toBe(readFileSync(join(STATUS_DIR, 'client.js'), 'utf8'))
        expect(await (await fetch(`${base}/status/assets/status.css`)).text()).toBe(readFileSync(join(STATUS_DIR, 'status.css'), 'utf8'))
        expect((await fetch(`${base}/status`)).status).toBe(200)
        const snap = (await (await fetch(`${base}/status/json`)).json()) as StatusSnapshot
        expect(snap.pool.utilization).toEqual([0.5])
      } finally {
        proc.kill('SIGKILL')
        await proc.exited
        tmp.remove()
        Bun.spawnSync(['rm', '-rf', resolve(alone, '..')])
      }
    } catch (e) {
      tmp.remove()
      throw e
    }
  }, 120_000)
})
