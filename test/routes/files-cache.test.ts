/**
 * The files route remembers what it resolved (src/routes/files/cache.ts) and must never answer
 * from that memory once the disk says otherwise: every test first gets a file served (so it is
 * cached), changes it on disk, and asks again at once.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createApp } from '../../src/app.ts'
import { entryOf, FileCache } from '../../src/routes/files/cache.ts'
import { FileRoot } from '../../src/routes/files/resolve.ts'
import { testDeps, type TestDeps } from '../support/deps.ts'

const SECRET = 'TOP-SECRET-OUTSIDE-FILES-DIR'
let t: TestDeps
let app: ReturnType<typeof createApp>
let files: string
let outside: string

beforeAll(async () => {
  t = await testDeps({ rateLimitRps: 0, requestTimeout: 30_000 })
  files = t.deps.config.filesDir
  outside = join(t.dir, 'outside')
  mkdirSync(files, { recursive: true })
  mkdirSync(outside, { recursive: true })
  writeFileSync(join(outside, 'secret.txt'), SECRET)
  app = createApp(t.deps)
})
afterAll(() => t.close())

const get = (path: string, headers: Record<string, string> = {}) => app.handle(new Request(`http://localhost/files/${path}`, { headers }))
const body = async (path: string) => {
  const res = await get(path)
  return { status: res.status, text: await res.text(), etag: res.headers.get('etag') }
}

describe('the files cache never serves a changed file stale', () => {
  test('a same-size rewrite in place: the new bytes at once', async () => {
    writeFileSync(join(files, 'same.txt'), 'version-1')
    expect((await body('same.txt')).text).toBe('version-1')
    expect((await body('same.txt')).text).toBe('version-1') // now answered from the cache
    writeFileSync(join(files, 'same.txt'), 'version-2')
    expect((await body('same.txt')).text).toBe('version-2')
  })

  test('a rewrite of another size: new bytes, new length and a new ETag', async () => {
    writeFileSync(join(files, 'grow.txt'), 'short')
    const before = await body('grow.txt')
    await body('grow.txt')
    writeFileSync(join(files, 'grow.txt'), 'a good deal longer')
    const res = await get('grow.txt')
    expect(await res.text()).toBe('a good deal longer')
    expect(res.headers.get('etag')).not.toBe(before.etag)
    expect(res.headers.get('etag')).toStartWith('"12-') // the size, 18, in hex
  })

  test('a new mtime alone (touch): a new ETag, so a 304 is not given for the old one', async () => {
    writeFileSync(join(files, 'touched.txt'), 'same bytes')
    utimesSync(join(files, 'touched.txt'), new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'))
    const old = (await body('touched.txt')).etag as string
    expect((await get('touched.txt', { 'if-none-match': old })).status).toBe(304)
    utimesSync(join(files, 'touched.txt'), new Date('2026-02-01T00:00:00Z'), new Date('2026-02-01T00:00:00Z'))
    const res = await get('touched.txt', { 'if-none-match': old })
    expect(res.status).toBe(200)
    expect(res.headers.get('etag')).not.toBe(old)
    expect(res.headers.get('last-modified')).toBe(new Date('2026-02-01T00:00:00Z').toUTCString())
  })

  test('an atomic replace (write a temporary file, rename over): the new file', async () => {
    writeFileSync(join(files, 'deploy.js'), 'old build')
    await body('deploy.js')
    writeFileSync(join(files, 'deploy.js.tmp'), 'new build')
    renameSync(join(files, 'deploy.js.tmp'), join(files, 'deploy.js'))
    expect((await body('deploy.js')).text).toBe('new build')
  })

  test('a deleted file: 404', async () => {
    writeFileSync(join(files, 'gone.txt'), 'here')
    expect((await body('gone.txt')).status).toBe(200)
    unlinkSync(join(files, 'gone.txt'))
    expect((await body('gone.txt')).status).toBe(404)
  })

  test('a file replaced by a directory: 404', async () => {
    writeFileSync(join(files, 'shape'), 'file')
    expect((await body('shape')).status).toBe(200)
    unlinkSync(join(files, 'shape'))
    mkdirSync(join(files, 'shape'))
    expect((await body('shape')).status).toBe(404)
  })

  test('a symlink pointed outside FILES_DIR after it was served: 404, never the outside file', async () => {
    writeFileSync(join(files, 'target.txt'), 'inside')
    symlinkSync(join(files, 'target.txt'), join(files, 'moving-link.txt'))
    expect((await body('moving-link.txt')).text).toBe('inside')
    unlinkSync(join(files, 'moving-link.txt'))
    symlinkSync(join(outside, 'secret.txt'), join(files, 'moving-link.txt'))
    const after = await body('moving-link.txt')
    expect(after.status).toBe(404)
    expect(after.text).not.toContain(SECRET)
  })

  test('a directory on the path swapped for a symlink to outside: 404', async () => {
    mkdirSync(join(files, 'assets'))
    writeFileSync(join(files, 'assets', 'secret.txt'), 'public asset')
    expect((await body('assets/secret.txt')).text).toBe('public asset')
    rmSync(join(files, 'assets'), { recursive: true })
    symlinkSync(outside, join(files, 'assets'))
    const after = await body('assets/secret.txt')
    expect(after.status).toBe(404)
    expect(after.text).not.toContain(SECRET)
  })

  test('HEAD follows the same rules', async () => {
    writeFileSync(join(files, 'head.txt'), 'one')
    await body('head.txt')
    writeFileSync(join(files, 'head.txt'), 'three')
    const res = await app.handle(new Request('http://localhost/files/head.txt', { method: 'HEAD' }))
    expect(res.headers.get('etag')).toStartWith('"5-') // the new size
    unlinkSync(join(files, 'head.txt'))
    expect((await app.handle(new Request('http://localhost/files/head.txt', { method: 'HEAD' }))).status).toBe(404)
  })
})

describe('a cached GET (answered before the route, src/routes/files/index.ts) answers as the route does', () => {
  const headersOf = (res: Response) => [...res.headers].filter(([k]) => k !== 'x-request-id' && k !== 'date')

  test('the same status, headers and bytes as the first, uncached answer; synchronously', async () => {
    writeFileSync(join(files, 'twice.json'), '{"a":1}')
    const first = await get('twice.json')
    const again = app.fetch(new Request('http://localhost/files/twice.json'), null)
    expect(again).toBeInstanceOf(Response) // no promise: the cached answer is a plain call
    const second = await again
    expect(second.status).toBe(first.status)
    expect(headersOf(second)).toEqual(headersOf(first))
    expect(await second.text()).toBe(await first.text())
  })

  test('304, 206 and the 416 envelope from a cached file', async () => {
    writeFileSync(join(files, 'cond.bin'), '0123456789')
    const etag = (await get('cond.bin')).headers.get('etag') as string
    expect((await get('cond.bin', { 'if-none-match': etag })).status).toBe(304)
    const part = await get('cond.bin', { range: 'bytes=2-4' })
    expect(part.status).toBe(206)
    expect(await part.text()).toBe('234')
    const refused = await get('cond.bin', { range: 'bytes=50-' })
    expect(refused.status).toBe(416)
    expect(refused.headers.get('content-range')).toBe('bytes */10')
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('range_not_satisfiable')
  })
})

describe('FileCache', () => {
  test('holds at most its bound, dropping the least recently used', () => {
    const cache = new FileCache(2)
    for (const name of ['a', 'b', 'c']) {
      const path = join(files, `lru-${name}.txt`)
      writeFileSync(path, name)
      cache.set(name, path, entryOf(path, statSync(path)))
      if (name === 'b') expect(cache.get('a')?.size).toBe(1) // 'a' used: 'b' is now the oldest
    }
    expect(cache.size).toBe(2)
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('a')).toBeDefined()
    expect(cache.get('c')).toBeDefined()
  })

  test('a hit is the file as resolved; a miss once the stat differs, and the entry is gone', () => {
    const path = join(files, 'unit.txt')
    writeFileSync(path, '12345')
    const cache = new FileCache(4)
    cache.set('unit.txt', path, entryOf(path, statSync(path)))
    expect(cache.get('unit.txt')).toMatchObject({ path, size: 5 })
    writeFileSync(path, '123456')
    expect(cache.get('unit.txt')).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  test('FileRoot answers from the cache only what resolve() found', async () => {
    writeFileSync(join(files, 'root.txt'), 'r')
    const root = new FileRoot(files)
    expect(root.cached('root.txt')).toBeUndefined()
    expect((await root.resolve('root.txt'))?.size).toBe(1)
    expect(root.cached('root.txt')?.size).toBe(1)
    expect(await root.resolve('../outside/secret.txt')).toBeNull()
    expect(root.cached('../outside/secret.txt')).toBeUndefined()
  })
})
