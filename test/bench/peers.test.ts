/**
 * bench/peers' servers answer like highperf before they are compared with it: the same status
 * codes and bodies on the benchmarked endpoints, and, for the peers at parity, the headers and
 * side effects of the default stack (request id honoured, Server header, a Prometheus series, one
 * access-log line). Each peer is started briefly; the Go peer is skipped when `go` (or Debian's Go
 * modules) are missing, the Fastify peer when Node cannot load its native sqlite module.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startServer, stop, type Started } from '../../bench/lib/server.ts'
import { buildGoStack, fastifyReady, prepareFiles } from '../../bench/peers/setup.ts'

const ROOT = resolve(import.meta.dir, '../..')
const tmp = mkdtempSync(join(tmpdir(), 'highperf-peers-test-'))
const files = prepareFiles(join(tmp, 'files'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const hasGo = Bun.which('go') !== null
const goBin = buildGoStack(join(tmp, 'go-stack'), join(tmpdir(), 'highperf-peers-gocache'))
const fastify = fastifyReady()

interface Peer { name: string; cmd: string[]; stack: boolean; cpu: boolean; ready: boolean }
const peers: Peer[] = [
  { name: 'bare Elysia', cmd: [process.execPath, join(ROOT, 'bench/peers/elysia/server.ts')], stack: false, cpu: false, ready: true },
  { name: 'raw Bun.serve', cmd: [process.execPath, join(ROOT, 'bench/http/raw.ts')], stack: false, cpu: false, ready: true },
  { name: 'Fastify', cmd: ['node', join(ROOT, 'bench/peers/fastify/server.mjs')], stack: true, cpu: true, ready: fastify === true },
  { name: 'Go stack', cmd: [typeof goBin === 'string' ? goBin : 'go'], stack: true, cpu: true, ready: typeof goBin === 'string' },
]

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

for (const peer of peers) {
  describe.skipIf(!peer.ready)(`bench/peers: ${peer.name}`, () => {
    let s: Started
    const dir = join(tmp, peer.name.replace(/\W+/g, '-'))
    const accessLog = join(dir, 'access.log')

    test('starts', async () => {
      mkdirSync(dir, { recursive: true })
      s = await startServer({
        cmd: peer.cmd,
        env: { DATA_DIR: join(dir, 'data'), FILES_DIR: files, RAW_FILES: files, RAW_DB: join(dir, 'raw.sqlite'), ACCESS_LOG: accessLog, THREADS: '1' },
        stderr: 'pipe',
      })
    }, 30_000)

    test('GET /healthz answers ok', async () => {
      const res = await fetch(`${s.url}/healthz`)
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('ok')
    })

    test('POST /users creates a user that GET /users/:id reads back', async () => {
      const res = await fetch(`${s.url}/users`, json({ name: 'Ada', email: 'ada@example.com' }))
      expect(res.status).toBe(201)
      const user = (await res.json()) as { id: number; name: string; email: string; createdAt: string }
      expect(user).toMatchObject({ name: 'Ada', email: 'ada@example.com' })
      expect(Date.parse(user.createdAt)).not.toBeNaN()
      expect(res.headers.get('location')).toBe(`/users/${user.id}`)
      if (peer.name === 'raw Bun.serve') return // its GET /users/:id reads a Map (bench/http/raw.ts)
      const back = await fetch(`${s.url}/users/${user.id}`)
      expect(back.status).toBe(200)
      expect(await back.json()).toEqual(user)
    })

    test.skipIf(!peer.stack && peer.name !== 'bare Elysia')('a taken email (ignoring case) is a 409, an unknown id a 404 envelope', async () => {
      const dup = await fetch(`${s.url}/users`, json({ name: 'Ada', email: 'ADA@example.com' }))
      expect(dup.status).toBe(409)
      await dup.arrayBuffer()
      const missing = await fetch(`${s.url}/users/99999`)
      expect(missing.status).toBe(404)
      expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found')
    })

    test('serves the 4 KB and 1 MB files byte for byte', async () => {
      for (const name of ['4k.bin', '1m.bin']) {
        const res = await fetch(`${s.url}/files/${name}`)
        expect(res.status).toBe(200)
        expect(Buffer.from(await res.arrayBuffer()).equals(readFileSync(join(files, name)))).toBe(true)
      }
    })

    test.skipIf(!peer.cpu)('POST /tasks/primes counts primes like highperf', async () => {
      const res = await fetch(`${s.url}/tasks/primes`, json({ n: 100_000 }))
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ n: 100_000, count: 9592 })
    })

    test.skipIf(!peer.stack)('carries the default stack: request id, Server, ETag, metrics, rate limit, one access-log line', async () => {
      const res = await fetch(`${s.url}/files/4k.bin`, { headers: { 'x-request-id': 'peer-check-1' } })
      await res.arrayBuffer()
      expect(res.headers.get('x-request-id')).toBe('peer-check-1')
      expect(res.headers.get('server')).toBeTruthy()
      expect(res.headers.get('etag')).toMatch(/^"1000-[0-9a-f]+"$/)
      expect(res.headers.get('last-modified')).toBeTruthy()
      expect([...res.headers.keys()].some((k) => k.includes('ratelimit-limit'))).toBe(true)
      const generated = await fetch(`${s.url}/healthz`)
      expect(generated.headers.get('x-request-id')).toBeTruthy()
      const metrics = await (await fetch(`${s.url}/metrics`)).text()
      expect(metrics).toMatch(/http_requests_total\{[^}]*route="\/files\/\*"[^}]*\} [1-9]/)
      expect(metrics).toContain('http_request_duration_seconds_bucket')
      await stop(s.proc) // flushes the access log
      const lines = readFileSync(accessLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(lines.filter((l) => l.requestId === 'peer-check-1')).toHaveLength(1)
      expect(lines.find((l) => l.requestId === 'peer-check-1')).toMatchObject({ method: 'GET', route: '/files/*', status: 200 })
    }, 15_000)

    test('stops', async () => {
      if (s.proc.exitCode === null && s.proc.signalCode === null) await stop(s.proc)
    })
  })
}

test.skipIf(hasGo)('without go, the Go peer says how to install it', () => {
  expect(typeof goBin === 'string' ? '' : goBin.skip).toContain('apt-get install')
})
