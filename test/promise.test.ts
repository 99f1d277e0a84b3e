/**
 * The promise of highperf, tested: CPU work never blocks the event loop. While every worker runs a
 * ~2-second CPU task, GET /healthz still answers within 200 ms. The same probe against a server
 * that computes inline (bench/tasks-http/inline.ts) waits for the task to finish, which shows
 * this test can fail.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startServer, type RunningServer } from '../src/server.ts'
import { testConfig } from '../src/config.ts'
import { silentLogger } from '../src/log.ts'
import { countPrimesBelow } from '../src/tasks/primes.ts'
import { freePort, spawnHighperf, waitHealthy } from './support/process.ts'
import { tempDir } from './support/deps.ts'

const WORKERS = 2
const TARGET_MS = 2000

/** The n for which `primes` takes about TARGET_MS on this machine (measured, so load does not fool it). */
function calibrate(): number {
  countPrimesBelow(5_000_000)
  const n0 = 20_000_000
  const t0 = performance.now()
  countPrimesBelow(n0)
  const ms = Math.max(1, performance.now() - t0)
  return Math.min(1_000_000_000, Math.round((n0 * TARGET_MS) / ms))
}

async function timedHealthz(base: string): Promise<number> {
  const t0 = performance.now()
  const res = await fetch(`${base}healthz`)
  expect(await res.text()).toBe('ok')
  return performance.now() - t0
}

describe('the promise: CPU never blocks the event loop', () => {
  let srv: RunningServer
  let dir: { dir: string; remove(): void }
  let n: number
  beforeAll(async () => {
    n = calibrate()
    dir = tempDir()
    srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', workers: WORKERS, dataDir: dir.dir, rateLimitRps: 0 }), { log: silentLogger() })
  })
  afterAll(async () => {
    await srv.shutdown()
    dir.remove()
  })

  test(`GET /healthz answers within 200 ms while all ${WORKERS} workers run a ~2 s CPU task`, async () => {
    let finished = 0
    const busy = Array.from({ length: WORKERS }, () =>
      fetch(`${srv.url}tasks/primes`, { method: 'POST', body: JSON.stringify({ n }) }).then(async (r) => {
        finished++
        return { status: r.status, body: await r.json() }
      }))
    // Wait until both tasks are on workers (GET /pool is itself answered by the main thread).
    for (let i = 0; i < 200; i++) {
      const s = (await (await fetch(`${srv.url}pool`)).json()) as { running: number }
      if (s.running === WORKERS) break
      await Bun.sleep(10)
    }
    const latencies: number[] = []
    for (let i = 0; i < 10 && finished === 0; i++) {
      latencies.push(await timedHealthz(srv.url))
      await Bun.sleep(50)
    }
    // The probes overlapped the CPU work: no task had finished when they were done.
    expect(finished).toBe(0)
    expect(latencies.length).toBeGreaterThanOrEqual(5)
    for (const ms of latencies) expect(ms).toBeLessThan(200)
    for (const r of await Promise.all(busy)) {
      expect(r.status).toBe(200)
      expect((r.body as { n: number; count: number }).n).toBe(n)
    }
  }, 30_000)

  test('control: a server computing inline cannot answer /healthz until its task is done', async () => {
    const port = freePort()
    const spawned = spawnHighperf([process.execPath, 'bench/tasks-http/inline.ts'], { PORT: String(port) })
    try {
      const base = `http://127.0.0.1:${port}/`
      await waitHealthy(`${base}healthz`, spawned.proc)
      const busy = fetch(`${base}tasks/primes`, { method: 'POST', body: JSON.stringify({ n }) })
      await Bun.sleep(100)
      const ms = await timedHealthz(base)
      expect(ms).toBeGreaterThan(500)
      expect((await busy).status).toBe(200)
    } finally {
      spawned.proc.kill('SIGTERM')
      await spawned.output()
    }
  }, 30_000)
})
