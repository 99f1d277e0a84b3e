import { describe, expect, test } from 'bun:test'
import { freePort, startServer, stop } from '../../bench/lib/server.ts'
import { lowerMedian, median, percentile, upperMedian } from '../../bench/lib/stats.ts'
import { luaPost, parseWrk } from '../../bench/lib/wrk.ts'

describe('bench/lib/stats', () => {
  test('the three medians agree on odd counts and differ as documented on even ones', () => {
    expect([median([3, 1, 2]), upperMedian([3, 1, 2]), lowerMedian([3, 1, 2])]).toEqual([2, 2, 2])
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(upperMedian([4, 1, 3, 2])).toBe(3)
    expect(lowerMedian([4, 1, 3, 2])).toBe(2)
    expect(median([])).toBeNaN()
    expect(upperMedian([])).toBeNaN()
    expect(lowerMedian([])).toBeNaN()
  })

  test('percentile is nearest-rank on sorted input', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(xs, 50)).toBe(50)
    expect(percentile(xs, 99)).toBe(99)
    expect(percentile(xs, 100)).toBe(100)
    expect(percentile(xs, 0)).toBe(1)
    expect(percentile([], 50)).toBeNaN()
  })

  test('median does not reorder its input', () => {
    const xs = [3, 1, 2]
    median(xs)
    upperMedian(xs)
    lowerMedian(xs)
    expect(xs).toEqual([3, 1, 2])
  })
})

describe('bench/lib/wrk', () => {
  const sample = `Running 2s test @ http://127.0.0.1:4000/healthz
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us   9.00ms   90.00%
  Latency Distribution
     50%  850.00us
     75%    1.20ms
     90%    1.50ms
     99%    2.10s
  101234 requests in 2.00s, 10.00MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 7
Requests/sec:  50617.42
Transfer/sec:      5.00MB
`
  test('parses req/s, percentiles in ms and error counts from --latency output', () => {
    const r = parseWrk(sample)
    expect(r.rps).toBe(50617.42)
    expect(r.p50).toBeCloseTo(0.85, 6)
    expect(r.p99).toBe(2100)
    expect(r.requests).toBe(101234)
    expect(r.non2xx).toBe(7)
    expect(r.socketErrors).toBe(10)
  })

  test('output without a summary gives NaN req/s and no errors counted', () => {
    const r = parseWrk('unable to connect to 127.0.0.1:1 Connection refused\n')
    expect(r.rps).toBeNaN()
    expect(r.p50).toBeNaN()
    expect(r.non2xx).toBe(0)
    expect(r.socketErrors).toBe(0)
  })

  test('luaPost reports bad answers only when asked', () => {
    expect(luaPost('{"n":1}')).toContain(`wrk.body = '{"n":1}'`)
    expect(luaPost('{"n":1}')).not.toContain('response = function')
    expect(luaPost('{"n":1}', { reportBad: true })).toContain('response = function')
  })
})

describe('bench/lib/server', () => {
  test('freePort gives a port that can be bound', () => {
    const port = freePort()
    const s = Bun.listen({ hostname: '127.0.0.1', port, socket: { data() {} } })
    expect(s.port).toBe(port)
    s.stop(true)
  })

  test('startServer waits for /healthz and stop ends the process', async () => {
    const code = "Bun.serve({ hostname: process.env.HOST, port: Number(process.env.PORT), fetch: () => new Response('ok') })"
    const s = await startServer({ cmd: [process.execPath, '-e', code], pollMs: 5 })
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
    expect(s.firstOkMs).toBeGreaterThan(0)
    await stop(s.proc)
    expect(s.proc.exitCode !== null || s.proc.signalCode !== null).toBe(true)
  })

  test('startServer rejects, quoting stderr, when the server dies first', async () => {
    const p = startServer({ cmd: [process.execPath, '-e', "console.error('boom'); process.exit(3)"], stderr: 'pipe', pollMs: 5 })
    await expect(p).rejects.toThrow(/exited with 3: boom/)
  })
})
