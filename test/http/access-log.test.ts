import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { createApp, createStages } from '../../src/app.ts'
import { testConfig } from '../../src/config.ts'
import { accessLine, createAccessLog } from '../../src/http/access-log/index.ts'
import { formatTraceparent, newSpanId, parseTraceparent } from '../../src/http/tracing/traceparent.ts'
import { startServer } from '../../src/server.ts'
import { tempDir, testDeps } from '../support/deps.ts'

interface Line {
  level: number; msg: string; method: string; route: string; path: string; status: number; durationMs: number
  requestId: string; traceId: string; client: string; bytesIn?: number
}
const readLines = async (file: string): Promise<Line[]> =>
  (await Bun.file(file).text()).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line)
const settle = () => new Promise((r) => setTimeout(r, 20))

const SECRETS = { authorization: 'Bearer sekrit-bearer-token', cookie: 'session=sekrit-cookie', 'x-api-key': 'sekrit-api-key' }

describe('access log to a file', () => {
  const tmp = tempDir()
  afterAll(() => tmp.remove())

  test('one JSON line per request with route template, status, ids, client and duration', async () => {
    const file = join(tmp.dir, 'logs', 'access.log')
    const t = await testDeps({ accessLog: file, logLevel: 'info' })
    const app = createApp(t.deps, { routes: (e) => e.get('/things/:id', ({ params }) => ({ id: params.id })).post('/things', () => ({ ok: true })) })
    // Tracing is off (no OTLP endpoint): only a request carrying a trace context has a trace id.
    const incoming = formatTraceparent(crypto.randomUUID().replaceAll('-', ''), newSpanId(), 1)
    const a = await app.handle(new Request('http://localhost/things/7?api_key=sekrit-query', { headers: { ...SECRETS, 'x-request-id': 'req-123', traceparent: incoming } }))
    const b = await app.handle(new Request('http://localhost/missing'))
    const c = await app.handle(new Request('http://localhost/things', { method: 'POST', headers: { ...SECRETS, 'content-type': 'application/json', 'content-length': '7' }, body: '{"a":1}' }))
    await settle()
    await t.close() // closes (flushes) the access log
    const lines = await readLines(file)
    expect(lines).toHaveLength(3)
    const [la, lb, lc] = lines as [Line, Line, Line]
    expect(la).toMatchObject({ level: 30, msg: 'request', method: 'GET', route: '/things/:id', path: '/things/7', status: 200, requestId: 'req-123', client: 'unknown' })
    expect(la.traceId).toBe(parseTraceparent(incoming)!.traceId)
    expect(la.traceId).toBe(parseTraceparent(a.headers.get('traceparent'))!.traceId)
    expect(la.durationMs).toBeGreaterThanOrEqual(0)
    expect(la.durationMs).toBeLessThan(10_000)
    expect(lb).toMatchObject({ route: 'unmatched', path: '/missing', status: 404, requestId: b.headers.get('x-request-id')! })
    // No trace context and no tracer: no trace id, so the key is left out of the line.
    expect(lb).not.toHaveProperty('traceId')
    expect(lc).toMatchObject({ method: 'POST', route: '/things', status: c.status, bytesIn: 7 })
  })

  test('Authorization, cookies, API keys and query strings never reach the log', async () => {
    const file = join(tmp.dir, 'secrets.log')
    const t = await testDeps({ accessLog: file, logLevel: 'info', apiToken: 'sekrit-bearer-token' })
    const app = createApp(t.deps, { routes: (e) => e.get('/things/:id', () => 'x') })
    for (let i = 0; i < 20; i++) {
      await app.handle(new Request(`http://localhost/things/${i}?token=sekrit-query&api_key=sekrit-query`, { headers: SECRETS }))
      await app.handle(new Request('http://localhost/nowhere?x=sekrit-query', { method: 'DELETE', headers: SECRETS }))
    }
    await settle()
    await t.close()
    const text = await Bun.file(file).text()
    expect(text.split('\n').filter(Boolean)).toHaveLength(40)
    expect(text).not.toContain('sekrit')
    expect(text.toLowerCase()).not.toContain('authorization')
    expect(text.toLowerCase()).not.toContain('cookie')
  })

  test('a file access log on a real server is flushed at shutdown and names the client address', async () => {
    const file = join(tmp.dir, 'server.log')
    const srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1, accessLog: file, logLevel: 'info' }))
    const n = 50
    await Promise.all(Array.from({ length: n }, () => fetch(`${srv.url}healthz`, { headers: SECRETS })))
    await settle()
    await srv.shutdown()
    const lines = await readLines(file)
    expect(lines.filter((l) => l.route === '/healthz' && l.status === 200)).toHaveLength(n)
    expect(lines[0]!.client).toBe('127.0.0.1')
    expect(await Bun.file(file).text()).not.toContain('sekrit')
  })
})

describe('access log buffering', () => {
  test('a quiet server\'s lines reach the file within a second, without waiting for close', async () => {
    const tmp = tempDir()
    const file = join(tmp.dir, 'quiet.log')
    const log = createAccessLog({ accessLog: file, logLevel: 'info' })!
    try {
      log.write({ method: 'GET', route: '/x', path: '/x', status: 200, durationMs: 1, requestId: 'r1', traceId: undefined, client: 'c', bytesIn: undefined, bytesOut: undefined })
      let text = ''
      for (let i = 0; i < 40 && !text.includes('"requestId":"r1"'); i++) {
        await Bun.sleep(50)
        text = await Bun.file(file).exists() ? await Bun.file(file).text() : ''
      }
      expect(text).toContain('"requestId":"r1"')
    } finally {
      await log.close()
      tmp.remove()
    }
  })

  test('thousands of lines under concurrency: every one written once, whole, in JSON', async () => {
    const tmp = tempDir()
    const file = join(tmp.dir, 'many.log')
    const t = await testDeps({ accessLog: file, logLevel: 'info' })
    let closed = false
    try {
      const app = createApp(t.deps, { routes: (e) => e.get('/things/:id', ({ params }) => params.id) })
      const n = 3000
      await Promise.all(Array.from({ length: n }, (_, i) => app.handle(new Request(`http://localhost/things/${i}`, { headers: { 'x-request-id': `id-${i}` } }))))
      await settle()
      closed = true
      await t.close()
      const lines = await readLines(file)
      expect(lines).toHaveLength(n)
      expect(new Set(lines.map((l) => l.requestId)).size).toBe(n)
    } finally {
      if (!closed) await t.close()
      tmp.remove()
    }
  })
})

describe('access log off', () => {
  test('ACCESS_LOG=off or a level above info opens nothing and adds no stage', async () => {
    expect(createAccessLog({ accessLog: 'off', logLevel: 'info' })).toBeNull()
    expect(createAccessLog({ accessLog: '/tmp/never-written.log', logLevel: 'warn' })).toBeNull()
    expect(createAccessLog({ accessLog: 'stdout', logLevel: 'silent' })).toBeNull()
    expect(createAccessLog({ accessLog: '', logLevel: 'info' })).toBeNull()
    const t = await testDeps({ accessLog: 'off' })
    try {
      expect(t.deps.accessLog).toBeNull()
      expect(createStages(t.deps).map((s) => s.name)).not.toContain('access-log')
      // The control: an open log does add the stage.
      const tmp = tempDir()
      const open = createAccessLog({ accessLog: join(tmp.dir, 'on.log'), logLevel: 'info' })!
      expect(createStages({ ...t.deps, accessLog: open }).map((s) => s.name)).toContain('access-log')
      await open.close()
      tmp.remove()
    } finally {
      await t.close()
    }
  })
})

describe('access line', () => {
  test('is exactly JSON.stringify of the entry, escapes included, undefined fields left out', () => {
    const head = '{"level":30,"time":"2026-01-01T00:00:00.000Z","pid":7,"msg":"request",'
    const base = { method: 'GET', route: '/users/:id', path: '/users/7', status: 200, durationMs: 0.412, requestId: 'k3x9q2-1a', traceId: 'ab'.repeat(16) as string | undefined, client: '127.0.0.1', bytesIn: 12 as number | undefined, bytesOut: undefined as number | undefined }
    const entries = [
      base,
      { ...base, traceId: undefined, bytesIn: undefined, bytesOut: 99 },
      { ...base, path: '/a"b\\c\n\u0001é☃/%2e', method: 'PŌST', route: 'unmatched', client: 'x"y' },
      { ...base, durationMs: Number.NaN },
    ]
    for (const e of entries) {
      const line = accessLine(head, e)
      expect(line.endsWith('\n')).toBe(true)
      expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify({ level: 30, time: '2026-01-01T00:00:00.000Z', pid: 7, msg: 'request', ...e })))
      expect(line).toBe(`${JSON.stringify({ level: 30, time: '2026-01-01T00:00:00.000Z', pid: 7, msg: 'request', ...e })}\n`)
    }
  })
})

describe('access log file writes', () => {
  test('batches written while another is in flight keep their order, and close() waits for all of them', async () => {
    const tmp = tempDir()
    const file = join(tmp.dir, 'order.log')
    const log = createAccessLog({ accessLog: file, logLevel: 'info' })!
    try {
      const n = 5000
      for (let i = 0; i < n; i++) {
        log.write({ method: 'GET', route: '/x/:id', path: `/x/${i}`, status: 200, durationMs: 0.5, requestId: `seq-${i}`, traceId: undefined, client: '127.0.0.1', bytesIn: undefined, bytesOut: undefined })
      }
      await log.close()
      const ids = (await Bun.file(file).text()).trim().split('\n').map((l) => (JSON.parse(l) as { requestId: string }).requestId)
      expect(ids).toEqual(Array.from({ length: n }, (_, i) => `seq-${i}`))
    } finally {
      tmp.remove()
    }
  })
})
