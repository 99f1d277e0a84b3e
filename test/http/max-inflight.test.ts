import { describe, expect, test } from 'bun:test'
import type { AnyElysia } from 'elysia'
import type { Stage } from '../../src/http/front/index.ts'
import { maxInflight } from '../../src/http/max-inflight/index.ts'
import { rateLimit } from '../../src/http/rate-limit/index.ts'
import { createApp } from '../../src/app.ts'
import { testDeps } from '../support/deps.ts'
import { PROBE } from '../../src/routes/policy.ts'
import { stackApp } from '../support/front.ts'

const req = (path: string) => new Request(`http://localhost${path}`)
type Envelope = { error: { code: string } }

async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = performance.now() + ms
  while (!cond() && performance.now() < end) await Bun.sleep(2)
}

function build(limit: number, extra: { stages?: Stage[]; routes?: (app: AnyElysia) => AnyElysia } = {}) {
  let open: () => void = () => {}
  let gate = new Promise<void>((r) => { open = r })
  let shedCalls = 0
  const shed = maxInflight({ limit, onShed: () => shedCalls++ })
  const app = stackApp([shed, ...(extra.stages ?? [])], (e) => {
    const app = e
      .get('/healthz', () => 'ok', { policy: PROBE })
      .get('/slow', async () => { await gate; return 'done' })
      .get('/boom', () => { throw new Error('x') })
      .get('/fast', () => 'fast')
    return extra.routes ? extra.routes(app) : app
  })
  return {
    app,
    shed,
    shedCalls: () => shedCalls,
    release() { open(); gate = new Promise<void>((r) => { open = r }) },
  }
}

describe('max inflight', () => {
  test('past the cap: 503 overloaded with Retry-After, health still answers, capacity returns after', async () => {
    const t = build(2)
    const slow = [t.app.handle(req('/slow')), t.app.handle(req('/slow'))]
    await until(() => t.shed.stats().inflight === 2)
    expect(t.shed.stats().inflight).toBe(2)
    const res = await t.app.handle(req('/fast'))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(((await res.json()) as Envelope).error.code).toBe('overloaded')
    expect((await t.app.handle(req('/healthz'))).status).toBe(200)
    expect(t.shedCalls()).toBe(1)
    t.release()
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200])
    await until(() => t.shed.stats().inflight === 0)
    expect(t.shed.stats()).toEqual({ inflight: 0, limit: 2, shed: 1 })
    expect((await t.app.handle(req('/fast'))).status).toBe(200)
  })

  test('the count never leaks: errors, 404s, and rejections by a later guard all give the slot back', async () => {
    const t = build(3, { stages: [rateLimit({ rps: 1, burst: 2, trustProxy: false, apiToken: '' })] })
    const statuses: number[] = []
    for (let i = 0; i < 20; i++) {
      statuses.push((await t.app.handle(req(i % 3 === 0 ? '/boom' : i % 3 === 1 ? '/nope' : '/fast'))).status)
      // The front runs every stage's `after` before it hands the answer back: the slot is free already.
      expect(t.shed.stats().inflight).toBe(0)
    }
    expect(statuses.slice(0, 2)).toEqual([500, 404])
    expect(statuses.slice(2).every((s) => s === 429)).toBe(true)
    expect(t.shed.stats().shed).toBe(0)
    await until(() => t.shed.stats().inflight === 0)
    expect(t.shed.stats().inflight).toBe(0)
  })

  test('stress: 500 concurrent requests over a cap of 50 — at most 50 admitted at once, all settle to 0', async () => {
    let now = 0
    let peak = 0
    const t = build(50, {
      routes: (app) => app.get('/work', async () => {
        now++
        peak = Math.max(peak, now)
        await Bun.sleep(Math.floor(Math.random() * 5))
        now--
        return 'ok'
      }),
    })
    const statuses = await Promise.all(Array.from({ length: 500 }, () => t.app.handle(req('/work')).then((r) => r.status)))
    expect(peak).toBeLessThanOrEqual(50)
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(50)
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true)
    await until(() => t.shed.stats().inflight === 0)
    expect(t.shed.stats().inflight).toBe(0)
  })

  test('MAX_INFLIGHT=0 adds no work: a stage with no before or after, nothing shed', async () => {
    const t = build(0)
    expect(t.shed.before).toBeUndefined()
    expect(t.shed.after).toBeUndefined()
    const slow = Array.from({ length: 20 }, () => t.app.handle(req('/slow')))
    expect((await t.app.handle(req('/fast'))).status).toBe(200)
    t.release()
    await Promise.all(slow)
    expect(t.shed.stats().shed).toBe(0)
  })
})

describe('wired into createApp', () => {
  test('MAX_INFLIGHT from config; the shed request is counted in /metrics; health is never shed', async () => {
    const d = await testDeps({ maxInflight: 1 })
    try {
      let open: () => void = () => {}
      const gate = new Promise<void>((r) => { open = r })
      const app = createApp(d.deps, { routes: (a) => a.get('/hold', async () => { await gate; return 'held' }) })
      const held = app.handle(req('/hold'))
      await Bun.sleep(10)
      const res = await app.handle(req('/hold'))
      expect(res.status).toBe(503)
      expect(((await res.json()) as Envelope).error.code).toBe('overloaded')
      expect((await app.handle(req('/healthz'))).status).toBe(200)
      const metrics = await (await app.handle(req('/metrics'))).text()
      expect(metrics).toContain('http_requests_shed_total{reason="max_inflight"} 1')
      open()
      expect((await held).status).toBe(200)
    } finally {
      await d.close()
    }
  })

  test('early answers of the stages after it and of the routes (body limit 413, rate limit 429, auth 401) never leak a slot', async () => {
    const d = await testDeps({ maxInflight: 1, maxBodySize: 1024, rateLimitRps: 1, rateLimitBurst: 6, apiToken: 'tok' })
    try {
      const app = createApp(d.deps, { routes: (a) => a.post('/echo', () => 'ok') })
      const post = (body: string, token?: string) => app.handle(new Request('http://localhost/echo', {
        method: 'POST',
        body,
        headers: { 'content-type': 'text/plain', 'content-length': String(body.length), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      }))
      const statuses: number[] = []
      // Rate limited by address: anonymous requests share one bucket of 6; the token has its own.
      for (const [body, token] of [['x'.repeat(4096), 'tok'], ['small', undefined], ['small', 'tok'], ['small', undefined], ['small', undefined], ['small', undefined], ['small', undefined], ['small', undefined], ['small', undefined], ['small', 'tok']] as const) {
        statuses.push((await post(body, token)).status)
      }
      expect(statuses).toEqual([413, 401, 200, 401, 401, 401, 401, 401, 429, 200])
    } finally {
      await d.close()
    }
  })
})
