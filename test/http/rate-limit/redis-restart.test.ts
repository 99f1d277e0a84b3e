/**
 * `RATE_LIMIT_URL=redis://…` when Redis restarts, with a real highperf process and a redis-server of
 * the test's own (test/support/services.ts), so the shared 6379 is never killed:
 *
 * - SIGKILLed under load from several clients: every limited request is still answered 200 or 429
 *   (the in-process limiter stands in), never a 5xx or a hang; /healthz 200 throughout; once Redis
 *   is back the checks go to it again (its keys reappear) without a restart;
 * - down at start: the server starts at once (limiting per process, one warning), and shares its
 *   limits through Redis as soon as Redis comes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { PrivateRedis } from '../../support/services.ts'
import { OutageRun, expectCleanExit, expectCleanOutage, healthFigures, startHighperf } from '../../support/outage.ts'

let redis: PrivateRedis
beforeAll(async () => {
  redis = await PrivateRedis.create()
})
afterAll(async () => {
  await redis?.destroy()
})

const LIMITS = { RATE_LIMIT_RPS: '20', RATE_LIMIT_BURST: '20', TRUST_PROXY: 'true' }

/** The limiter's keys in Redis now (`highperf:rl:<client>`). */
function limiterKeys(): string[] {
  return redis.cli('--scan', '--pattern', 'highperf:rl:*').split('\n').filter((k) => k !== '')
}

/** Waits until Redis holds a limiter key again (checks go to Redis); throws after `timeoutMs`. */
async function keysReappear(timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (limiterKeys().length === 0) {
    if (Date.now() > deadline) throw new Error(`no rate-limit key in Redis ${timeoutMs} ms after it came back`)
    await Bun.sleep(100)
  }
}

/** The process's `http_rate_limit_fallbacks_total`. */
async function fallbacks(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith('http_rate_limit_fallbacks_total'))
  return Number(line?.split(' ').at(-1) ?? Number.NaN)
}

describe('RATE_LIMIT_URL while Redis restarts', () => {
  test('SIGKILLed under load: 200 or 429 from the in-process limiter, never a 5xx or a hang; back on Redis by itself', async () => {
    const srv = await startHighperf({ RATE_LIMIT_URL: redis.url(), ...LIMITS })
    const run = new OutageRun(srv.base)
    for (let c = 0; c < 4; c++) {
      // Each loop is one client (its own X-Forwarded-For); 4 × ~100 requests/s against 20/s each: 429s too.
      run.loop(`client${c}`, () => ({ path: '/users?limit=1', headers: { 'x-forwarded-for': `198.51.100.${c + 1}` } }), undefined, 10)
    }
    await run.until('client0', (a) => a.status === 429)
    expect(limiterKeys().length).toBeGreaterThan(0)
    run.phase = 'during'
    await redis.kill()
    await run.until('client0', (a) => a.status === 200)
    await run.until('client0', (a) => a.status === 429)
    await Bun.sleep(2000)
    const during = await fallbacks(srv.base)
    expect(during).toBeGreaterThan(0)
    await redis.start()
    redis.cli('FLUSHALL')
    run.phase = 'after'
    const back = performance.now()
    await keysReappear()
    const rejoined = performance.now() - back
    await run.until('client0', (a) => a.status === 429)
    // Back on Redis: no more fallbacks once it answers (a few may count while it reconnects).
    const settled = await fallbacks(srv.base)
    await Bun.sleep(1000)
    expect(await fallbacks(srv.base)).toBe(settled)
    await run.stop()
    console.log(`rate-limit outage: ${run.summary()}; ${healthFigures(run)}; ${during} fallbacks during; checks back on Redis ${rejoined.toFixed(0)} ms after it returned`)
    expectCleanOutage(run, [], [200, 429])
    await expectCleanExit(srv)
  }, 60_000)

  test('down at start: the server starts at once, limits per process, and moves to Redis when it comes', async () => {
    await redis.kill()
    const srv = await startHighperf({ RATE_LIMIT_URL: redis.url(), ...LIMITS })
    const res = await fetch(`${srv.base}/users?limit=1`)
    expect(res.status).toBe(200)
    expect(await fallbacks(srv.base)).toBeGreaterThan(0)
    await redis.start()
    redis.cli('FLUSHALL')
    for (let i = 0; limiterKeys().length === 0; i++) {
      if (i > 300) throw new Error('the limiter never moved to Redis')
      await fetch(`${srv.base}/users?limit=1`)
      await Bun.sleep(100)
    }
    const { stdout } = await expectCleanExit(srv)
    expect(stdout).toContain('not ready after 1000 ms; limiting per process until it answers')
  }, 60_000)
})
