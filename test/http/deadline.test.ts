import { beforeAll, describe, expect, test } from 'bun:test'
import type { AnyElysia } from 'elysia'
import { deadline, queryTimeout, type DeadlineOptions } from '../../src/http/deadline/index.ts'
import { armedDeadlines, remainingMs, requestSignal } from '../../src/http/request-state.ts'
import { deadlineFor as deadlineOfPolicy, routePolicy, type DeadlineRule, type DeadlineTimeouts } from '../../src/http/route-policy.ts'
import type { RouteTable } from '../../src/http/front/router.ts'
import { AppError } from '../../src/errors.ts'
import { createApp } from '../../src/app.ts'
import { STREAM, TASK } from '../../src/routes/policy.ts'
import { tempDir, testDeps } from '../support/deps.ts'
import { appRoutes, stackApp } from '../support/front.ts'
import { startServer } from '../../src/server.ts'
import { testConfig } from '../../src/config.ts'
import { join } from 'node:path'

const req = (path: string, init?: RequestInit) => new Request(`http://localhost${path}`, init)
type Envelope = { error: { code: string; message: string } }

/** A sleep that honours a signal, like the pool and fetch do: rejects with `signal.reason`. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = () => { clearTimeout(t); reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** Waits for work that outlives the answer (a cancelled pool task, a disconnected client's handler). */
async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = performance.now() + ms
  await Bun.sleep(1)
  while (!cond() && performance.now() < end) await Bun.sleep(2)
}

const OPTS: DeadlineOptions = { requestTimeout: 100, taskTimeout: 30_000, llmTimeout: 60_000 }

let routes: RouteTable
beforeAll(async () => {
  routes = (await appRoutes()).table
})
/**
 * The deadline of highperf's route `method template`, by the policy it declares; or of a route
 * declaring `{ deadline: ms }` when `declared` is given.
 */
const deadlineFor = (method: string, template: string, timeouts: DeadlineTimeouts, declared?: number): DeadlineRule =>
  deadlineOfPolicy(declared === undefined ? routes.match(method, template).policy : routePolicy({ deadline: declared }), timeouts)

/** A route declaring a deadline of `ms`. */
const within = (ms: number) => ({ policy: { deadline: ms } })

function build(overrides: Partial<DeadlineOptions> = {}, routes: (app: AnyElysia) => AnyElysia = (app) => app) {
  const seen: { reason?: unknown; timeouts: string[]; finishedLate: number } = { timeouts: [], finishedLate: 0 }
  const stage = deadline({ ...OPTS, onTimeout: (r) => seen.timeouts.push(r), ...overrides })
  const app = stackApp([stage], (e) => routes(e
    .get('/aware', async ({ request }) => {
      const signal = requestSignal(request)
      try {
        await sleep(5_000, signal)
        return 'never'
      } catch (err) {
        seen.reason = err
        throw err
      }
    }, within(40))
    .get('/ignores', async () => {
      await Bun.sleep(80)
      seen.finishedLate++
      return 'late'
    }, within(40))
    .get('/fast', ({ request }) => ({ left: remainingMs(request), same: requestSignal(request) === requestSignal(request) }))
    .post('/tasks/:name', ({ request }) => ({ left: remainingMs(request) }), { policy: TASK })
    .get('/files/*', ({ request }) => ({ left: remainingMs(request), aborted: requestSignal(request).aborted }), { policy: STREAM })))
  return { app, seen }
}

describe('deadline', () => {
  test('expiry answers 504 deadline_exceeded and the signal-aware work is cancelled with that reason', async () => {
    const { app, seen } = build()
    const started = performance.now()
    const res = await app.handle(req('/aware'))
    const took = performance.now() - started
    expect(res.status).toBe(504)
    expect(((await res.json()) as Envelope).error.code).toBe('deadline_exceeded')
    expect(seen.reason).toBeInstanceOf(AppError)
    expect((seen.reason as AppError).code).toBe('deadline_exceeded')
    expect(took).toBeLessThan(3_000) // the 5 s sleep did not run to the end
    // The stage's `after` has run by the time the answer is handed back.
    expect(seen.timeouts).toEqual(['/aware'])
  })

  test('a handler that ignores the signal is neither raced nor overridden: its late answer stands', async () => {
    const { app, seen } = build()
    const res = await app.handle(req('/ignores'))
    expect(seen.finishedLate).toBe(1)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('late')
    await until(() => false, 20)
    expect(seen.timeouts).toEqual([])
  })

  test('a fast request keeps its answer; the signal is one per request; remainingMs is bounded by the deadline', async () => {
    const { app } = build()
    const res = await app.handle(req('/fast'))
    expect(res.status).toBe(200)
    const body = (await res.json()) as { left: number; same: boolean }
    expect(body.same).toBe(true)
    expect(body.left).toBeGreaterThan(0)
    expect(body.left).toBeLessThanOrEqual(100)
  })

  test('task routes: TASK_TIMEOUT, shortened or extended by ?timeoutMs up to TASK_TIMEOUT', async () => {
    const { app } = build({ taskTimeout: 10_000 })
    const left = async (q: string) => ((await (await app.handle(req(`/tasks/primes${q}`, { method: 'POST' }))).json()) as { left: number }).left
    expect(await left('')).toBeGreaterThan(9_000)
    expect(await left('')).toBeLessThanOrEqual(10_000)
    expect(await left('?timeoutMs=500')).toBeLessThanOrEqual(500)
    expect(await left('?timeoutMs=500')).toBeGreaterThan(400)
    expect(await left('?x=1&timeoutMs=999999')).toBeLessThanOrEqual(10_000)
    expect(await left('?timeoutMs=abc')).toBeGreaterThan(9_000)
  })

  test('exempt routes (files, SSE) have no deadline', async () => {
    const { app } = build()
    const body = (await (await app.handle(req('/files/a/b.txt'))).json()) as { left: number | null; aborted: boolean }
    expect(body.left).toBeNull() // Infinity serialises as null
    expect(body.aborted).toBe(false)
  })

  test('the clock starts when the front takes the request, not when the stage runs', async () => {
    // A stage ahead of the deadline that makes the request wait (as an asynchronous limiter may):
    // the wait counts against the 40 ms deadline, so at most 10 ms are left for the route.
    const wait = { name: 'wait', before: () => Bun.sleep(30) }
    const app = stackApp([wait, deadline(OPTS)], (e) => e.get('/left', ({ request }) => ({ left: remainingMs(request) }), within(40)))
    const body = (await (await app.handle(req('/left'))).json()) as { left: number }
    expect(body.left).toBeLessThanOrEqual(10)
  })

  test('requestSignal works on a request the stage never saw (disconnect only)', () => {
    const r = req('/x')
    const s = requestSignal(r)
    expect(s.aborted).toBe(false)
    expect(requestSignal(r)).toBe(s)
    expect(remainingMs(r)).toBe(Infinity)
  })

  test('the table: hot reads 0.8 × REQUEST_TIMEOUT, tasks, LLM, exempt streams; a route declaring its own ms wins', () => {
    expect(deadlineFor('GET', '/users/:id', OPTS)).toBe(80)
    expect(deadlineFor('GET', '/api/cars', OPTS)).toBe(80)
    expect(deadlineFor('GET', '/api/cars/:id', OPTS)).toBe(80)
    expect(deadlineFor('DELETE', '/users/:id', OPTS)).toBe(100)
    expect(deadlineFor('POST', '/users', OPTS)).toBe(100)
    expect(deadlineFor('POST', '/tasks/:name', OPTS)).toBe(30_000)
    expect(deadlineFor('POST', '/batch', OPTS)).toBe(30_000)
    expect(deadlineFor('POST', '/messages', OPTS)).toBe(60_000)
    expect(deadlineFor('POST', '/messages/batch', OPTS)).toBe(60_000)
    expect(deadlineFor('GET', '/jobs/:id/events', OPTS)).toBe('none')
    expect(deadlineFor('GET', '/files/*', OPTS)).toBe('none')
    expect(deadlineFor('GET', '/metrics', OPTS)).toBe('none')
    expect(deadlineFor('GET', '/swagger/json', OPTS)).toBe('none')
    expect(deadlineFor('GET', '/healthz', OPTS)).toBe(100)
    expect(deadlineFor('GET', '/users/:id', OPTS, 7)).toBe(7)
  })

  test('queryTimeout parses only a whole timeoutMs parameter', () => {
    expect(queryTimeout('http://h/tasks/x?timeoutMs=250')).toBe(250)
    expect(queryTimeout('http://h/tasks/x?a=1&timeoutMs=250&b=2')).toBe(250)
    expect(queryTimeout('http://h/tasks/x?mytimeoutMs=250')).toBeUndefined()
    expect(queryTimeout('http://h/tasks/x?timeoutMs=-1')).toBeUndefined()
    expect(queryTimeout('http://h/tasks/x?timeoutMs=1.5')).toBeUndefined()
    expect(queryTimeout('http://h/tasks/x')).toBeUndefined()
  })

  test('stress: 300 concurrent requests, half expire, half finish; every timer is cleared', async () => {
    let aborted = 0
    let finished = 0
    const { app } = build({}, (e) => e.get('/mixed', async ({ request }) => {
      const slow = request.url.endsWith('slow')
      try {
        await sleep(slow ? 2_000 : Math.floor(Math.random() * 5), requestSignal(request))
        finished++
        return 'ok'
      } catch (err) {
        aborted++
        throw err
      }
    }, within(30)))
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => app.handle(req(`/mixed?${i % 2 ? 'slow' : 'fast'}`)).then((r) => r.status)))
    expect(results.filter((s) => s === 504).length).toBeGreaterThanOrEqual(150)
    expect(aborted).toBeGreaterThanOrEqual(150)
    expect(aborted + finished).toBe(300)
    // Every answer went through the stage's `after`, which clears its timer.
    expect(armedDeadlines()).toBe(0)
  })
})

describe('client disconnect (real server)', () => {
  test('aborting the fetch aborts the request signal with client_closed', async () => {
    let resolveSeen: (reason: unknown) => void = () => {}
    const seen = new Promise<unknown>((r) => { resolveSeen = r })
    let entered: () => void = () => {}
    const inHandler = new Promise<void>((r) => { entered = r })
    const app = stackApp([deadline(OPTS)], (e) => e
      .get('/wait', async ({ request }) => {
        const signal = requestSignal(request)
        entered()
        try {
          await sleep(15_000, signal)
          return 'done'
        } catch (err) {
          resolveSeen(err)
          throw err
        }
      }, within(20_000)))
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: app.fetch })
    try {
      const ac = new AbortController()
      const pending = fetch(`http://127.0.0.1:${server.port}/wait`, { signal: ac.signal }).catch((e: unknown) => e)
      await inHandler
      ac.abort()
      await pending
      const reason = await Promise.race([seen, Bun.sleep(5_000).then(() => 'no abort within 5 s')])
      expect(reason).toBeInstanceOf(AppError)
      expect((reason as AppError).code).toBe('client_closed')
      // The 20 s deadline timer of the abandoned request is cleared, not left to fire.
      await until(() => armedDeadlines() === 0)
      expect(armedDeadlines()).toBe(0)
    } finally {
      await server.stop(true)
    }
  })
})

describe('wired into createApp', () => {
  test('REQUEST_TIMEOUT reaches the worker pool: the task is cancelled, the client gets 504, /metrics counts it', async () => {
    const d = await testDeps({ requestTimeout: 150, workers: 1 })
    try {
      const pool = d.deps.pool
      const app = createApp(d.deps, {
        routes: (a) => a.post('/deadline-probe', async ({ request }) => {
          const bytes = await pool.run('sleep', '{"ms":5000}', { signal: requestSignal(request) })
          return new Response(bytes)
        }),
      })
      const started = performance.now()
      const res = await app.handle(req('/deadline-probe', { method: 'POST' }))
      expect(res.status).toBe(504)
      expect(((await res.json()) as Envelope).error.code).toBe('deadline_exceeded')
      expect(performance.now() - started).toBeLessThan(4_000)
      await until(() => (pool.stats().tasks.sleep?.canceled ?? 0) > 0)
      expect(pool.stats().tasks.sleep?.canceled).toBe(1)
      expect(pool.stats().tasks.sleep?.ok ?? 0).toBe(0)
      await until(() => armedDeadlines() === 0)
      const metrics = await (await app.handle(req('/metrics'))).text()
      expect(metrics).toContain('http_request_timeouts_total{route="/deadline-probe"} 1')
    } finally {
      await d.close()
    }
  })
})

describe('end to end (startServer, real pool)', () => {
  test('a client that disconnects from POST /tasks/sleep cancels the task on its worker', async () => {
    const { dir, remove } = tempDir()
    const srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'data'), workers: 1 }))
    try {
      const pool = srv.deps.pool
      const ac = new AbortController()
      const pending = fetch(`${srv.url}tasks/sleep`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ms: 20_000 }),
        signal: ac.signal,
      }).catch((e: unknown) => e)
      await until(() => pool.stats().running === 1, 5_000)
      expect(pool.stats().running).toBe(1)
      ac.abort()
      await pending
      await until(() => (pool.stats().tasks.sleep?.canceled ?? 0) === 1, 5_000)
      expect(pool.stats().tasks.sleep?.canceled).toBe(1)
      // The worker lets go of the task a moment after the cancel is counted, long before 20 s.
      await until(() => pool.stats().running === 0, 5_000)
      expect(pool.stats().running).toBe(0)
    } finally {
      await srv.shutdown()
      remove()
    }
  })
})
