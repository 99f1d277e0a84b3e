/**
 * Compression over real HTTP (src/http/compression): the real app on a socket, answers decoded
 * with the codec each claims, and the cases that must stay plain (HEAD, 304, SSE, /files, ranges,
 * already-encoded bodies, small bodies, COMPRESSION=off). Bun's `fetch` would negotiate and decode
 * on its own: requests here send their own Accept-Encoding and read with `decompress: false`.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { brotliDecompressSync } from 'node:zlib'
import { Elysia } from 'elysia'
import { createApp } from '../../src/app.ts'
import { compression } from '../../src/http/compression/index.ts'
import { negotiate } from '../../src/http/compression/negotiate.ts'
import { testDeps, type TestDeps } from '../support/deps.ts'
import { stackApp } from '../support/front.ts'
import { rawRequest } from '../support/raw-http.ts'

const CODINGS = ['zstd', 'br', 'gzip'] as const

const decode = (coding: string | null, bytes: Uint8Array): string => {
  switch (coding) {
    case 'gzip': return new TextDecoder().decode(Bun.gunzipSync(bytes as Uint8Array<ArrayBuffer>))
    case 'br': return new TextDecoder().decode(brotliDecompressSync(bytes))
    case 'zstd': return new TextDecoder().decode(Bun.zstdDecompressSync(bytes as Uint8Array<ArrayBuffer>))
    default: return new TextDecoder().decode(bytes)
  }
}

async function get(base: string, path: string, acceptEncoding: string | null, init: RequestInit = {}): Promise<{ res: Response; text: string }> {
  const headers = new Headers(init.headers)
  // Bun's fetch adds its own Accept-Encoding unless one is set: '' stands for "none" here.
  headers.set('accept-encoding', acceptEncoding ?? '')
  const res = await fetch(`${base}${path}`, { ...init, headers, decompress: false } as RequestInit)
  const bytes = new Uint8Array(await res.arrayBuffer())
  return { res, text: decode(res.headers.get('content-encoding'), bytes) }
}

describe('the real app compresses its large answers per Accept-Encoding', () => {
  let t: TestDeps
  let server: ReturnType<typeof Bun.serve>
  let base: string
  beforeAll(async () => {
    t = await testDeps({ workers: 1 })
    mkdirSync(t.deps.config.filesDir, { recursive: true })
    writeFileSync(join(t.deps.config.filesDir, 'big.json'), JSON.stringify({ items: Array.from({ length: 500 }, (_, i) => ({ i, name: `item ${i}` })) }))
    server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: createApp(t.deps).fetch })
    base = `http://127.0.0.1:${server.port}`
  })
  afterAll(async () => {
    server?.stop(true)
    await t?.close()
  })

  for (const coding of CODINGS) {
    test(`/swagger/json and /metrics in ${coding} decode to the plain answer`, async () => {
      const plain = await get(base, '/swagger/json', null)
      const packed = await get(base, '/swagger/json', coding)
      expect(plain.res.headers.get('content-encoding')).toBeNull()
      expect(packed.res.headers.get('content-encoding')).toBe(coding)
      expect(packed.res.headers.get('vary')).toContain('Accept-Encoding')
      expect(Number(packed.res.headers.get('content-length'))).toBeLessThan(Number(plain.res.headers.get('content-length')) / 3)
      expect(JSON.parse(packed.text)).toEqual(JSON.parse(plain.text))
      const metrics = await get(base, '/metrics', coding)
      expect(metrics.res.headers.get('content-encoding')).toBe(coding)
      expect(metrics.text).toContain('# TYPE http_requests_total counter')
    })
  }

  test('a JSON list answer above 1 KB is compressed, with the stack\'s headers kept', async () => {
    for (let i = 0; i < 30; i++) {
      const r = await fetch(`${base}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `User ${i}`, email: `u${i}@example.com` }) })
      expect(r.status).toBe(201)
    }
    const { res, text } = await get(base, '/users?limit=30', 'gzip, deflate, br;q=0.9')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-encoding')).toBe('gzip')
    expect(res.headers.get('x-request-id')).not.toBeNull()
    expect(res.headers.get('content-type')).toContain('application/json')
    expect((JSON.parse(text) as { items: unknown[] }).items).toHaveLength(30)
  })

  test('a small JSON answer stays plain but says it varies by Accept-Encoding', async () => {
    const { res, text } = await get(base, '/users?limit=1', 'gzip')
    expect(res.headers.get('content-encoding')).toBeNull()
    expect(res.headers.get('vary')).toContain('Accept-Encoding')
    expect(JSON.parse(text)).toBeTruthy()
  })

  test('identity;q=0 gets even a small answer compressed', async () => {
    const { res, text } = await get(base, '/users?limit=1', 'gzip, identity;q=0')
    expect(res.headers.get('content-encoding')).toBe('gzip')
    expect(JSON.parse(text)).toBeTruthy()
  })

  test('q-values pick the coding, q=0 refuses one, * stands for the rest, junk q is ignored', async () => {
    const cases: Array<[string, string | null]> = [
      ['gzip;q=0.5, br', 'br'],
      ['zstd;q=0.1, gzip', 'gzip'],
      ['zstd;q=0, br;q=0, *', 'gzip'],
      ['*', 'zstd'],
      ['*;q=0', null],
      ['GZIP', 'gzip'],
      ['x-gzip', 'gzip'],
      ['gzip;q=2', null],
      ['gzip;q=abc, br;q=0.001', 'br'],
      ['identity', null],
      ['gzip;q=0.5, identity', null],
      ['', null],
      ['deflate, compress', null],
    ]
    for (const [header, expected] of cases) {
      const { res } = await get(base, '/swagger/json', header)
      expect({ header, got: res.headers.get('content-encoding') }).toEqual({ header, got: expected })
    }
  })

  test('HEAD is answered untouched: no Content-Encoding, no body', async () => {
    const raw = await rawRequest(server.port as number, 'HEAD /swagger/json HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n')
    expect(raw.status).toBe(200)
    expect(raw.headers['content-encoding']).toBeUndefined()
    expect(raw.body).toBe('')
  })

  test('/files is never compressed, whole or by range, even for a JSON file', async () => {
    const whole = await get(base, '/files/big.json', 'gzip, br, zstd')
    expect(whole.res.status).toBe(200)
    expect(whole.res.headers.get('content-encoding')).toBeNull()
    const part = await get(base, '/files/big.json', 'gzip', { headers: { range: 'bytes=0-99' } })
    expect(part.res.status).toBe(206)
    expect(part.res.headers.get('content-encoding')).toBeNull()
    expect(part.text).toHaveLength(100)
  })
})

describe('COMPRESSION=off', () => {
  test('answers are never compressed', async () => {
    const t = await testDeps({ workers: 1, compression: 'off' })
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: createApp(t.deps).fetch })
    try {
      const { res, text } = await get(`http://127.0.0.1:${server.port}`, '/swagger/json', 'zstd, br, gzip')
      expect(res.headers.get('content-encoding')).toBeNull()
      expect(JSON.parse(text)).toHaveProperty('openapi')
    } finally {
      server.stop(true)
      await t.close()
    }
  })
})

describe('answers the stage must leave alone', () => {
  const big = JSON.stringify({ pad: 'x'.repeat(4000) })
  let server: ReturnType<typeof Bun.serve>
  let base: string
  beforeAll(() => {
    const front = stackApp([compression()], (e) => e
      .get('/sse', () => new Response(`data: ${'y'.repeat(4000)}\n\n`, { headers: { 'content-type': 'text/event-stream' } }))
      .get('/not-modified', () => new Response(null, { status: 304, headers: { 'content-type': 'application/json', etag: '"a"' } }))
      .get('/encoded', () => new Response(Bun.gzipSync(new TextEncoder().encode(big)), { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } }))
      .get('/no-transform', () => new Response(big, { headers: { 'content-type': 'application/json', 'cache-control': 'no-transform' } }))
      .get('/etag', () => new Response(big, { headers: { 'content-type': 'application/json', etag: '"v1"' } }))
      .get('/slow', () => new Response(new ReadableStream({ async start(c) { await Bun.sleep(20); c.enqueue(new TextEncoder().encode(big)); c.close() } }), { headers: { 'content-type': 'application/json' } }))
      .get('/html', () => new Response(`<p>${'z'.repeat(4000)}</p>`, { headers: { 'content-type': 'text/html' } })))
    server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: front.fetch })
    base = `http://127.0.0.1:${server.port}`
  })
  afterAll(() => server?.stop(true))
  void Elysia

  test('SSE is sent as it is', async () => {
    const { res, text } = await get(base, '/sse', 'gzip')
    expect(res.headers.get('content-encoding')).toBeNull()
    expect(text.startsWith('data: yyy')).toBe(true)
  })

  test('304 keeps no body and no Content-Encoding', async () => {
    const { res, text } = await get(base, '/not-modified', 'gzip, identity;q=0')
    expect(res.status).toBe(304)
    expect(res.headers.get('content-encoding')).toBeNull()
    expect(text).toBe('')
  })

  test('an already encoded body is not encoded twice', async () => {
    const { res, text } = await get(base, '/encoded', 'gzip, br, zstd')
    expect(res.headers.get('content-encoding')).toBe('gzip')
    expect(JSON.parse(text)).toEqual(JSON.parse(big))
  })

  test('Cache-Control: no-transform is honoured', async () => {
    const { res } = await get(base, '/no-transform', 'gzip')
    expect(res.headers.get('content-encoding')).toBeNull()
  })

  test('a compressed answer\'s strong ETag becomes weak', async () => {
    const { res, text } = await get(base, '/etag', 'br')
    expect(res.headers.get('content-encoding')).toBe('br')
    expect(res.headers.get('etag')).toBe('W/"v1"')
    expect(text).toBe(big)
  })

  test('a body still being produced is passed on whole and plain', async () => {
    const { res, text } = await get(base, '/slow', 'gzip')
    expect(res.status).toBe(200)
    expect(text).toBe(big)
  })

  test('types other than JSON and Prometheus text are left alone', async () => {
    const { res } = await get(base, '/html', 'gzip')
    expect(res.headers.get('content-encoding')).toBeNull()
    expect(res.headers.get('vary')).toBeNull()
  })
})

describe('negotiate', () => {
  test('an explicit identity preferred over every coding wins, identity;q=0 is reported', () => {
    expect(negotiate('gzip;q=0.3, identity;q=0.8', CODINGS)).toEqual({ coding: null, identityAllowed: true })
    expect(negotiate('br, identity;q=0', CODINGS)).toEqual({ coding: 'br', identityAllowed: false })
    expect(negotiate('*;q=0', CODINGS)).toEqual({ coding: null, identityAllowed: false })
    expect(negotiate('*;q=0, identity', CODINGS)).toEqual({ coding: null, identityAllowed: true })
    expect(negotiate(null, CODINGS)).toEqual({ coding: null, identityAllowed: true })
  })
})
