import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Elysia, t } from 'elysia'
import type { Server } from 'bun'
import { BUN_BODY_CEILING, bodyLimit, limitBody } from '../../src/http/body-limit/index.ts'
import { AppError } from '../../src/errors.ts'
import { createFront } from '../../src/http/front/index.ts'
import { recovery } from '../../src/http/recovery/index.ts'
import { silentLogger } from '../../src/log.ts'
import { chunked, rawRequest } from '../support/raw-http.ts'
import { connect } from 'node:net'
import { join } from 'node:path'
import { testConfig } from '../../src/config.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'

const streamOf = (parts: Uint8Array[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const p of parts) controller.enqueue(p)
      controller.close()
    },
  })

const requestOf = (parts: Uint8Array[]) =>
  new Request('http://localhost/x', { method: 'POST', body: streamOf(parts), duplex: 'half' } as RequestInit)

describe('limitBody', () => {
  test('every reader returns the exact bytes up to the limit and fails with payload_too_large past it, for random chunkings', async () => {
    const readers = ['arrayBuffer', 'bytes', 'text', 'blob', 'stream'] as const
    for (let round = 0; round < 200; round++) {
      const size = Math.floor(Math.random() * 5000)
      const bytes = crypto.getRandomValues(new Uint8Array(size))
      const parts: Uint8Array[] = []
      for (let at = 0; at < size;) {
        const n = 1 + Math.floor(Math.random() * 700)
        parts.push(bytes.slice(at, at + n))
        at += n
      }
      const limit = Math.floor(Math.random() * 6000)
      const request = requestOf(parts)
      limitBody(request, limit)
      const how = readers[round % readers.length]!
      const read = async (): Promise<Uint8Array> => {
        switch (how) {
          case 'arrayBuffer': return new Uint8Array(await request.arrayBuffer())
          case 'bytes': return await request.bytes()
          case 'text': return new TextEncoder().encode(await request.text())
          case 'blob': return new Uint8Array(await (await request.blob()).arrayBuffer())
          default: return new Uint8Array(await new Response(request.body).arrayBuffer())
        }
      }
      if (size <= limit) {
        const got = await read()
        // text() decodes as UTF-8 (random bytes get replacement characters): compare likewise.
        expect(got).toEqual(how === 'text' ? new TextEncoder().encode(new TextDecoder().decode(bytes)) : bytes)
      } else {
        let caught: unknown
        try { await read() } catch (err) { caught = err }
        expect(caught).toBeInstanceOf(AppError)
        expect((caught as AppError).code).toBe('payload_too_large')
      }
    }
  })

  test('stops pulling an endless body soon after the limit', async () => {
    let pulls = 0
    const endless = new ReadableStream<Uint8Array>({ pull(controller) { pulls++; controller.enqueue(new Uint8Array(1000)) } })
    const request = new Request('http://localhost/x', { method: 'POST', body: endless, duplex: 'half' } as RequestInit)
    limitBody(request, 10_000)
    await expect(request.arrayBuffer()).rejects.toThrow()
    expect(pulls).toBeLessThan(40)
  })

  test('keeps one-shot semantics and reads nothing until asked', async () => {
    let pulled = false
    const body = new ReadableStream<Uint8Array>({ pull(c) { pulled = true; c.enqueue(new TextEncoder().encode('{"a":1}')); c.close() } })
    const request = new Request('http://localhost/x', { method: 'POST', body, duplex: 'half' } as RequestInit)
    limitBody(request, 100)
    await Bun.sleep(5)
    expect(request.bodyUsed).toBe(false)
    expect(await request.json()).toEqual({ a: 1 })
    expect(pulled).toBe(true)
    expect(request.bodyUsed).toBe(true)
    await expect(request.text()).rejects.toThrow()
  })
})

describe('bodyLimit on a real server', () => {
  const LIMIT = 2048
  const peers = new WeakMap<Request, string>()
  let server: Server<unknown>
  beforeAll(() => {
    // Mounted as createRoutes mounts it: an Elysia plugin before recovery (its error hook must see
    // the parser's failure first), behind a front with no stages (which sets the request id).
    const app = new Elysia()
      .use(bodyLimit(LIMIT))
      .use(recovery(silentLogger()))
      .post('/json', ({ body }) => ({ got: body.s.length }), { body: t.Object({ s: t.String() }) })
      // Reads the raw body itself, as /tasks does: must see the chunked bytes too.
      .post('/raw', async ({ request }) => ({ bytes: (await request.arrayBuffer()).byteLength, samePeer: peers.has(request) }), { parse: 'none' })
      .get('/get', () => 'ok')
    const front = createFront(app, [], { serverName: 'highperf/test', log: silentLogger(), trustProxy: false })
    server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      maxRequestBodySize: BUN_BODY_CEILING,
      fetch(request, srv) {
        peers.set(request, srv.requestIP(request)?.address ?? '')
        return front.fetch(request, srv)
      },
    })
  })
  afterAll(() => server.stop(true))
  const url = (p: string) => `http://127.0.0.1:${server.port}${p}`
  const json = (s: string) => JSON.stringify({ s })

  test('a declared body over the limit is 413 with the envelope, the request id and Connection: close', async () => {
    const res = await fetch(url('/json'), { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'rid-413' }, body: json('x'.repeat(LIMIT)) })
    expect(res.status).toBe(413)
    expect(res.headers.get('x-request-id')).toBe('rid-413')
    expect(await res.json()).toEqual({ error: { code: 'payload_too_large', message: `The request body is larger than ${LIMIT} bytes`, requestId: 'rid-413' } })
  })

  test('a body at the limit passes; one byte more does not', async () => {
    const atLimit = json('x'.repeat(LIMIT - json('').length))
    expect(atLimit.length).toBe(LIMIT)
    expect((await fetch(url('/json'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: atLimit })).status).toBe(200)
    const over = json('x'.repeat(LIMIT - json('').length + 1))
    expect((await fetch(url('/json'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: over })).status).toBe(413)
  })

  test('a refused declared body closes the connection: a pipelined second request is not served', async () => {
    const res = await rawRequest(server.port!, `POST /raw HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${LIMIT + 1}\r\n\r\n${'z'.repeat(LIMIT + 1)}GET /get HTTP/1.1\r\nHost: localhost\r\n\r\n`)
    expect(res.status).toBe(413)
    expect(res.headers.connection).toBe('close')
    expect(res.raw.match(/HTTP\/1\.1 /g)?.length).toBe(1)
  })

  test('chunked bodies: over the limit 413 envelope; within it, parsed routes and raw readers both get every byte', async () => {
    const over = await rawRequest(server.port!, `POST /json HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked(json('y'.repeat(LIMIT * 3)), 300)}`)
    expect(over.status).toBe(413)
    expect(JSON.parse(over.body).error.code).toBe('payload_too_large')

    const parsed = await rawRequest(server.port!, `POST /json HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked(json('y'.repeat(1500)), 100)}`)
    expect(parsed.status).toBe(200)
    expect(JSON.parse(parsed.body)).toEqual({ got: 1500 })

    const raw = await rawRequest(server.port!, `POST /raw HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked('r'.repeat(LIMIT), 333)}`)
    expect(raw.status).toBe(200)
    // samePeer: the route saw the very Request object the server handed over (requestIP works).
    expect(JSON.parse(raw.body)).toEqual({ bytes: LIMIT, samePeer: true })
  })

  test('a chunked body that trickles in over several writes is counted across them', async () => {
    const pieces = Array.from({ length: 6 }, () => `200\r\n${'p'.repeat(512)}\r\n`)
    const res = await rawRequest(server.port!, 'POST /raw HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', { more: [...pieces, '0\r\n\r\n'] })
    expect(res.status).toBe(413)
  })

  test('GET requests and empty POSTs are untouched', async () => {
    expect(await (await fetch(url('/get'))).text()).toBe('ok')
    const res = await fetch(url('/raw'), { method: 'POST' })
    expect(await res.json()).toEqual({ bytes: 0, samePeer: true })
  })
})

/**
 * Writes `head` (no body) and records what comes back, read by read, until the server closes the
 * connection or `timeoutMs` passes: whether the answer came at once, in one write, and whether the
 * server closed without waiting for the body.
 */
function headOnly(port: number, head: string, timeoutMs = 3000): Promise<{ reads: string[]; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const reads: string[] = []
    const t0 = performance.now()
    let done = false
    const finish = (closed: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ reads, closed, ms: performance.now() - t0 })
    }
    const timer = setTimeout(() => finish(false), timeoutMs)
    socket.on('data', (d: Buffer) => reads.push(d.toString('latin1')))
    socket.on('close', () => finish(true))
    socket.on('error', () => finish(true))
    socket.write(head)
  })
}

describe('a declared Content-Length over MAX_BODY_SIZE, on the real server', () => {
  const TOKEN = 'body-limit-token-77'
  const tmp = tempDir('highperf-body-limit-')
  let srv: RunningServer
  beforeAll(async () => {
    srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), workers: 1, maxBodySize: 2048, apiToken: TOKEN }), { log: silentLogger() })
  })
  afterAll(async () => {
    await srv.shutdown()
    tmp.remove()
  })
  const auth = `Authorization: Bearer ${TOKEN}\r\n`

  test('Expect: 100-continue: Bun\'s forced 100 Continue and the 413 envelope leave in one write, and the connection closes without the body', async () => {
    const r = await headOnly(srv.port, `POST /users HTTP/1.1\r\nHost: localhost\r\n${auth}Content-Type: application/json\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n`)
    expect(r.closed).toBe(true)
    const first = r.reads[0] ?? ''
    // uWS writes the interim 100 before any JavaScript runs (Bun.serve cannot turn it off); the
    // final answer must be right behind it, not after the client starts uploading.
    expect(first).toStartWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 413 ')
    expect(first).toContain('"code":"payload_too_large"')
    expect(first.toLowerCase()).toContain('connection: close')
    expect(r.ms).toBeLessThan(2000)
  })

  test('Expect in another casing (no interim answer from Bun): the 413 is the first and only answer', async () => {
    const r = await headOnly(srv.port, `POST /users HTTP/1.1\r\nHost: localhost\r\n${auth}Content-Type: application/json\r\nContent-Length: 10000000\r\nExpect: 100-Continue\r\n\r\n`)
    expect(r.closed).toBe(true)
    expect(r.reads.join('')).toStartWith('HTTP/1.1 413 ')
  })

  test('without a token: 413 and a closed connection, not a 401 on a connection Bun would then drain', async () => {
    const r = await headOnly(srv.port, `POST /users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n`)
    expect(r.closed).toBe(true)
    expect(r.reads.join('')).toContain('HTTP/1.1 413 ')
    expect(r.reads.join('')).not.toContain('HTTP/1.1 401 ')
  })

  test('any method: a GET or DELETE declaring an oversize body is refused unread, the connection closed', async () => {
    for (const line of ['GET /healthz', 'GET /users/1', `DELETE /users/1`]) {
      const r = await headOnly(srv.port, `${line} HTTP/1.1\r\nHost: localhost\r\n${auth}Content-Length: 10000000\r\n\r\n`)
      expect(`${line}: closed=${r.closed} ${(r.reads.join('').split('\r\n')[0])}`).toBe(`${line}: closed=true HTTP/1.1 413 Payload Too Large`)
    }
  })
})
