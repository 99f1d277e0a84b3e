import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { rateLimit, MemoryRateLimiter, TOKEN_CLIENT } from '../../src/http/rate-limit/index.ts'
import { forwardedClient, isPrivateAddress, clientAddress, clientBucket, UNKNOWN_CLIENT } from '../../src/http/client-ip.ts'
import { createApp } from '../../src/app.ts'
import { testConfig } from '../../src/config.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir, testDeps } from '../support/deps.ts'
import { PROBE, SCRAPE } from '../../src/routes/policy.ts'
import { stackApp } from '../support/front.ts'

const req = (path: string, init?: RequestInit) => new Request(`http://localhost${path}`, init)
type Envelope = { error: { code: string; message: string; requestId: string } }

function build(options: Partial<Parameters<typeof rateLimit>[0]> & { now?: () => number } = {}) {
  const limit = rateLimit({ rps: 1, burst: 3, trustProxy: false, apiToken: '', ...options })
  const app = stackApp([limit], (e) => e
    .get('/healthz', () => 'ok', { policy: PROBE })
    .get('/metrics', () => '# none', { policy: SCRAPE })
    .get('/x', () => ({ ok: true }))
    .post('/x', () => ({ ok: true })))
  return { app, limit }
}

describe('MemoryRateLimiter', () => {
  test('admits a burst, refuses the next, and refills with the clock', () => {
    let now = 0
    const l = new MemoryRateLimiter({ rps: 2, burst: 3, now: () => now })
    for (let i = 0; i < 3; i++) expect(l.consume('a').allowed).toBe(true)
    const d = l.consume('a')
    expect(d).toMatchObject({ allowed: false, limit: 3, remaining: 0 })
    expect(d.retryAfterSec).toBe(1)
    expect(d.resetSec).toBe(2) // 3 tokens at 2/s
    expect(l.consume('b').allowed).toBe(true) // buckets are per key
    now += 500 // one token back
    expect(l.consume('a')).toMatchObject({ allowed: true, remaining: 0 })
    expect(l.consume('a').allowed).toBe(false)
    now += 60_000
    expect(l.consume('a')).toMatchObject({ allowed: true, remaining: 2, resetSec: 1 })
  })

  test('the table stays bounded: 200k distinct clients keep at most maxClients buckets', () => {
    // A frozen clock: on a loaded machine the loop can take seconds, and real time would refill tokens.
    const l = new MemoryRateLimiter({ rps: 10, burst: 10, maxClients: 10_000, now: () => 0 })
    Bun.gc(true)
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 200_000; i++) l.consume(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
    Bun.gc(true)
    const grown = process.memoryUsage().heapUsed - before
    expect(l.size).toBe(10_000)
    // 10k buckets plus the LRU's index arrays: a few MB. 200k kept buckets would be ~20+ MB.
    expect(grown).toBeLessThan(12 * 1024 * 1024)
    // The most recent clients are the ones kept (LRU); a re-seen evicted client starts full.
    expect(l.consume('10.3.13.63').remaining).toBe(8) // i = 199_999 was seen once already
    expect(l.consume('10.0.0.0').remaining).toBe(9) // evicted long ago: a fresh, full bucket
  })
})

describe('rate limit stage', () => {
  test('burst, then 429 with Retry-After and RateLimit headers, then refill over time', async () => {
    let now = 1_000
    const { app, limit } = build({ now: () => now })
    const remaining: Array<string | null> = []
    for (let i = 0; i < 3; i++) {
      const res = await app.handle(req('/x'))
      expect(res.status).toBe(200)
      expect(res.headers.get('ratelimit-limit')).toBe('3')
      remaining.push(res.headers.get('ratelimit-remaining'))
    }
    expect(remaining).toEqual(['2', '1', '0'])
    const refused = await app.handle(req('/x', { headers: { 'x-request-id': 'rl-1' } }))
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('1')
    expect(refused.headers.get('ratelimit-remaining')).toBe('0')
    expect(refused.headers.get('ratelimit-reset')).toBe('3')
    expect(refused.headers.get('x-request-id')).toBe('rl-1')
    const body = (await refused.json()) as Envelope
    expect(body.error.code).toBe('rate_limited')
    expect(body.error.requestId).toBe('rl-1')
    expect(limit.rejected()).toBe(1)
    now += 1_000
    expect((await app.handle(req('/x'))).status).toBe(200)
    expect((await app.handle(req('/x'))).status).toBe(429)
  })

  test('/healthz and /metrics are never limited and carry no RateLimit headers', async () => {
    const { app } = build({ burst: 1 })
    await app.handle(req('/x'))
    for (let i = 0; i < 5; i++) {
      const h = await app.handle(req('/healthz'))
      expect(h.status).toBe(200)
      expect(h.headers.get('ratelimit-limit')).toBeNull()
      expect((await app.handle(req('/metrics'))).status).toBe(200)
    }
    expect((await app.handle(req('/x'))).status).toBe(429)
  })

  test('rps 0 adds no work: a stage with no before or after, no headers, no limit', async () => {
    const { app, limit } = build({ rps: 0, burst: 1 })
    expect(limit.before).toBeUndefined()
    expect(limit.after).toBeUndefined()
    for (let i = 0; i < 10; i++) {
      const res = await app.handle(req('/x'))
      expect(res.status).toBe(200)
      expect(res.headers.get('ratelimit-limit')).toBeNull()
    }
  })

  test('with API_TOKEN, the valid token is its own bucket; a wrong token is keyed by address', async () => {
    const keys: string[] = []
    const limiter = { consume(key: string) { keys.push(key); return { allowed: true, limit: 9, remaining: 8, resetSec: 1, retryAfterSec: 0 } } }
    const { app } = build({ apiToken: 's3cret', limiter })
    await app.handle(req('/x', { headers: { authorization: 'Bearer s3cret' } }))
    await app.handle(req('/x', { headers: { authorization: 'Bearer guess' } }))
    await app.handle(req('/x'))
    expect(keys).toEqual([TOKEN_CLIENT, UNKNOWN_CLIENT, UNKNOWN_CLIENT])
  })

  test('an async (shared-store) limiter drops in behind the same interface', async () => {
    let calls = 0
    const limiter = {
      async consume() {
        calls++
        await Bun.sleep(1)
        return { allowed: calls <= 1, limit: 1, remaining: 0, resetSec: 1, retryAfterSec: 7 }
      },
    }
    const { app } = build({ limiter })
    expect((await app.handle(req('/x'))).status).toBe(200)
    const res = await app.handle(req('/x'))
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('7')
  })
})

describe('client address', () => {
  test('X-Forwarded-For: the right-most public hop, else the left-most', () => {
    expect(forwardedClient('1.2.3.4, 198.51.100.7, 10.0.0.2')).toBe('198.51.100.7')
    expect(forwardedClient('203.0.113.1')).toBe('203.0.113.1')
    expect(forwardedClient('10.0.0.1, 192.168.1.2, 127.0.0.1')).toBe('10.0.0.1')
    expect(forwardedClient(' , ')).toBeUndefined()
    expect(forwardedClient('api-token')).toBeUndefined() // cannot pose as the token's bucket
    expect(forwardedClient('198.51.100.7, unknown, 10.0.0.1')).toBe('198.51.100.7')
    expect(forwardedClient('2001:db8::1, fd00::2')).toBe('2001:db8::1')
  })

  test('private, loopback, CGNAT and link-local ranges', () => {
    for (const a of ['10.1.2.3', '127.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.0.1', '169.254.1.1', '100.64.0.1', '::1', 'fd12::1', 'fe80::1', '::ffff:10.0.0.1']) {
      expect(isPrivateAddress(a)).toBe(true)
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '172.15.0.1', '100.128.0.1', '2001:db8::1', '::ffff:8.8.8.8']) {
      expect(isPrivateAddress(a)).toBe(false)
    }
  })

  test('IPv6 clients share a bucket per /64; IPv4 and non-addresses are keyed as they are', () => {
    expect(clientBucket('203.0.113.9')).toBe('203.0.113.9')
    expect(clientBucket('2001:db8:1:2:aaaa:bbbb:cccc:7')).toBe('2001:db8:1:2::/64')
    expect(clientBucket('2001:DB8:1:2::7')).toBe('2001:db8:1:2::/64')
    expect(clientBucket('2001:0db8:0001:0002:ffff::1')).toBe('2001:db8:1:2::/64')
    expect(clientBucket('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(clientBucket('::1')).toBe('0:0:0:0::/64')
    expect(clientBucket('fe80::1:2:3:4')).toBe('fe80:0:0:0::/64')
    expect(clientBucket('::ffff:1.2.3.4')).toBe('1.2.3.4')
    expect(clientBucket('64:ff9b::1.2.3.4')).toBe('64:ff9b:0:0::/64')
    expect(clientBucket('unknown')).toBe('unknown')
    expect(clientBucket('api-token')).toBe('api-token')
  })

  test('the header is ignored unless trusted; without a server the client is unknown', () => {
    const r = req('/x', { headers: { 'x-forwarded-for': '198.51.100.7' } })
    expect(clientAddress(r, null, false)).toBe(UNKNOWN_CLIENT)
    expect(clientAddress(r, null, true)).toBe('198.51.100.7')
    expect(clientAddress(r, { requestIP: () => ({ address: '127.0.0.1' }) }, false)).toBe('127.0.0.1')
    expect(clientAddress(r, { requestIP: () => ({ address: '::ffff:127.0.0.1' }) }, false)).toBe('127.0.0.1')
    expect(clientAddress(r, { requestIP: () => ({ address: '2001:db8::7' }) }, false)).toBe('2001:db8::7')
  })
})

describe('over a real server', () => {
  const servers: RunningServer[] = []
  const dirs: Array<() => void> = []
  afterAll(async () => {
    for (const s of servers) await s.shutdown()
    for (const d of dirs) d()
  })
  const start = async (trustProxy: boolean) => {
    const { dir, remove } = tempDir()
    dirs.push(remove)
    const srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(dir, 'data'), workers: 1, rateLimitRps: 1, rateLimitBurst: 2, trustProxy }))
    servers.push(srv)
    return srv
  }
  const hit = (srv: RunningServer, xff: string) => fetch(`${srv.url}nope`, { headers: { 'x-forwarded-for': xff } }).then(async (r) => { await r.arrayBuffer(); return r.status })

  test('by default X-Forwarded-For is ignored: spoofed addresses share the socket peer bucket', async () => {
    const srv = await start(false)
    const statuses = [await hit(srv, '198.51.100.1'), await hit(srv, '198.51.100.2'), await hit(srv, '198.51.100.3')]
    expect(statuses).toEqual([404, 404, 429])
  })

  test('the key is the socket peer, read through server.requestIP (as server.ts wires it)', async () => {
    const keys: string[] = []
    const limiter = { consume(key: string) { keys.push(key); return { allowed: true, limit: 9, remaining: 8, resetSec: 1, retryAfterSec: 0 } } }
    const { app } = build({ limiter })
    // Bun hands the server to `fetch` as its second argument; the front reads the peer from it.
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: app.fetch })
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/x`, { headers: { 'x-forwarded-for': '198.51.100.9' } })
      expect(res.status).toBe(200)
      expect(keys).toEqual(['127.0.0.1'])
    } finally {
      await server.stop(true)
    }
  })

  test('with TRUST_PROXY each forwarded client gets its own bucket', async () => {
    const srv = await start(true)
    const statuses = [await hit(srv, '198.51.100.1'), await hit(srv, '198.51.100.1'), await hit(srv, '198.51.100.1'), await hit(srv, '198.51.100.2')]
    expect(statuses).toEqual([404, 404, 429, 404])
  })
})

describe('wired into createApp', () => {
  test('RATE_LIMIT_RPS / RATE_LIMIT_BURST from config; 429 keeps the request id and server header', async () => {
    const t = await testDeps({ rateLimitRps: 1, rateLimitBurst: 1 })
    try {
      const app = createApp(t.deps)
      for (let i = 0; i < 3; i++) expect((await app.handle(req('/healthz'))).status).toBe(200)
      await app.handle(req('/swagger/json'))
      const res = await app.handle(req('/swagger/json', { headers: { 'x-request-id': 'wired-1' } }))
      expect(res.status).toBe(429)
      expect(res.headers.get('x-request-id')).toBe('wired-1')
      expect(res.headers.get('server')).toMatch(/^highperf\//)
      expect((await app.handle(req('/healthz'))).status).toBe(200)
      const metrics = await (await app.handle(req('/metrics'))).text()
      expect(metrics).toMatch(/^http_rate_limit_rejections_total 1$/m)
    } finally {
      await t.close()
    }
  })
})
