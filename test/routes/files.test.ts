import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Server } from 'bun'
import { createApp } from '../../src/app.ts'
import { BUN_BODY_CEILING } from '../../src/http/body-limit/index.ts'
import { FileRoot, MAX_PATH_LENGTH, safeSegments } from '../../src/routes/files/resolve.ts'
import { etagOf, ifRangeAllows, isNotModified, parseRange } from '../../src/routes/files/conditional.ts'
import { testDeps, type TestDeps } from '../support/deps.ts'
import { rawRequest } from '../support/raw-http.ts'

const SECRET = 'TOP-SECRET-OUTSIDE-FILES-DIR'
const HELLO = 'hello, files\n'
const MTIME = new Date('2026-01-02T03:04:05Z')

let t: TestDeps
let app: ReturnType<typeof createApp>
let files: string
let data: Uint8Array<ArrayBuffer>

beforeAll(async () => {
  t = await testDeps({ rateLimitRps: 0, requestTimeout: 30_000 })
  files = t.deps.config.filesDir
  const outside = join(t.dir, 'outside')
  mkdirSync(join(files, 'sub', 'dir'), { recursive: true })
  mkdirSync(outside, { recursive: true })
  writeFileSync(join(files, 'hello.txt'), HELLO)
  utimesSync(join(files, 'hello.txt'), MTIME, MTIME)
  data = crypto.getRandomValues(new Uint8Array(10_000))
  writeFileSync(join(files, 'sub', 'data.bin'), data)
  writeFileSync(join(files, 'page.html'), '<h1>hi</h1>')
  writeFileSync(join(files, 'space name.txt'), 'spaced')
  writeFileSync(join(files, '%2e%2e%2f'), 'literal name')
  writeFileSync(join(files, 'empty.txt'), '')
  writeFileSync(join(files, '.env'), `hidden ${SECRET}`)
  mkdirSync(join(files, '.git'))
  writeFileSync(join(files, '.git', 'config'), `hidden ${SECRET}`)
  writeFileSync(join(outside, 'secret.txt'), SECRET)
  writeFileSync(join(t.dir, 'secret.txt'), SECRET)
  symlinkSync(join(outside, 'secret.txt'), join(files, 'out-link.txt'))
  symlinkSync(outside, join(files, 'out-dir'))
  symlinkSync('../outside/secret.txt', join(files, 'sub', 'relative-out.txt'))
  symlinkSync(join(files, 'hello.txt'), join(files, 'in-link.txt'))
  symlinkSync(join(files, '.env'), join(files, 'to-hidden.txt'))
  app = createApp(t.deps)
})
afterAll(() => t.close())

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  app.handle(new Request(`http://localhost${path}`, { method, headers }))
const codeOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code

describe('GET /files/*', () => {
  test('serves a file with its type, length, ETag, Last-Modified and Accept-Ranges', async () => {
    const res = await get('/files/hello.txt')
    expect(res.status).toBe(200)
    expect(await res.text()).toBe(HELLO)
    expect(res.headers.get('content-type')).toStartWith('text/plain')
    expect(res.headers.get('etag')).toBe(etagOf(HELLO.length, MTIME.getTime()))
    expect(res.headers.get('last-modified')).toBe(MTIME.toUTCString())
    expect(res.headers.get('accept-ranges')).toBe('bytes')
    expect(res.headers.get('x-request-id')).not.toBeNull()
    expect((await get('/files/page.html')).headers.get('content-type')).toStartWith('text/html')
    const bin = await get('/files/sub/data.bin')
    expect(bin.headers.get('content-type')).toBe('application/octet-stream')
    expect(new Uint8Array(await bin.arrayBuffer())).toEqual(data)
  })

  test('a query string is not part of the file name', async () => {
    expect(await (await get('/files/hello.txt?v=3')).text()).toBe(HELLO)
    expect((await get('/files/hello.txt?v=3', {}, 'HEAD')).status).toBe(200)
  })

  test('percent-encoded names are decoded once', async () => {
    expect(await (await get('/files/space%20name.txt')).text()).toBe('spaced')
    // %252e%252e%252f decodes once to the literal file name "%2e%2e%2f", never to "../".
    expect(await (await get('/files/%252e%252e%252f')).text()).toBe('literal name')
  })

  test('an empty file is served empty', async () => {
    const res = await get('/files/empty.txt')
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('')
  })

  test.each([
    ['a missing file', '/files/nope.txt'],
    ['a directory', '/files/sub'],
    ['a directory with a slash', '/files/sub/'],
    ['the root itself', '/files/'],
    ['a hidden file', '/files/.env'],
    ['a file in a hidden directory', '/files/.git/config'],
    ['a symlink pointing outside', '/files/out-link.txt'],
    ['a file under a directory symlink pointing outside', '/files/out-dir/secret.txt'],
    ['a relative symlink pointing outside', '/files/sub/relative-out.txt'],
    ['a symlink to a hidden file inside', '/files/to-hidden.txt'],
    ['an encoded traversal', '/files/..%2fsecret.txt'],
    ['an encoded traversal from a subdirectory', '/files/sub/..%2f..%2fsecret.txt'],
    ['an encoded absolute path', '/files/%2fetc%2fpasswd'],
    ['a double slash absolute path', '/files//etc/passwd'],
    ['an encoded backslash traversal', '/files/..%5csecret.txt'],
    ['an encoded NUL byte', '/files/hello.txt%00.html'],
    ['an overlong path', `/files/${'a/'.repeat(MAX_PATH_LENGTH)}x`],
    ['an overlong segment', `/files/${'a'.repeat(300)}`],
  ])('%s is a 404 envelope', async (_what, path) => {
    const res = await get(path)
    expect(res.status).toBe(404)
    const body = await res.text()
    expect(JSON.parse(body).error.code).toBe('not_found')
    expect(body).not.toContain(SECRET)
  })

  test('a symlink inside FILES_DIR pointing inside is followed', async () => {
    const res = await get('/files/in-link.txt')
    expect(res.status).toBe(200)
    expect(await res.text()).toBe(HELLO)
  })

  test('malformed percent-encoding is 400 bad_request', async () => {
    const res = await get('/files/%E0%A4%A')
    expect(res.status).toBe(400)
    expect(await codeOf(res)).toBe('bad_request')
  })
})

describe('conditional requests', () => {
  test('304 on a matching If-None-Match (exact, weak, in a list, or *), with the validators and no body', async () => {
    const etag = (await get('/files/hello.txt')).headers.get('etag')!
    for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
      const res = await get('/files/hello.txt', { 'if-none-match': inm })
      expect(res.status).toBe(304)
      expect(res.headers.get('etag')).toBe(etag)
      expect(res.headers.get('last-modified')).toBe(MTIME.toUTCString())
      expect(await res.text()).toBe('')
    }
    expect((await get('/files/hello.txt', { 'if-none-match': '"other"' })).status).toBe(200)
  })

  test('If-Modified-Since: 304 when not modified since, 200 when modified after; If-None-Match wins', async () => {
    expect((await get('/files/hello.txt', { 'if-modified-since': MTIME.toUTCString() })).status).toBe(304)
    expect((await get('/files/hello.txt', { 'if-modified-since': new Date(MTIME.getTime() + 60_000).toUTCString() })).status).toBe(304)
    expect((await get('/files/hello.txt', { 'if-modified-since': new Date(MTIME.getTime() - 1000).toUTCString() })).status).toBe(200)
    expect((await get('/files/hello.txt', { 'if-modified-since': 'not a date' })).status).toBe(200)
    expect((await get('/files/hello.txt', { 'if-none-match': '"other"', 'if-modified-since': new Date(MTIME.getTime() + 60_000).toUTCString() })).status).toBe(200)
  })

  test('the ETag changes when the file changes', async () => {
    writeFileSync(join(files, 'changing.txt'), 'one')
    utimesSync(join(files, 'changing.txt'), MTIME, MTIME)
    const first = (await get('/files/changing.txt')).headers.get('etag')!
    writeFileSync(join(files, 'changing.txt'), 'two!')
    const res = await get('/files/changing.txt', { 'if-none-match': first })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('two!')
  })
})

describe('ranges', () => {
  const size = 10_000
  const range = (r: string, extra: Record<string, string> = {}) => get('/files/sub/data.bin', { range: r, ...extra })

  test.each([
    ['bytes=0-9', 0, 9],
    ['bytes=100-', 100, size - 1],
    ['bytes=-10', size - 10, size - 1],
    ['bytes=9990-20000', 9990, size - 1],
    ['bytes=-20000', 0, size - 1],
    ['bytes=5-5', 5, 5],
  ])('%s is 206 with Content-Range and exactly those bytes', async (header, start, end) => {
    const res = await range(header)
    expect(res.status).toBe(206)
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${size}`)
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(data.slice(start, end + 1))
  })

  test('random ranges always return the right bytes', async () => {
    for (let i = 0; i < 100; i++) {
      const a = Math.floor(Math.random() * size)
      const b = a + Math.floor(Math.random() * (size - a))
      const res = await range(`bytes=${a}-${b}`)
      expect(res.status).toBe(206)
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(data.slice(a, b + 1))
    }
  })

  test.each(['bytes=10000-', 'bytes=20000-30000', 'bytes=-0'])('%s is 416 with Content-Range: bytes */size and the envelope', async (header) => {
    const res = await range(header)
    expect(res.status).toBe(416)
    expect(res.headers.get('content-range')).toBe(`bytes */${size}`)
    expect(await codeOf(res)).toBe('range_not_satisfiable')
  })

  test('any range of an empty file is 416', async () => {
    const res = await get('/files/empty.txt', { range: 'bytes=0-' })
    expect(res.status).toBe(416)
    expect(res.headers.get('content-range')).toBe('bytes */0')
  })

  test.each(['bytes=5-2', 'bytes=0-1,5-6', 'items=0-5', 'bytes=abc', 'bytes=-', 'bytes 0-5'])('%s is ignored: 200 with the whole file', async (header) => {
    const res = await range(header)
    expect(res.status).toBe(200)
    expect((await res.arrayBuffer()).byteLength).toBe(size)
  })

  test('If-Range: the current ETag keeps the range, a stale one sends the whole file', async () => {
    const etag = (await get('/files/sub/data.bin')).headers.get('etag')!
    expect((await range('bytes=0-9', { 'if-range': etag })).status).toBe(206)
    expect((await range('bytes=0-9', { 'if-range': '"stale"' })).status).toBe(200)
  })
})

describe('HEAD /files/*', () => {
  test('the headers of GET without the body', async () => {
    const res = await get('/files/sub/data.bin', {}, 'HEAD')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    expect(res.headers.get('etag')).toBe((await get('/files/sub/data.bin')).headers.get('etag'))
    expect(res.headers.get('accept-ranges')).toBe('bytes')
  })

  test('HEAD of a missing or escaping path is 404', async () => {
    expect((await get('/files/nope', {}, 'HEAD')).status).toBe(404)
    expect((await get('/files/out-link.txt', {}, 'HEAD')).status).toBe(404)
  })
})

describe('a missing FILES_DIR', () => {
  test('every file is 404 and the server keeps serving', async () => {
    const other = await testDeps({ filesDir: join(t.dir, 'does-not-exist'), rateLimitRps: 0 })
    try {
      const a = createApp(other.deps)
      const res = await a.handle(new Request('http://localhost/files/hello.txt'))
      expect(res.status).toBe(404)
      expect((await a.handle(new Request('http://localhost/healthz'))).status).toBe(200)
      // Created later: served without a restart.
      mkdirSync(other.deps.config.filesDir, { recursive: true })
      writeFileSync(join(other.deps.config.filesDir, 'late.txt'), 'late')
      expect(await (await a.handle(new Request('http://localhost/files/late.txt'))).text()).toBe('late')
    } finally {
      await other.close()
    }
  })
})

describe('raw requests on a real server (no client-side normalisation)', () => {
  let server: Server<unknown>
  beforeAll(() => {
    server = Bun.serve({ port: 0, hostname: '127.0.0.1', maxRequestBodySize: BUN_BODY_CEILING, fetch: app.fetch })
  })
  afterAll(() => server.stop(true))
  const send = (target: string, method = 'GET') =>
    rawRequest(server.port!, `${method} ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)

  test('a plain request is served (the harness sees real answers)', async () => {
    const res = await send('/files/hello.txt')
    expect(res.status).toBe(200)
    expect(res.body).toBe(HELLO)
    const ranged = await rawRequest(server.port!, 'GET /files/sub/data.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=10-19\r\nConnection: close\r\n\r\n')
    expect(ranged.status).toBe(206)
    expect(ranged.headers['content-length']).toBe('10')
    expect(ranged.headers['content-range']).toBe('bytes 10-19/10000')
    expect(Buffer.from(ranged.body, 'latin1')).toEqual(Buffer.from(data.slice(10, 20)))
    const head = await send('/files/sub/data.bin', 'HEAD')
    expect(head.status).toBe(200)
    expect(head.headers['content-length']).toBe(String(data.byteLength))
    expect(head.body).toBe('')
  })

  test.each([
    '/files/../secret.txt',
    '/files/../outside/secret.txt',
    '/files/sub/../../secret.txt',
    '/files/%2e%2e/secret.txt',
    '/files/%2e%2e%2fsecret.txt',
    '/files/%2E%2E%2Fsecret.txt',
    '/files/..%2fsecret.txt',
    '/files/.%2e/secret.txt',
    '/files/%252e%252e%252fsecret.txt',
    '/files//etc/passwd',
    '/files/%2fetc%2fpasswd',
    '/files/..\\secret.txt',
    '/files/..%5csecret.txt',
    '/files/%5c..%5csecret.txt',
    '/files/hello.txt%00',
    '/files/%00../secret.txt',
    '/files/out-link.txt',
    '/files/out-dir/secret.txt',
    '/files/sub/relative-out.txt',
    '/files/.env',
    '/files/.git/config',
    '/files/./.env',
    '/files/%2eenv',
    '/files/%2e%65nv',
    `/files/${'../'.repeat(50)}etc/passwd`,
  ])('%s never serves anything outside FILES_DIR', async (target) => {
    for (const method of ['GET', 'HEAD']) {
      const res = await send(target, method)
      expect(res.status).not.toBe(200)
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(res.status).toBeLessThan(500)
      expect(res.raw).not.toContain(SECRET)
      expect(res.raw).not.toContain('root:')
    }
  })
})

describe('helpers', () => {
  test('safeSegments refuses every unsafe shape and keeps plain names', () => {
    expect(safeSegments('a/b%20c.txt')).toEqual(['a', 'b c.txt'])
    for (const bad of ['', '/abs', 'a//b', 'a/', '..', 'a/../b', '.', '.hidden', 'a/.x', '%2e%2e', '%2fetc', 'a%5cb', 'a%00', 'x'.repeat(MAX_PATH_LENGTH + 1)]) {
      expect(safeSegments(bad)).toBeNull()
    }
    expect(() => safeSegments('%zz')).toThrow()
  })

  test('FileRoot.resolve checks the real path', async () => {
    const root = new FileRoot(files)
    expect((await root.resolve('hello.txt'))?.size).toBe(HELLO.length)
    expect(await root.resolve('out-link.txt')).toBeNull()
    expect(await root.resolve('sub')).toBeNull()
  })

  test('isNotModified and ifRangeAllows follow RFC 9110 precedence', () => {
    const tag = etagOf(10, 1000)
    expect(isNotModified(new Headers({ 'if-none-match': tag }), tag, 1000)).toBe(true)
    expect(isNotModified(new Headers({ 'if-none-match': '"x"', 'if-modified-since': new Date(5000).toUTCString() }), tag, 1000)).toBe(false)
    expect(isNotModified(new Headers(), tag, 1000)).toBe(false)
    expect(ifRangeAllows(null, tag, 1000)).toBe(true)
    expect(ifRangeAllows(`W/${tag}`, tag, 1000)).toBe(false)
    expect(ifRangeAllows(new Date(1000).toUTCString(), tag, 1000)).toBe(true)
    expect(parseRange('bytes=0-0', 1)).toEqual({ start: 0, end: 0 })
    expect(parseRange(null, 1)).toBeNull()
  })
})
