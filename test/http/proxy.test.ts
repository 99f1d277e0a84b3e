/**
 * docs/operations.md#where-bun-answers-by-itself, checked over raw sockets: what Bun answers
 * before highperf's code runs (bare 431/505/400, a closed connection for an unknown method, a
 * dropped pipelined request behind an asynchronous route), and what nginx in front, configured
 * with docs/nginx-highperf.conf as shipped, answers instead. If a Bun upgrade changes one of
 * these, this test fails and the document must change with it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { join } from 'node:path'
import { mkdirSync, writeFileSync } from 'node:fs'
import type { Subprocess } from 'bun'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { rawRequest } from '../support/raw-http.ts'
import { tempDir } from '../support/deps.ts'
import { freePort } from '../support/process.ts'

const tmp = tempDir('highperf-proxy-')
let srv: RunningServer
beforeAll(async () => {
  mkdirSync(join(tmp.dir, 'files'), { recursive: true })
  writeFileSync(join(tmp.dir, 'files', 'a.txt'), 'a file')
  srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1, rateLimitRps: 0 }), { log: silentLogger() })
  for (let i = 0; i < 1000 && (await fetch(`${srv.url}readyz`)).status !== 200; i++) await Bun.sleep(10)
})
afterAll(async () => {
  await srv.shutdown()
  tmp.remove()
})

const BIG_HEADER = `X-Big: ${'a'.repeat(20_000)}\r\n`
const PIPELINED = 'POST /tasks/sleep HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"ms":100}GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
const statuses = (raw: string) => raw.match(/HTTP\/1\.1 \d{3}/g) ?? []
const codeOf = (body: string) => (JSON.parse(body) as { error: { code: string } }).error.code

/** The first bytes the server writes after `head`, and whether it closed (waits at most `ms`). */
function firstBytes(port: number, head: string, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const reads: string[] = []
    const done = () => { clearTimeout(timer); socket.destroy(); resolve(reads.join('')) }
    const timer = setTimeout(done, ms)
    socket.on('data', (d: Buffer) => { reads.push(d.toString('latin1')); done() })
    socket.on('close', done)
    socket.on('error', done)
    socket.write(head)
  })
}

describe('where Bun answers by itself (highperf\'s code never runs)', () => {
  test('request headers of 16 KiB or more: a bare 431, no envelope, no request id', async () => {
    const res = await rawRequest(srv.port, `GET /healthz HTTP/1.1\r\nHost: localhost\r\n${BIG_HEADER}Connection: close\r\n\r\n`)
    expect(res.raw).toBe('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n')
  })

  test('a request line with another HTTP version or no version: a bare 505', async () => {
    for (const line of ['GET /healthz HTTP/2.0', 'GET /healthz HTTP/1.2', 'GET /healthz']) {
      const res = await rawRequest(srv.port, `${line}\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
      expect(`${line}: ${res.raw}`).toBe(`${line}: HTTP/1.1 505 HTTP Version Not Supported\r\nConnection: close\r\n\r\n`)
    }
  })

  test('a malformed request line, OPTIONS *, HTTP/1.1 without Host, Content-Length with Transfer-Encoding: a bare 400', async () => {
    for (const head of [
      'GET  /healthz HTTP/1.1\r\nHost: localhost\r\n',
      'OPTIONS * HTTP/1.1\r\nHost: localhost\r\n',
      'GET /healthz HTTP/1.1\r\n',
      'POST /users HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n',
    ]) {
      const res = await rawRequest(srv.port, `${head}Connection: close\r\n\r\n`)
      expect(`${head.split('\r\n')[0]}: ${res.raw}`).toBe(`${head.split('\r\n')[0]}: HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n`)
    }
  })

  test('a method Bun does not know (FOO, lowercase get): the connection is closed without an answer', async () => {
    for (const line of ['FOO /healthz HTTP/1.1', 'get /healthz HTTP/1.1']) {
      expect(`${line}: ${JSON.stringify(await firstBytes(srv.port, `${line}\r\nHost: localhost\r\n\r\n`))}`).toBe(`${line}: ""`)
    }
  })

  test('a request pipelined behind an asynchronous route: the connection is closed, neither is answered (bun issue 38128)', async () => {
    const res = await rawRequest(srv.port, PIPELINED, { timeoutMs: 5000 })
    expect(statuses(res.raw)).toEqual([])
  })

  test('pipelined behind a synchronous route: both are answered', async () => {
    const res = await rawRequest(srv.port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    expect(statuses(res.raw)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200'])
  })

  test('GET /users/:id (bun:sqlite) and a file served before answer in the same turn: requests pipelined behind them are answered', async () => {
    const created = await fetch(`${srv.url}users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada","email":"pipelined@example.com"}' })
    const location = created.headers.get('location') as string
    expect(created.status).toBe(201)
    expect(await (await fetch(`${srv.url}files/a.txt`)).text()).toBe('a file') // resolved, now cached
    const res = await rawRequest(srv.port, `GET ${location} HTTP/1.1\r\nHost: localhost\r\n\r\nGET /files/a.txt HTTP/1.1\r\nHost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, { timeoutMs: 5000 })
    expect(statuses(res.raw)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200'])
  })
})

const haveNginx = Bun.which('nginx') !== null

describe.skipIf(!haveNginx)('nginx in front, with docs/nginx-highperf.conf as shipped', () => {
  let nginx: Subprocess | undefined
  let port = 0
  beforeAll(async () => {
    port = freePort()
    const dir = join(tmp.dir, 'nginx')
    mkdirSync(dir, { recursive: true })
    const site = (await Bun.file(join(import.meta.dir, '../../docs/nginx-highperf.conf')).text())
      .replace('server 127.0.0.1:3000;', `server 127.0.0.1:${srv.port};`)
      .replace('listen 80;', `listen 127.0.0.1:${port};`)
    await Bun.write(join(dir, 'nginx.conf'), [
      `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;`,
      'events { worker_connections 256; }',
      `http { access_log off; client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
      site,
      '}',
    ].join('\n'))
    nginx = Bun.spawn(['nginx', '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdout: 'ignore', stderr: 'pipe' })
    for (let i = 0; i < 200; i++) {
      if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) return
      if (nginx.exitCode !== null) throw new Error(`nginx exited: ${await new Response(nginx.stderr as ReadableStream).text()}`)
      await Bun.sleep(25)
    }
    throw new Error('nginx did not start')
  })
  afterAll(async () => {
    nginx?.kill('SIGTERM')
    await nginx?.exited
  })

  test('headers over its 8 KiB line buffer: a 431 with the JSON envelope', async () => {
    const res = await rawRequest(port, `GET /healthz HTTP/1.1\r\nHost: localhost\r\n${BIG_HEADER}Connection: close\r\n\r\n`)
    expect(res.status).toBe(431)
    expect(res.headers['content-type']).toBe('application/json')
    expect(res.headers['x-content-type-options']).toBe('nosniff')
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/)
    expect((JSON.parse(res.body) as { error: { requestId: string } }).error.requestId).toBe(res.headers['x-request-id'] as string)
    expect(codeOf(res.body)).toBe('bad_request')
  })

  test('another HTTP version: 505 with the envelope; a lowercase method: 400; an unknown method: 405', async () => {
    const v2 = await rawRequest(port, 'GET /healthz HTTP/2.0\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    expect([v2.status, codeOf(v2.body)]).toEqual([505, 'bad_request'])
    const lower = await rawRequest(port, 'get /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    expect([lower.status, codeOf(lower.body)]).toEqual([400, 'bad_request'])
    const foo = await rawRequest(port, 'FOO /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    expect([foo.status, codeOf(foo.body)]).toEqual([405, 'method_not_allowed'])
  })

  test('a request pipelined behind an asynchronous route: both answered (nginx sends highperf one at a time)', async () => {
    const res = await rawRequest(port, PIPELINED, { timeoutMs: 5000 })
    expect(statuses(res.raw)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200'])
  })

  test('Expect: 100-continue with a body over client_max_body_size: 413 first, no 100 Continue', async () => {
    const first = await firstBytes(port, 'POST /users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n')
    expect(first).toStartWith('HTTP/1.1 413 ')
    expect(first).toContain('"code":"payload_too_large"')
  })

  test('short, invalid and repeated Hosts: probes answer through it for Host: x, the invalid ones are its 400', async () => {
    expect((await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status).toBe(200)
    for (const host of ['Host: a/b', 'Host: x\r\nHost: y']) {
      const res = await rawRequest(port, `GET /healthz HTTP/1.1\r\n${host}\r\nConnection: close\r\n\r\n`)
      expect([res.status, codeOf(res.body)]).toEqual([400, 'bad_request'])
    }
  })

  test('server-sent events pass through unbuffered: the first event arrives while the job still runs', async () => {
    const job = await fetch(`${srv.url}jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"task":"sleep","input":{"ms":3000}}' })
    const { id } = (await job.json()) as { id: string }
    const t0 = performance.now()
    const first = await firstBytes(port, `GET /jobs/${id}/events HTTP/1.1\r\nHost: localhost\r\n\r\n`, 2500)
    expect(first).toContain('HTTP/1.1 200')
    expect(first).toContain('text/event-stream')
    expect(performance.now() - t0).toBeLessThan(2500)
  })
})
