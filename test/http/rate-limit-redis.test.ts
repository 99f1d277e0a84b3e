/**
 * `RATE_LIMIT_URL`: the Redis-backed limiter on the real Redis (127.0.0.1:6379). Limits hold across
 * two limiter instances (two nodes) and across two real highperf processes; when Redis goes away
 * (a TCP proxy this test kills) or hangs (the proxy frozen), checks are answered by the insurance
 * within about the command timeout, and by Redis again once it is back.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { MemoryRateLimiter } from '../../src/http/rate-limit/limiter.ts'
import { RedisRateLimiter, windowSeconds } from '../../src/http/rate-limit/redis.ts'
import { TcpProxy } from '../support/tcp-proxy.ts'
import { freePort, spawnHighperf, waitHealthy, type Spawned } from '../support/process.ts'
import { tempDir } from '../support/deps.ts'

const REDIS = 'redis://127.0.0.1:6379'
// Keys of their own per run: runs (and other tests on this Redis) never share a client's count.
const prefix = `highperf-test:${process.pid}:${Date.now().toString(36)}`
const opened: RedisRateLimiter[] = []
afterAll(() => { for (const l of opened) l.close() })

function limiter(options: { url?: string; rps?: number; burst?: number; commandTimeoutMs?: number; log?: { warn(...a: unknown[]): void; info(...a: unknown[]): void } } = {}): RedisRateLimiter {
  const rps = options.rps ?? 1
  const burst = options.burst ?? 5
  const l = new RedisRateLimiter({
    url: options.url ?? REDIS, rps, burst, keyPrefix: prefix, insurance: new MemoryRateLimiter({ rps, burst }),
    // Generous where not what is tested: a loaded 2-core machine must not turn a slow answer into a fallback.
    commandTimeoutMs: options.commandTimeoutMs ?? 2000,
    ...(options.log ? { log: options.log as never } : {}),
  })
  opened.push(l)
  return l
}

describe('RedisRateLimiter', () => {
  test('the window: BURST requests per ceil(BURST/RPS) s', () => {
    expect(windowSeconds(1000, 2000)).toBe(2)
    expect(windowSeconds(3, 10)).toBe(4)
    expect(windowSeconds(100, 1)).toBe(1)
  })

  test('one allowance shared by two nodes: BURST requests in all, then 429 with Retry-After on either', async () => {
    const a = limiter()
    const b = limiter()
    expect(await a.ready(5000)).toBe(true)
    expect(await b.ready(5000)).toBe(true)
    const key = `shared-${Math.random()}`
    const decisions = []
    for (let i = 0; i < 7; i++) decisions.push(await (i % 2 === 0 ? a : b).consume(key))
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false])
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0])
    for (const d of decisions) expect(d.limit).toBe(5)
    expect(decisions[5]!.retryAfterSec).toBeGreaterThanOrEqual(1)
    expect(decisions[5]!.retryAfterSec).toBeLessThanOrEqual(windowSeconds(1, 5))
    expect(a.fallbacks + b.fallbacks).toBe(0)
  })

  test('Redis down, then hung: each check answers within about the command timeout from the insurance; Redis again once back', async () => {
    const proxy = await TcpProxy.start(6379)
    const lines: string[] = []
    const log = { warn: (...a: unknown[]) => lines.push(`warn ${String(a.at(-1))}`), info: (...a: unknown[]) => lines.push(`info ${String(a.at(-1))}`) }
    const l = limiter({ url: `redis://127.0.0.1:${proxy.port}`, commandTimeoutMs: 50, burst: 1000, rps: 1000, log })
    try {
      expect(await l.ready(5000)).toBe(true)
      const key = `outage-${Math.random()}`
      expect((await l.consume(key)).remaining).toBe(999)
      expect(l.fallbacks).toBe(0)

      const timed = async () => {
        const t0 = performance.now()
        const d = await l.consume(key)
        return { d, ms: performance.now() - t0 }
      }
      // Down: the port closed, every connection cut.
      proxy.stop()
      for (let i = 0; i < 5; i++) {
        const { d, ms } = await timed()
        expect(d.allowed).toBe(true)
        expect(ms).toBeLessThan(1000)
      }
      expect(l.fallbacks).toBe(5)

      // Back: Redis answers again within a few seconds (ioredis reconnects).
      await proxy.restart()
      const backBy = performance.now() + 10_000
      while (performance.now() < backBy) {
        const before = l.fallbacks
        await l.consume(key)
        if (l.fallbacks === before) break
        await Bun.sleep(50)
      }
      const before = l.fallbacks
      expect((await l.consume(key)).remaining).toBeLessThan(998) // Redis's count went on from where it was
      expect(l.fallbacks).toBe(before)

      // Hung: connections open, nothing answers. Without commandTimeout this check waited > 40 s.
      proxy.freeze()
      for (let i = 0; i < 3; i++) {
        const { d, ms } = await timed()
        expect(d.allowed).toBe(true)
        expect(ms).toBeLessThan(1000)
      }
      expect(l.fallbacks).toBe(before + 3)
      await proxy.restart()
      const backAgain = performance.now() + 10_000
      let shared = false
      while (!shared && performance.now() < backAgain) {
        const n = l.fallbacks
        await l.consume(key)
        shared = l.fallbacks === n
        if (!shared) await Bun.sleep(50)
      }
      expect(shared).toBe(true)
      // One warning per outage, one line when Redis is back.
      expect(lines.filter((x) => x.startsWith('warn')).length).toBe(2)
      expect(lines.filter((x) => x.startsWith('info')).length).toBe(2)
    } finally {
      proxy.stop()
    }
  }, 60_000)
})

describe('RATE_LIMIT_URL end to end', () => {
  const tmp = tempDir('highperf-rl-redis-')
  const procs: Spawned[] = []
  afterAll(async () => {
    for (const p of procs) p.proc.kill('SIGKILL')
    await Promise.all(procs.map((p) => p.proc.exited))
    tmp.remove()
  })

  test('two highperf processes sharing RATE_LIMIT_URL share one allowance per client', async () => {
    const ports = [freePort(), freePort()]
    for (const [i, port] of ports.entries()) {
      procs.push(spawnHighperf([process.execPath, 'run', 'src/main.ts'], {
        PORT: String(port), HOST: '127.0.0.1', DATA_DIR: `${tmp.dir}/node${i}`, WORKERS: '1', LOG_LEVEL: 'warn', ACCESS_LOG: 'off',
        RATE_LIMIT_URL: REDIS, RATE_LIMIT_RPS: '1', RATE_LIMIT_BURST: '4', TRUST_PROXY: 'true',
      }))
    }
    await Promise.all(ports.map((port, i) => waitHealthy(`http://127.0.0.1:${port}/healthz`, procs[i]!.proc)))
    // A client address of its own (TRUST_PROXY): no other run or test shares its count.
    const client = `198.51.100.${1 + Math.floor(Math.random() * 250)}`
    const statuses: number[] = []
    const remaining: Array<string | null> = []
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`http://127.0.0.1:${ports[i % 2]}/users?limit=1`, { headers: { 'x-forwarded-for': client } })
      await res.arrayBuffer()
      statuses.push(res.status)
      remaining.push(res.headers.get('ratelimit-remaining'))
      // The probes stay exempt: they never spend the allowance.
      expect((await fetch(`http://127.0.0.1:${ports[(i + 1) % 2]}/healthz`, { headers: { 'x-forwarded-for': client } })).status).toBe(200)
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429])
    expect(remaining.slice(0, 4)).toEqual(['3', '2', '1', '0'])
  }, 60_000)
})
