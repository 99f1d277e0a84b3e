/**
 * Several server processes, one scrape (src/metrics/cluster.ts): what each metric does in the
 * merge (summed, or kept apart by its `process` label, or taken once), on prom-client's own merge
 * in-process and on a real node:cluster of two processes (cluster-fixture.ts); that a process
 * alone loads nothing of it; that a process which never joined fails the scrape with a clear error.
 */
import { describe, expect, test } from 'bun:test'
import { createMetrics, type Metrics } from '../../src/metrics/registry.ts'
import { loadAggregatorRegistry } from '../../src/metrics/prom.ts'
import type { PoolStats } from '../../src/pool/types.ts'
import { promtool } from './promtool.ts'

const ROOT = `${import.meta.dir}/../..`
const samples = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
// Per-process series come in the order the processes answered.
const sorted = (text: string, name: string): string[] => samples(text, name).sort()

const stats = (slot: number): PoolStats => ({
  workers: slot, alive: slot, queued: slot, running: 0, queueLimit: 100, utilization: slot === 1 ? [0.5] : [0.25, 0.75], restarts: slot,
  tasks: { echo: { ok: slot * 2, failed: 0, canceled: 0, timedOut: 0, queueWaitMs: { p50: 1, p90: 2, p99: 3 }, runMs: { p50: slot, p90: slot, p99: slot } } },
})

/** The same figures cluster-fixture.ts records in its child `slot`. */
function recorded(m: Metrics, slot: number): Metrics {
  const n = slot === 1 ? 3 : 5
  for (let i = 0; i < n; i++) m.http.record('GET', '/a', 200, slot === 1 ? 0.001 : 0.02)
  if (slot === 2) m.http.record('POST', '/b', 500, 0.3)
  for (let i = 0; i < slot; i++) m.rateLimited()
  m.shed('max_inflight')
  m.breakerState('GET /a', slot === 1 ? 'open' : 'closed')
  m.breakerRejected('GET /a')
  m.watchInflight(() => slot * 10)
  m.pool.watch(() => stats(slot))
  m.jobs.watch(() => ({ queued: 7, running: 2, succeeded: 40, failed: 1, canceled: 0 }))
  return m
}

/** What the merged text of the two recorded processes must say, whichever way it was merged. */
function expectMerged(text: string): void {
  // Counters and histograms: summed.
  expect(samples(text, 'http_requests_total')).toEqual([
    'http_requests_total{method="GET",route="/a",status="200"} 8',
    'http_requests_total{method="POST",route="/b",status="500"} 1',
  ])
  expect(text).toContain('http_request_duration_seconds_bucket{method="GET",route="/a",status="200",le="0.001"} 3')
  expect(text).toContain('http_request_duration_seconds_bucket{method="GET",route="/a",status="200",le="0.025"} 8')
  expect(text).toContain('http_request_duration_seconds_bucket{method="GET",route="/a",status="200",le="+Inf"} 8')
  expect(text).toContain('http_request_duration_seconds_count{method="GET",route="/a",status="200"} 8')
  expect(samples(text, 'http_rate_limit_rejections_total')).toEqual(['http_rate_limit_rejections_total 3'])
  expect(samples(text, 'http_requests_shed_total')).toEqual(['http_requests_shed_total{reason="max_inflight"} 2'])
  expect(samples(text, 'circuit_breaker_rejections_total')).toEqual(['circuit_breaker_rejections_total{route="GET /a"} 2'])
  expect(samples(text, 'pool_worker_restarts_total')).toEqual(['pool_worker_restarts_total 3'])
  expect(text).toContain('pool_tasks_total{task="echo",outcome="ok"} 6')
  // Per-process gauges and summaries: one series each, apart.
  expect(sorted(text, 'http_requests_in_flight')).toEqual(['http_requests_in_flight{process="1"} 10', 'http_requests_in_flight{process="2"} 20'])
  expect(sorted(text, 'circuit_breaker_state')).toEqual(['circuit_breaker_state{route="GET /a",process="1"} 2', 'circuit_breaker_state{route="GET /a",process="2"} 0'])
  expect(sorted(text, 'pool_workers')).toEqual(['pool_workers{process="1"} 1', 'pool_workers{process="2"} 2'])
  expect(sorted(text, 'pool_worker_utilization_ratio')).toEqual([
    'pool_worker_utilization_ratio{worker="0",process="1"} 0.5',
    'pool_worker_utilization_ratio{worker="0",process="2"} 0.25',
    'pool_worker_utilization_ratio{worker="1",process="2"} 0.75',
  ])
  expect(text).toContain('pool_task_run_seconds{task="echo",quantile="0.99",process="1"} 0.001')
  expect(text).toContain('pool_task_run_seconds{task="echo",quantile="0.99",process="2"} 0.002')
  expect(sorted(text, 'pool_task_run_seconds_count')).toEqual(['pool_task_run_seconds_count{task="echo",process="1"} 2', 'pool_task_run_seconds_count{task="echo",process="2"} 4'])
  expect(sorted(text, 'process_start_time_seconds').map((l) => l.split(' ')[0])).toEqual(['process_start_time_seconds{process="1"}', 'process_start_time_seconds{process="2"}'])
  expect(samples(text, 'process_resident_memory_bytes')).toHaveLength(2)
  // Host-wide job counts: once, not doubled.
  expect(samples(text, 'jobs')).toEqual(['jobs{state="queued"} 7', 'jobs{state="running"} 2', 'jobs{state="succeeded"} 40', 'jobs{state="failed"} 1', 'jobs{state="canceled"} 0'])
}

describe('metrics of a cluster, merged by prom-client in-process', () => {
  test('counters and histograms are summed, per-process series kept apart, job gauges taken once; promtool is clean', async () => {
    const a = recorded(createMetrics({ cluster: { slot: 1 } }), 1)
    const b = recorded(createMetrics({ cluster: { slot: 2 } }), 2)
    const AggregatorRegistry = loadAggregatorRegistry()
    const text = await AggregatorRegistry.aggregate([await a.registry.getMetricsAsJSON(), await b.registry.getMetricsAsJSON()]).metrics()
    expectMerged(text)
    const check = await promtool(text)
    expect(check.output).toBe('')
    expect(check.code).toBe(0)
  })

  test('alone: no process label anywhere and prom-client\'s cluster module is never loaded', async () => {
    const script = `
      const { createMetrics } = await import('./src/metrics/registry.ts')
      const m = createMetrics()
      m.watchInflight(() => 1)
      const text = await m.render()
      const loaded = Object.keys(require.cache).filter((k) => k.includes('prom-client/lib/cluster') || k.includes('metricAggregators'))
      console.log(JSON.stringify({ loaded, hasProcessLabel: text.includes('process="') }))`
    const proc = Bun.spawn([process.execPath, '-e', script], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited])
    expect(code).toBe(0)
    expect(JSON.parse(out)).toEqual({ loaded: [], hasProcessLabel: false })
  })
})

/** Runs the fixture: a node:cluster primary and two children; one JSON line back. */
async function runFixture(...args: string[]): Promise<{ text?: string; ms?: number[]; error?: string; afterMs?: number }> {
  const proc = Bun.spawn([process.execPath, 'test/metrics/cluster-fixture.ts', ...args], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  const killer = setTimeout(() => proc.kill('SIGKILL'), 30_000)
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  clearTimeout(killer)
  if (code !== 0) throw new Error(`fixture exited ${code}: ${err}`)
  return JSON.parse(out) as { text?: string; error?: string; afterMs?: number }
}

describe('metrics of a real 2-process node:cluster (cluster-fixture.ts)', () => {
  test('the primary\'s aggregateClusterMetrics() sums, merges buckets, keeps processes apart; promtool is clean', async () => {
    const out = await runFixture('join', '10000')
    expect(out.error).toBeUndefined()
    const text = out.text ?? ''
    expectMerged(text)
    const check = await promtool(text)
    expect(check.output).toBe('')
    expect(check.code).toBe(0)
  }, 40_000)

  test('a child that never joined (no AggregatorRegistry) fails the merge with a clear error at our timeout, not prom-client\'s 5 s', async () => {
    const out = await runFixture('no-join', '1000')
    expect(out.text).toBeUndefined()
    expect(out.error).toContain('not every server process answered within 1000 ms')
    expect(out.afterMs).toBeGreaterThanOrEqual(900)
    expect(out.afterMs).toBeLessThan(4500)
  }, 40_000)
})
