import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { createApp } from '../../src/app.ts'
import { batchRoutes, runTasks } from '../../src/routes/batch.ts'
import { recovery } from '../../src/http/recovery/index.ts'
import { silentLogger } from '../../src/log.ts'
import type { RunOptions, TaskRunner } from '../../src/pool/types.ts'
import { testDeps, type TestDeps } from '../support/deps.ts'

type Item = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string; details?: unknown } }
type Envelope = { error: { code: string; message: string } }

let t: TestDeps
let app: ReturnType<typeof createApp>
const batch = (body: unknown, query = '') =>
  app.handle(new Request(`http://localhost/batch${query}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }))

/** The real pool, counting how many runs are in flight at once. */
function counting(pool: TaskRunner) {
  const seen = { now: 0, max: 0, started: 0 }
  const runner: TaskRunner = {
    async run(task: string, input: string | Uint8Array, options?: RunOptions) {
      seen.now++
      seen.started++
      seen.max = Math.max(seen.max, seen.now)
      try { return await pool.run(task, input, options) } finally { seen.now-- }
    },
    catalog: () => pool.catalog(),
    stats: () => pool.stats(),
  }
  return { runner, seen }
}

beforeAll(async () => {
  // POOL_LONG_RUN off: the deadline tests below count on items waiting behind the running ones.
  t = await testDeps({ workers: 2, rateLimitRps: 0, batchLimit: 50, poolLongRun: 0 })
  app = createApp(t.deps)
})
afterAll(() => t.close())

describe('POST /batch', () => {
  test('answers one result per item, in input order, with failures in their slots', async () => {
    const res = await batch({
      items: [
        { task: 'primes', input: { n: 100 } },
        { task: 'nope', input: {} },
        { task: 'hash', input: { text: 'hello' } },
        { task: 'primes', input: { n: -5 } },
        { task: 'echo' },
        { task: 'cars.lookup', input: { id: 2 } },
        { task: 'cars.lookup', input: { id: 999 } },
      ],
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('application/json')
    const { results } = (await res.json()) as { results: Item[] }
    expect(results).toHaveLength(7)
    expect(results[0]).toEqual({ ok: true, result: { n: 100, count: 25 } })
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'unknown_task' } })
    expect(results[2]).toMatchObject({ ok: true, result: { digest: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824' } })
    expect(results[3]).toMatchObject({ ok: false, error: { code: 'invalid_input', details: [{ path: '/n' }] } })
    expect(results[4]).toEqual({ ok: true, result: {} })
    expect(results[5]).toMatchObject({ ok: true, result: { id: 2, make: 'BMW' } })
    expect(results[6]).toMatchObject({ ok: false, error: { code: 'not_found' } })
  })

  test('an empty batch is an empty result list', async () => {
    expect(await (await batch({ items: [] })).json()).toEqual({ results: [] })
  })

  test('random batches of random tasks and sizes come back complete and in order', async () => {
    for (let round = 0; round < 15; round++) {
      const size = Math.floor(Math.random() * 50)
      const items = Array.from({ length: size }, (_, i) =>
        i % 4 === 0 ? { task: 'echo', input: { i, round } }
          : i % 4 === 1 ? { task: 'primes', input: { n: i * 97 } }
            : i % 4 === 2 ? { task: 'hash', input: { text: `${round}-${i}` } }
              : { task: 'primes', input: { n: 'bad' } })
      const { results } = (await (await batch({ items })).json()) as { results: Item[] }
      expect(results).toHaveLength(size)
      results.forEach((r, i) => {
        if (i % 4 === 0) expect(r).toEqual({ ok: true, result: { i, round } })
        else if (i % 4 === 1) expect((r as { result: { n: number } }).result.n).toBe(i * 97)
        else if (i % 4 === 2) expect((r as { result: { digest: string } }).result.digest).toBe(new Bun.CryptoHasher('sha256').update(`${round}-${i}`).digest('hex'))
        else expect(r).toMatchObject({ ok: false, error: { code: 'invalid_input' } })
      })
    }
  })

  test('more items than BATCH_LIMIT is a 413 naming the limit', async () => {
    const res = await batch({ items: Array.from({ length: 51 }, () => ({ task: 'echo', input: 1 })) })
    expect(res.status).toBe(413)
    const body = (await res.json()) as Envelope
    expect(body.error.code).toBe('payload_too_large')
    expect(body.error.message).toContain('50')
    expect((await batch({ items: Array.from({ length: 50 }, () => ({ task: 'echo', input: 1 })) })).status).toBe(200)
  })

  test('a bare array, a missing task or malformed JSON is rejected as a whole with 4xx', async () => {
    expect((await batch([{ task: 'echo', input: 1 }])).status).toBe(422)
    expect((await batch({ items: [{ input: 1 }] })).status).toBe(422)
    const bad = await app.handle(new Request('http://localhost/batch', { method: 'POST', body: '{"items":[', headers: { 'content-type': 'application/json' } }))
    expect(bad.status).toBe(400)
  })

  test('?timeoutMs bounds each item, which fails in its slot while the batch still answers', async () => {
    const res = await batch({ items: [{ task: 'sleep', input: { ms: 20_000 } }, { task: 'echo', input: 2 }] }, '?timeoutMs=1000')
    expect(res.status).toBe(200)
    const { results } = (await res.json()) as { results: Item[] }
    expect(results[0]).toMatchObject({ ok: false, error: { code: 'task_timeout' } })
    expect(results[1]).toEqual({ ok: true, result: 2 })
  })

  test('near its deadline a batch still answers: late items fail in their slots, unstarted ones are not run', async () => {
    const before = t.deps.pool.stats().tasks.sleep?.ok ?? 0
    const items = Array.from({ length: 12 }, () => ({ task: 'sleep', input: { ms: 400 } }))
    const t0 = performance.now()
    const res = await batch({ items }, '?timeoutMs=600')
    expect(res.status).toBe(200)
    expect(performance.now() - t0).toBeLessThan(2000)
    const { results } = (await res.json()) as { results: Item[] }
    const codes = results.map((r) => (r.ok ? 'ok' : r.error.code))
    // 2 workers, 4 in flight: the first 2 finish in 400 ms, the next ones run out of time, and the
    // last ones find no time left and are never started.
    expect(codes.slice(0, 2)).toEqual(['ok', 'ok'])
    for (const c of codes.slice(2)) expect(['task_timeout', 'deadline_exceeded']).toContain(c)
    expect(codes.at(-1)).toBe('deadline_exceeded')
    expect((t.deps.pool.stats().tasks.sleep?.ok ?? 0) - before).toBe(codes.filter((c) => c === 'ok').length)
  })

  test('at most 2 x WORKERS items of one batch are in flight', async () => {
    const { runner, seen } = counting(t.deps.pool)
    const bounded = new Elysia().use(recovery(silentLogger())).use(batchRoutes({ pool: runner, config: { ...t.deps.config, workers: 2 } }))
    const items = Array.from({ length: 40 }, () => ({ task: 'sleep', input: { ms: 15 } }))
    const res = await bounded.handle(new Request('http://localhost/batch', { method: 'POST', body: JSON.stringify({ items }), headers: { 'content-type': 'application/json' } }))
    expect(res.status).toBe(200)
    expect(seen.started).toBe(40)
    expect(seen.max).toBe(4)
  })

  test('when the request aborts, items not started are dropped and running ones canceled', async () => {
    const { runner, seen } = counting(t.deps.pool)
    const ac = new AbortController()
    const items = Array.from({ length: 30 }, () => ({ task: 'sleep', input: { ms: 10_000 } }))
    const before = t.deps.pool.stats().tasks.sleep?.canceled ?? 0
    const t0 = performance.now()
    const done = runTasks(runner, items, { limit: 4, signal: ac.signal, remainingMs: () => 20_000, reserveMs: 0 })
    setTimeout(() => ac.abort(new Error('client went away')), 100)
    await expect(done).rejects.toThrow('client went away')
    expect(performance.now() - t0).toBeLessThan(5_000)
    expect(seen.started).toBe(4)
    // The 4 running sleeps were canceled in the workers (counted by the pool), not left to run 10 s.
    let canceled = 0
    for (let i = 0; i < 100; i++) {
      canceled = (t.deps.pool.stats().tasks.sleep?.canceled ?? 0) - before
      if (canceled >= 4 && t.deps.pool.stats().running === 0) break
      await Bun.sleep(20)
    }
    expect(canceled).toBe(4)
    expect(t.deps.pool.stats().running).toBe(0)
  })
})
