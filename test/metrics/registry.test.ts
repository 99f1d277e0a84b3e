import { describe, expect, test } from 'bun:test'
import { createMetrics } from '../../src/metrics/registry.ts'
import type { PoolStats } from '../../src/pool/types.ts'
import { promtool } from './promtool.ts'

const stats = (over: Partial<PoolStats> = {}): PoolStats => ({
  workers: 2, alive: 2, queued: 3, running: 1, queueLimit: 1024, utilization: [0.5, 0.25], restarts: 1,
  tasks: {
    echo: { ok: 5, failed: 1, canceled: 2, timedOut: 0, queueWaitMs: { p50: 1, p90: 2, p99: 3 }, runMs: { p50: 4, p90: 5, p99: 60 } },
  },
  ...over,
})

const line = (text: string, prefix: string): string | undefined => text.split('\n').find((l) => l.startsWith(prefix))

describe('createMetrics', () => {
  test('every metric renders and passes promtool check metrics without errors or lint warnings', async () => {
    const m = createMetrics()
    m.http.record('GET', '/users/:id', 200, 0.002)
    m.http.record('GET', 'unmatched', 404, 0.0001)
    m.rateLimited()
    m.shed('queue_full')
    m.timedOut('/users/:id')
    m.breakerState('/users/:id', 'half_open')
    m.breakerRejected('/users/:id')
    m.watchInflight(() => 4)
    m.pool.watch(() => stats())
    m.jobs.watch(() => ({ queued: 2, running: 1 }))
    const text = await m.render()
    const check = await promtool(text)
    expect(check.output).toBe('')
    expect(check.code).toBe(0)
    for (const name of ['http_requests_total', 'http_request_duration_seconds', 'http_requests_in_flight', 'http_rate_limit_rejections_total',
      'http_requests_shed_total', 'http_request_timeouts_total', 'circuit_breaker_state', 'circuit_breaker_rejections_total',
      'pool_workers', 'pool_queue_depth', 'pool_tasks_total', 'pool_task_run_seconds', 'jobs', 'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds']) {
      expect(text).toContain(`# TYPE ${name} `)
    }
  })

  test('helpers set the documented series', async () => {
    const m = createMetrics({ defaults: false })
    m.rateLimited(); m.rateLimited()
    m.shed('max_inflight')
    m.breakerState('/a', 'open')
    m.breakerState('/b', 'closed')
    m.watchInflight(() => 7)
    const text = await m.render()
    expect(line(text, 'http_rate_limit_rejections_total ')).toBe('http_rate_limit_rejections_total 2')
    expect(line(text, 'http_requests_shed_total{')).toBe('http_requests_shed_total{reason="max_inflight"} 1')
    expect(line(text, 'circuit_breaker_state{route="/a"}')).toBe('circuit_breaker_state{route="/a"} 2')
    expect(line(text, 'circuit_breaker_state{route="/b"}')).toBe('circuit_breaker_state{route="/b"} 0')
    expect(line(text, 'http_requests_in_flight ')).toBe('http_requests_in_flight 7')
  })

  test('pool and job metrics come from the sources at scrape time, one stats() call per scrape', async () => {
    const m = createMetrics({ defaults: false })
    let calls = 0
    let queued = 3
    m.pool.watch(() => { calls++; return stats({ queued }) })
    m.jobs.watch(async () => ({ succeeded: 9 }))
    let text = await m.render()
    expect(calls).toBe(1)
    expect(line(text, 'pool_queue_depth ')).toBe('pool_queue_depth 3')
    expect(line(text, 'pool_worker_utilization_ratio{worker="1"}')).toBe('pool_worker_utilization_ratio{worker="1"} 0.25')
    expect(line(text, 'pool_tasks_total{task="echo",outcome="canceled"}')).toBe('pool_tasks_total{task="echo",outcome="canceled"} 2')
    expect(line(text, 'pool_task_run_seconds{task="echo",quantile="0.99"}')).toBe('pool_task_run_seconds{task="echo",quantile="0.99"} 0.06')
    expect(line(text, 'pool_task_run_seconds_count{task="echo"}')).toBe('pool_task_run_seconds_count{task="echo"} 8')
    expect(line(text, 'jobs{state="succeeded"}')).toBe('jobs{state="succeeded"} 9')
    expect(line(text, 'jobs{state="queued"}')).toBe('jobs{state="queued"} 0')
    queued = 11
    text = await m.render()
    expect(calls).toBe(2)
    expect(line(text, 'pool_queue_depth ')).toBe('pool_queue_depth 11')
  })

  test('without sources the pool gauges read 0, jobs and tasks have no samples, and promtool passes', async () => {
    const m = createMetrics({ defaults: false })
    const text = await m.render()
    expect(line(text, 'pool_queue_depth ')).toBe('pool_queue_depth 0')
    expect(text).not.toContain('pool_tasks_total{')
    expect(text).not.toContain('jobs{')
    expect((await promtool(text)).code).toBe(0)
  })

  test('two instances never share series (no global registry)', async () => {
    const a = createMetrics()
    const b = createMetrics()
    a.http.record('GET', '/only-a', 200, 0.001)
    expect(await a.render()).toContain('route="/only-a"')
    expect(await b.render()).not.toContain('route="/only-a"')
  })

  test('registry.resetMetrics() clears the HTTP series too', async () => {
    const m = createMetrics({ defaults: false })
    m.http.record('GET', '/x', 200, 0.001)
    m.registry.resetMetrics()
    expect(await m.render()).not.toContain('route="/x"')
  })
})
