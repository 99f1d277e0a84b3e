import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApp } from '../../src/app.ts'
import { testDeps, type TestDeps } from '../support/deps.ts'

let t: TestDeps
let app: ReturnType<typeof createApp>

beforeAll(async () => {
  t = await testDeps({ workers: 2, rateLimitRps: 0, queueLimit: 77 })
  app = createApp(t.deps)
})
afterAll(() => t.close())

describe('GET /pool', () => {
  test('reports workers, queue, utilization and per-task counts and latencies', async () => {
    // The catalogue comes with the first ready worker; wait for the second too.
    for (let i = 0; i < 500 && t.deps.pool.stats().alive < 2; i++) await Bun.sleep(10)
    for (let i = 0; i < 5; i++) await app.handle(new Request('http://localhost/tasks/primes', { method: 'POST', body: '{"n":10000}' }))
    await app.handle(new Request('http://localhost/tasks/primes', { method: 'POST', body: '{"n":-1}' }))
    const res = await app.handle(new Request('http://localhost/pool'))
    expect(res.status).toBe(200)
    const s = (await res.json()) as {
      workers: number; alive: number; queued: number; running: number; queueLimit: number; utilization: number[]; restarts: number
      tasks: Record<string, { ok: number; failed: number; runMs: { p50: number; p99: number } }>
    }
    expect(s.workers).toBe(2)
    expect(s.alive).toBe(2)
    expect(s.queueLimit).toBe(77)
    expect(s.queued).toBe(0)
    expect(s.running).toBe(0)
    expect(s.utilization).toHaveLength(2)
    for (const u of s.utilization) expect(u >= 0 && u <= 1).toBe(true)
    expect(s.tasks.primes?.ok).toBe(5)
    expect(s.tasks.primes?.failed).toBe(1)
    expect(s.tasks.primes?.runMs.p99).toBeGreaterThanOrEqual(s.tasks.primes?.runMs.p50 ?? 0)
  })
})
