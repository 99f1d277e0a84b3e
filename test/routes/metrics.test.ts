/**
 * `GET /metrics` (src/routes/metrics.ts): the exposition itself, in-process and on a real server
 * checked by promtool. What the metrics stage records per request is test/http/metrics.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { createApp } from '../../src/app.ts'
import { testConfig } from '../../src/config.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir, testDeps, type TestDeps } from '../support/deps.ts'
import { promtool } from '../metrics/promtool.ts'

const samples = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
// On a real server the scrape may race the previous response's bookkeeping by a tick.
const settle = () => new Promise((r) => setTimeout(r, 20))

describe('GET /metrics (in-process, whole app)', () => {
  let t: TestDeps
  let app: ReturnType<typeof createApp>
  const call = (path: string, init?: RequestInit) => app.handle(new Request(`http://localhost${path}`, init))

  beforeAll(async () => {
    t = await testDeps()
    app = createApp(t.deps)
  })
  afterAll(() => t.close())

  test('GET /metrics answers the Prometheus text format', async () => {
    const res = await call('/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
    expect(await res.text()).toContain('# TYPE http_requests_total counter')
  })
})

describe('GET /metrics on a real server', () => {
  let srv: RunningServer
  const tmp = tempDir()
  beforeAll(async () => {
    srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1 }))
  })
  afterAll(async () => {
    await srv.shutdown()
    tmp.remove()
  })

  test('its output passes promtool check metrics with no errors or warnings', async () => {
    await fetch(`${srv.url}healthz`)
    await fetch(`${srv.url}no/such/path`)
    const task = await fetch(`${srv.url}tasks/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"hello":1}' })
    expect(task.status).toBe(200)
    await settle()
    const res = await fetch(`${srv.url}metrics`)
    expect(res.status).toBe(200)
    const text = await res.text()
    const check = await promtool(text)
    expect(check.output).toBe('')
    expect(check.code).toBe(0)
    expect(text).toContain('http_requests_total{method="GET",route="/healthz",status="200"} 1')
    expect(text).toContain('http_requests_total{method="GET",route="unmatched",status="404"} 1')
    // The scrape itself is in flight while the gauge is read.
    expect(samples(text, 'http_requests_in_flight')).toEqual(['http_requests_in_flight 1'])
    // Pool and job metrics from the real pool and job runner.
    expect(samples(text, 'pool_workers')).toEqual(['pool_workers 1'])
    expect(text).toContain('pool_tasks_total{task="echo",outcome="ok"} 1')
    expect(text).toContain('pool_task_run_seconds_count{task="echo"} 1')
    expect(text).toContain('jobs{state="queued"} 0')
    expect(text).toContain('process_resident_memory_bytes ')
    expect(text).toContain('nodejs_eventloop_lag_p99_seconds ')
  })
})
