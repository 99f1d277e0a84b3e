/**
 * bench/pool/starvation: what short requests get while long work holds the pool (docs/pool.md,
 * "Long runs and overflow workers"). A real server in-process (startServer, real pool, real
 * HTTP, default settings but the rate limit), per scenario and WORKERS:
 * - `sync`: one `POST /tasks/sleep {"ms":30000}` per worker, then short requests;
 * - `sync×3`: three per worker (more than the workers and overflow workers together);
 * - `jobs`: 2 × WORKERS long sleep jobs (JOB_CONCURRENCY's default), then short requests;
 * - `queued-jobs`: 16 jobs of 40 ms on the pool (JOB_CONCURRENCY=16), then one request: how
 *   many jobs it waits behind.
 * "Short requests" are 20 × `GET /api/cars/1` (80 ms deadline) and 20 × `POST /tasks/primes
 * {"n":1000}?timeoutMs=200`, sequential; the table gives their statuses and latencies, measured
 * once the hand-off had its time (`after`, 500 ms) and at once (`at once`: the first request
 * right behind the long work).
 *
 * A development aid, not part of `bun run bench`. `BASE=<checkout>` runs another checkout's
 * server instead (before/after):
 *
 * @example
 * ```sh
 * bun bench/pool/starvation.ts                    # this tree
 * BASE=/tmp/highperf-base bun bench/pool/starvation.ts
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { startServer as StartServer } from '../../src/server.ts'
import type { testConfig as TestConfig } from '../../src/config.ts'
import type { silentLogger as SilentLogger } from '../../src/log.ts'

const root = process.env.BASE ?? new URL('../..', import.meta.url).pathname
const { startServer } = (await import(`${root}/src/server.ts`)) as { startServer: typeof StartServer }
const { testConfig } = (await import(`${root}/src/config.ts`)) as { testConfig: typeof TestConfig }
const { silentLogger } = (await import(`${root}/src/log.ts`)) as { silentLogger: typeof SilentLogger }

type Scenario = 'sync' | 'sync×3' | 'jobs' | 'queued-jobs'

interface Sample { status: number; ms: number }

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN
}

async function sample(f: () => Promise<Response>): Promise<Sample> {
  const t0 = performance.now()
  const res = await f()
  await res.arrayBuffer()
  return { status: res.status, ms: performance.now() - t0 }
}

function summary(xs: Sample[]): string {
  const ok = xs.filter((x) => x.status === 200).length
  const ms = xs.map((x) => x.ms)
  return `${ok}/${xs.length} × 200, p50 ${pct(ms, 0.5).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms`
}

async function run(scenario: Scenario, workers: number, settleMs: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'highperf-starve-'))
  const srv = await startServer(testConfig({
    port: 0, host: '127.0.0.1', dataDir: join(dir, 'data'), filesDir: join(dir, 'files'), workers, rateLimitRps: 0, shutdownTimeout: 300,
    ...(scenario === 'queued-jobs' ? { jobConcurrency: 16 } : {}),
  }), { log: silentLogger() })
  const post = (path: string, body: unknown, signal?: AbortSignal) =>
    fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal ? { signal } : {}) })
  try {
    while (srv.deps.pool.stats().alive < workers) await Bun.sleep(5)
    await sample(() => fetch(`${srv.url}api/cars/1`)) // warm the route
    const ac = new AbortController()
    const ids: string[] = []
    if (scenario === 'sync' || scenario === 'sync×3') {
      const n = scenario === 'sync' ? workers : 3 * workers
      for (let i = 0; i < n; i++) void post('tasks/sleep', { ms: 30_000 }, ac.signal).catch(() => undefined)
    } else {
      const n = scenario === 'jobs' ? 2 * workers : 16
      const ms = scenario === 'jobs' ? 30_000 : 40
      for (let i = 0; i < n; i++) ids.push(((await (await post('jobs', { task: 'sleep', input: { ms }, timeoutMs: 60_000 })).json()) as { id: string }).id)
    }
    await Bun.sleep(settleMs)
    if (scenario === 'queued-jobs') {
      const xs = [await sample(() => post('tasks/primes', { n: 1000 }))]
      return `primes ${summary(xs)}`
    }
    const cars: Sample[] = []
    const primes: Sample[] = []
    for (let i = 0; i < 20; i++) {
      cars.push(await sample(() => fetch(`${srv.url}api/cars/1`)))
      primes.push(await sample(() => post('tasks/primes?timeoutMs=200', { n: 1000 })))
    }
    ac.abort()
    for (const id of ids) await fetch(`${srv.url}jobs/${id}`, { method: 'DELETE' })
    return `cars ${summary(cars)}; primes ${summary(primes)}`
  } finally {
    await srv.shutdown()
    rmSync(dir, { recursive: true, force: true })
  }
}

console.log(`# starvation (${process.env.BASE ? `BASE=${process.env.BASE}` : 'this tree'})`)
for (const workers of [2, 1]) {
  for (const scenario of ['sync', 'sync×3', 'jobs'] as const) {
    for (const [label, settle] of [['after 500 ms', 500], ['at once', 0]] as const) {
      console.log(`WORKERS=${workers} ${scenario.padEnd(6)} ${label.padEnd(12)}: ${await run(scenario, workers, settle)}`)
    }
  }
  console.log(`WORKERS=${workers} 16 queued 40 ms jobs: ${await run('queued-jobs', workers, 20)}`)
}
process.exit(0)
