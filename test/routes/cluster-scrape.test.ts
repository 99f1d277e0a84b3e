/**
 * `GET /metrics` and `GET /pool` in one server process of a cluster (`PROCESSES=2`, slot 1), the
 * other process and the primary played by `memoryHub(2)`: the scrape serves the primary's merged
 * text or a 503 `metrics_unavailable` (never this process's own figures), and `/pool` answers the
 * host's totals plus every process that answered; so does the status page's `/status/json`.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApp } from '../../src/app.ts'
import { memoryHub, type BusData } from '../../src/cluster/bus.ts'
import type { PoolStats } from '../../src/pool/types.ts'
import type { StatusSnapshot } from '../../src/routes/status/snapshot.ts'
import { testDeps, type TestDeps } from '../support/deps.ts'

const MERGED = '# HELP http_requests_total Finished HTTP requests\n# TYPE http_requests_total counter\nhttp_requests_total{method="GET",route="/a",status="200"} 8\n'

// What the primary does: per test, answer with the merged text, throw (its timeout), or answer nothing.
let primary: (topic: string) => BusData = () => MERGED
const asked: string[] = []
const [one, two] = memoryHub(2, (topic) => {
  asked.push(topic)
  return primary(topic)
})

const otherPool: PoolStats & { pid: number } = {
  pid: 4242, workers: 3, alive: 3, queued: 4, running: 1, queueLimit: 50, utilization: [0.1, 0.2, 0.3], restarts: 2, overflow: 1, longRuns: 1,
  tasks: { primes: { ok: 10, failed: 1, canceled: 0, timedOut: 1, queueWaitMs: { p50: 5, p90: 6, p99: 70 }, runMs: { p50: 1, p90: 2, p99: 3 } } },
}
let otherAnswers = true
const otherStatus: StatusSnapshot = {
  at: 0,
  pool: { workers: 3, alive: 3, running: 1, queued: 4, queueLimit: 50, restarts: 2, overflow: 1, longRuns: 1, utilization: [0.1, 0.2, 0.3] },
  tasks: [{ name: 'primes', ok: 10, failed: 1, canceled: 0, timedOut: 1, runMs: { p50: 1, p90: 2, p99: 3 }, queueWaitMs: { p50: 5, p90: 6, p99: 70 } }],
  // A stale read of the same shared jobs.sqlite: the merge takes the first process's set.
  jobs: { queued: 99, running: 99, succeeded: 99, failed: 99, canceled: 99 },
  http: { requests: 1000, clientErrors: 10, serverErrors: 1 },
}

let t: TestDeps
let app: ReturnType<typeof createApp>
const call = (path: string) => app.handle(new Request(`http://localhost${path}`))

beforeAll(async () => {
  two!.answer('pool-stats', () => {
    if (!otherAnswers) throw new Error('restarting')
    return otherPool as unknown as BusData
  })
  two!.answer('status', () => otherStatus as unknown as BusData)
  t = await testDeps({ processes: 2, clusterSlot: 1, workers: 2, rateLimitRps: 0 }, { bus: one })
  app = createApp(t.deps)
})
afterAll(() => t.close())

describe('GET /metrics in a cluster', () => {
  test('serves the merged text the primary returns for the topic "metrics"', async () => {
    primary = () => MERGED
    asked.length = 0
    const res = await call('/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
    expect(await res.text()).toBe(MERGED)
    expect(asked).toEqual(['metrics'])
  })

  test('the primary not answering in time is a 503 metrics_unavailable with the envelope, not this process\'s figures', async () => {
    primary = () => { throw new Error('no answer from the primary within 5000 ms') }
    const res = await call('/metrics')
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    const body = (await res.json()) as { error: { code: string; message: string; requestId: string } }
    expect(body.error.code).toBe('metrics_unavailable')
    expect(body.error.requestId).toBeTruthy()
  })

  test('an answer that is not metrics text is a 503 too', async () => {
    primary = () => null
    const res = await call('/metrics')
    expect(res.status).toBe(503)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('metrics_unavailable')
  })

  test('this process\'s own registry labels its per-process series with its slot', async () => {
    const own = await t.deps.metrics.render()
    expect(own).toContain('http_requests_in_flight{process="1"} ')
    expect(own).toContain('pool_workers{process="1"} 2')
    expect(own).toMatch(/^http_requests_total\{method="GET",route="\/metrics",status="(200|503)"\} \d+$/m)
  })
})

describe('GET /pool in a cluster', () => {
  type Body = PoolStats & { processes: Array<PoolStats & { process: number; pid: number }> }

  test('answers the host\'s totals and every process, in slot order', async () => {
    otherAnswers = true
    for (let i = 0; i < 500 && t.deps.pool.stats().alive < 2; i++) await Bun.sleep(10)
    for (let i = 0; i < 3; i++) await app.handle(new Request('http://localhost/tasks/primes', { method: 'POST', body: '{"n":1000}' }))
    const res = await call('/pool')
    expect(res.status).toBe(200)
    const s = (await res.json()) as Body
    expect(s.processes.map((p) => [p.process, p.pid])).toEqual([[1, process.pid], [2, 4242]])
    const mine = s.processes[0]!
    expect(mine.workers).toBe(2)
    expect(mine.tasks.primes?.ok).toBe(3)
    expect(s.workers).toBe(5)
    expect(s.alive).toBe(mine.alive + 3)
    expect(s.queueLimit).toBe(mine.queueLimit + 50)
    expect(s.restarts).toBe(mine.restarts + 2)
    expect(s.utilization).toEqual([...mine.utilization, 0.1, 0.2, 0.3])
    expect(s.tasks.primes?.ok).toBe(13)
    expect(s.tasks.primes?.failed).toBe(1)
    expect(s.tasks.primes?.timedOut).toBe(1)
    // Percentiles do not add up: the highest of the processes'.
    expect(s.tasks.primes?.queueWaitMs.p99).toBe(Math.max(70, mine.tasks.primes?.queueWaitMs.p99 ?? 0))
  })

  test('a process that does not answer is left out of the list and the totals', async () => {
    otherAnswers = false
    const s = (await (await call('/pool')).json()) as Body
    expect(s.processes.map((p) => p.process)).toEqual([1])
    expect(s.workers).toBe(2)
    otherAnswers = true
  })
})

describe('GET /status/json in a cluster', () => {
  test('answers the host: every process\'s snapshot merged, job counts once', async () => {
    const own = (await (await call('/status/json')).json()) as StatusSnapshot
    expect(own.processes).toBe(2)
    const mine = t.deps.pool.stats()
    expect(own.pool.workers).toBe(mine.workers + 3)
    expect(own.pool.utilization.slice(-3)).toEqual([0.1, 0.2, 0.3])
    expect(own.http.requests).toBeGreaterThanOrEqual(1000 + 3)
    expect(own.http.serverErrors).toBeGreaterThanOrEqual(1)
    expect(own.tasks.find((x) => x.name === 'primes')?.ok).toBe(13)
    expect(own.jobs).toEqual(t.deps.jobs.counts())
  })
})
