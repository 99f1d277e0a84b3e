// users.sqlite shared by real server processes (REUSE_PORT=true: SQLITE_LOCKING=auto opens it
// shared). Writes go through the group commit (src/store/group-commit.ts): a batch that finds
// another process's lock waits for it off the event loop (at most 5 ms blocked per try), up to
// SHARED_WRITE_WAIT_MS (1 s), then answers 503 storage_busy with Retry-After, never a 500; the
// event loop is never frozen by the wait.
import { afterAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, spawnHighperf, waitHealthy, type Spawned } from '../support/process.ts'

const ROOT = join(import.meta.dir, '..', '..')
const cleanup: (() => void)[] = []
afterAll(() => { for (const c of cleanup.reverse()) c() })

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'highperf-shared-'))
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** `n` servers on one DATA_DIR, each on its own port, all up. */
async function servers(dir: string, n: number): Promise<{ urls: string[]; procs: Spawned[] }> {
  const ports = Array.from({ length: n }, () => freePort())
  const procs = ports.map((port) => spawnHighperf([process.execPath, 'run', 'src/main.ts'], {
    PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dir, REUSE_PORT: 'true', RATE_LIMIT_RPS: '0', LOG_LEVEL: 'warn', ACCESS_LOG: 'off', WORKERS: '1',
  }, ROOT))
  for (const p of procs) cleanup.push(() => p.proc.kill('SIGKILL'))
  const urls = ports.map((p) => `http://127.0.0.1:${p}`)
  for (const [i, p] of procs.entries()) await waitHealthy(`${urls[i]}/healthz`, p.proc)
  return { urls, procs }
}

const post = (url: string, i: number, email = `u${i}-${Math.random().toString(36).slice(2)}@example.com`) => fetch(`${url}/users`, {
  method: 'POST', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ name: `user ${i}`, email }),
})

/**
 * Polls each url's /healthz every 20 ms for `ms` from a process of its own (this one is busy
 * sending the load): resolves with every answer's latency, ms, per url.
 */
async function pollElsewhere(urls: string[], ms: number): Promise<number[][]> {
  const script = `
    const urls = ${JSON.stringify(urls)}
    const end = performance.now() + ${ms}
    const out = await Promise.all(urls.map(async (url) => {
      const l = []
      while (performance.now() < end) {
        const t = performance.now()
        const res = await fetch(url + '/healthz')
        await res.arrayBuffer()
        if (res.status !== 200) throw new Error('/healthz answered ' + res.status)
        l.push(performance.now() - t)
        await Bun.sleep(20)
      }
      return l
    }))
    console.log(JSON.stringify(out))
  `
  const p = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'inherit' })
  const text = await new Response(p.stdout).text()
  if ((await p.exited) !== 0) throw new Error('the /healthz poller failed')
  return JSON.parse(text) as number[][]
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN

describe('users.sqlite shared by two processes', () => {
  test('a write that meets a lock held too long answers 503 storage_busy after 1 s, and /healthz keeps answering meanwhile', async () => {
    const dir = dataDir()
    const { urls: [url] } = await servers(dir, 1)
    // Another process holds the write lock (here: this test's connection), far longer than a
    // statement would.
    const other = new Database(join(dir, 'users.sqlite'))
    cleanup.push(() => other.close())
    other.run('BEGIN IMMEDIATE')
    const polled = pollElsewhere([url as string], 2500)
    try {
      await Bun.sleep(200)
      // Writes keep arriving while the lock is held: each batch tries again every few ms.
      const t = performance.now()
      const answers = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
        await Bun.sleep(i * 100)
        const res = await post(url as string, i)
        return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code, retryAfter: res.headers.get('retry-after') }
      }))
      const took = performance.now() - t
      expect(answers).toEqual(Array.from({ length: 8 }, () => ({ status: 503, code: 'storage_busy', retryAfter: '1' })))
      // The batch waited the 1 s of SHARED_WRITE_WAIT_MS (writes arriving meanwhile join it and are
      // answered with it; generous bound for a loaded machine), not the 5 s of the open.
      expect(took).toBeGreaterThanOrEqual(950)
      expect(took).toBeLessThan(4000)
      // /healthz kept answering: a try blocks the loop 5 ms at most. Before the group commit each
      // write blocked it the 100 ms busy timeout, with 8 writes queued: 100-800 ms.
      const latencies = (await polled)[0] ?? []
      expect(latencies.length).toBeGreaterThan(20)
      expect(quantile(latencies, 0.5)).toBeLessThan(50)
      expect(quantile(latencies, 0.9)).toBeLessThan(90)
    } finally {
      other.run('ROLLBACK')
    }
    const res = await post(url as string, 2) // the lock is gone: writes work again, no restart
    expect(res.status).toBe(201)
  }, 30_000)

  test('two processes hammering POST /users: every 201 readable from the other, one 201 per email sent to both, no 5xx but a rare 503, /healthz never frozen', async () => {
    const dir = dataDir()
    const { urls } = await servers(dir, 2)
    const SECONDS = 3
    const polled = pollElsewhere(urls, SECONDS * 1000)
    const accepted: { id: number; email: string; from: number }[] = []
    const statuses = new Map<number, number>()
    const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1)
    const unexpected: string[] = []
    const end = performance.now() + SECONDS * 1000
    let n = 0
    // Unique emails from 8 connections per process…
    const unique = urls.flatMap((url, from) => Array.from({ length: 8 }, async () => {
      while (performance.now() < end) {
        const res = await post(url, n++)
        count(res.status)
        const body = await res.json() as { id: number; email: string; error?: { code: string } }
        if (res.status === 201) accepted.push({ id: body.id, email: body.email, from })
        else if (res.status !== 503 || body.error?.code !== 'storage_busy' || res.headers.get('retry-after') !== '1') unexpected.push(`${res.status} ${JSON.stringify(body)}`)
      }
    }))
    // …and, meanwhile, one email at a time sent 3 times to each process at once, in other cases:
    // exactly one 201 across both, 409 conflict for the rest (503 tolerated, never a second 201).
    const duplicates: { email: string; statuses: number[] }[] = []
    const dups = (async () => {
      for (let k = 0; performance.now() < end; k++) {
        const email = `dup${k}@example.com`
        const cases = [email, email.toUpperCase(), `Dup${k}@Example.com`]
        const answers = await Promise.all(urls.flatMap((url, from) => cases.map(async (e) => {
          const res = await post(url, k, e)
          const body = await res.json() as { id: number; email: string }
          if (res.status === 201) accepted.push({ id: body.id, email: body.email, from })
          return res.status
        })))
        duplicates.push({ email, statuses: answers.sort() })
        await Bun.sleep(20)
      }
    })()
    await Promise.all([...unique, dups])
    const healthz = await polled
    expect(unexpected).toEqual([])
    expect([...statuses.keys()].filter((s) => s !== 201 && s !== 503)).toEqual([])
    expect(accepted.length).toBeGreaterThan(100)
    expect(duplicates.length).toBeGreaterThan(10)
    for (const d of duplicates) {
      expect(d.statuses.filter((s) => s === 201).length).toBeLessThanOrEqual(1)
      expect(d.statuses.filter((s) => s !== 201 && s !== 409 && s !== 503)).toEqual([])
    }
    // 503 only when a batch waited a whole second for the lock: rare, not the rule.
    const busy = (statuses.get(503) ?? 0) + duplicates.flatMap((d) => d.statuses).filter((s) => s === 503).length
    expect(busy).toBeLessThan(accepted.length / 100)
    expect(duplicates.filter((d) => d.statuses.join() === '201,409,409,409,409,409').length).toBeGreaterThanOrEqual(duplicates.length - busy)
    expect(new Set(accepted.map((u) => u.id)).size).toBe(accepted.length) // one id space
    // Every write one process accepted is there for the other one.
    for (let i = 0; i < accepted.length; i += 32) {
      await Promise.all(accepted.slice(i, i + 32).map(async (u) => {
        const res = await fetch(`${urls[1 - u.from]}/users/${u.id}`)
        expect(res.status).toBe(200)
        expect(((await res.json()) as { email: string }).email).toBe(u.email)
      }))
    }
    // The writing processes' loops never froze for long: /healthz answered within 100 ms 95 times
    // in 100 (p95, not p99: at a load average of 4 a p99 of 106 ms was measured, CPU contention and
    // checkpoints rather than locks). This is a sanity bound; the test above is the one that tells
    // a loop-blocking lock wait (the 100 ms busy timeout before the group commit) from a free loop.
    // Measured 2026-12-03: p95 7-20 ms, p99 14-61 ms; before the group commit p95 22-63, p99 44-139 ms.
    for (const l of healthz) {
      console.log(`/healthz while two processes write: p50 ${quantile(l, 0.5).toFixed(1)} ms, p95 ${quantile(l, 0.95).toFixed(1)} ms, p99 ${quantile(l, 0.99).toFixed(1)} ms`)
      expect(l.length).toBeGreaterThan(30)
      expect(quantile(l, 0.95)).toBeLessThan(100)
    }
  }, 60_000)
})
