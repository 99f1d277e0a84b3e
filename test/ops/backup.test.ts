/**
 * Online backups in-process: `POST /admin/backup` through the whole app (its guards: off without
 * API_TOKEN, the token, no client-chosen path, one at a time, a BACKUP_DIR that cannot be written)
 * and `writeBackup` itself (a copy that fails its integrity check leaves nothing behind). The
 * compiled binary's `highperf backup` and the restore are in test/cli/binary.test.ts.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createApp } from '../../src/app.ts'
import { adminBackupRoutes } from '../../src/routes/admin-backup.ts'
import { newBackupDir, writeBackup, BackupError, type BackupReport } from '../../src/ops/backup.ts'
import { tempDir, testDeps, type TestDeps } from '../support/deps.ts'

const TOKEN = 'backup-tok-7d1e'
const made: TestDeps[] = []
const tmp = tempDir('highperf-backup-')
afterAll(async () => {
  for (const t of made) await t.close()
  tmp.remove()
})

async function appWith(overrides: Parameters<typeof testDeps>[0] = {}) {
  const t = await testDeps({ workers: 1, rateLimitRps: 0, ...overrides })
  made.push(t)
  return { t, app: createApp(t.deps) }
}

const post = (body?: string, token: string | null = TOKEN, headers: Record<string, string> = {}) =>
  new Request('http://local/admin/backup', {
    method: 'POST',
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body }),
  })
type Envelope = { error: { code: string; message: string } }

describe('POST /admin/backup', () => {
  test('without API_TOKEN it is off: 404 not_found saying how to turn it on, nothing written', async () => {
    const { t, app } = await appWith({ apiToken: '' })
    const res = await app.handle(post(undefined, null))
    expect(res.status).toBe(404)
    const body = (await res.json()) as Envelope
    expect(body.error.code).toBe('not_found')
    expect(body.error.message).toContain('API_TOKEN')
    expect(existsSync(join(t.deps.config.dataDir, 'backups'))).toBe(false)
  })

  test('with API_TOKEN: 401 without the token or with a wrong one', async () => {
    const { app } = await appWith({ apiToken: TOKEN })
    for (const token of [null, 'wrong', `${TOKEN}x`]) {
      const res = await app.handle(post(undefined, token))
      expect(res.status).toBe(401)
      expect(((await res.json()) as Envelope).error.code).toBe('unauthorized')
    }
  })

  test('a body naming a destination is a 422; malformed JSON a 400; no path from a request is ever written', async () => {
    const { t, app } = await appWith({ apiToken: TOKEN })
    const evil = join(tmp.dir, 'evil')
    for (const body of [JSON.stringify({ to: evil }), JSON.stringify({ dir: '../../etc' }), '[]', '"x"', 'null', '1']) {
      const res = await app.handle(post(body))
      expect(res.status).toBe(422)
      const e = (await res.json()) as Envelope
      expect(e.error.code).toBe('validation_failed')
      expect(e.error.message).toContain('BACKUP_DIR')
    }
    const bad = await app.handle(post('{"to":'))
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as Envelope).error.code).toBe('invalid_json')
    expect(existsSync(evil)).toBe(false)
    expect(existsSync(join(t.deps.config.dataDir, 'backups'))).toBe(false)
  })

  test('writes users, messages and jobs into a new 0700 folder of BACKUP_DIR, verified, with a manifest', async () => {
    const backupDir = join(tmp.dir, 'configured')
    const { t, app } = await appWith({ apiToken: TOKEN, backupDir })
    await t.deps.users.create({ name: 'Ada', email: 'ada@example.com' })
    const res = await app.handle(post('{}'))
    expect(res.status).toBe(200)
    const report = (await res.json()) as BackupReport
    expect(report.dir.startsWith(`${backupDir}/`)).toBe(true)
    expect(report.databases.map((d) => d.name)).toEqual(['users', 'messages', 'jobs'])
    for (const d of report.databases) {
      expect(d.integrity).toBe('ok')
      expect(statSync(join(report.dir, d.file)).size).toBe(d.bytes)
      expect(statSync(join(report.dir, d.file)).mode & 0o777).toBe(0o600)
    }
    expect(report.totalBytes).toBe(report.databases.reduce((n, d) => n + d.bytes, 0))
    expect(statSync(report.dir).mode & 0o777).toBe(0o700)
    expect(JSON.parse(readFileSync(join(report.dir, 'backup.json'), 'utf8'))).toEqual(report)
    const db = new Database(join(report.dir, 'users.sqlite'), { readonly: true })
    expect(db.query('SELECT email FROM users').all()).toEqual([{ email: 'ada@example.com' }])
    db.close()
    // A second backup gets its own folder.
    const again = (await (await app.handle(post())).json()) as BackupReport
    expect(again.dir).not.toBe(report.dir)
  })

  test('a consistent snapshot while writes go on in the same process, and one backup at a time (409)', async () => {
    const { t, app } = await appWith({ apiToken: TOKEN })
    let stop = false
    let written = 0
    // Writers between the event-loop turns the backup yields.
    const writer = (async () => {
      while (!stop) {
        await t.deps.users.create({ name: 'w', email: `w${written}@example.com` })
        written++
        await new Promise((r) => setImmediate(r))
      }
    })()
    await Bun.sleep(20)
    const [a, b] = await Promise.all([app.handle(post()), app.handle(post())])
    stop = true
    await writer
    const statuses = [a.status, b.status].sort()
    expect(statuses).toEqual([200, 409])
    const conflict = (a.status === 409 ? a : b)
    expect(((await conflict.json()) as Envelope).error.code).toBe('backup_in_progress')
    expect(conflict.headers.get('retry-after')).toBe('5')
    const report = (await (a.status === 200 ? a : b).json()) as BackupReport
    const db = new Database(join(report.dir, 'users.sqlite'), { readonly: true })
    const { n, max } = db.query('SELECT count(*) AS n, max(id) AS max FROM users').get() as { n: number; max: number }
    db.close()
    expect(n).toBe(max)
    expect(n).toBeGreaterThan(0)
    expect(n).toBeLessThanOrEqual(written)
    // Once done, the next one runs.
    expect((await app.handle(post())).status).toBe(200)
  })

  test('SQLITE_LOCKING=shared: copied from worker threads while writes go on; still a consistent snapshot', async () => {
    const { t, app } = await appWith({ apiToken: TOKEN, sqliteLocking: 'shared' })
    let stop = false
    let written = 0
    const writer = (async () => {
      while (!stop) {
        await t.deps.users.create({ name: 'w', email: `s${written}@example.com` })
        written++
        await new Promise((r) => setImmediate(r))
      }
    })()
    await Bun.sleep(20)
    const res = await app.handle(post())
    const atAnswer = written
    stop = true
    await writer
    expect(res.status).toBe(200)
    const report = (await res.json()) as BackupReport
    const db = new Database(join(report.dir, 'users.sqlite'), { readonly: true })
    const { n, max } = db.query('SELECT count(*) AS n, max(id) AS max FROM users').get() as { n: number; max: number }
    db.close()
    expect(n).toBe(max)
    expect(n).toBeGreaterThan(0)
    expect(n).toBeLessThanOrEqual(atAnswer)
    expect(report.databases.every((d) => d.integrity === 'ok')).toBe(true)
  })

  test('a file the configuration calls shared but another connection holds exclusively: copied through the store instead', async () => {
    // The stores are opened exclusive (SQLITE_LOCKING=auto), the route is told "shared": the worker
    // meets SQLITE_BUSY and the backup falls back to the store's own connection.
    const { t } = await appWith({ apiToken: TOKEN })
    await t.deps.users.create({ name: 'Fallback', email: 'fb@example.com' })
    const routes = adminBackupRoutes({ ...t.deps, config: { ...t.deps.config, sqliteLocking: 'shared' } })
    const res = await routes.handle(post())
    expect(res.status).toBe(200)
    const report = (await res.json()) as BackupReport
    const db = new Database(join(report.dir, 'users.sqlite'), { readonly: true })
    expect(db.query('SELECT email FROM users').all()).toEqual([{ email: 'fb@example.com' }])
    db.close()
  })

  test('a BACKUP_DIR that cannot be created: 500 backup_failed naming it, the server keeps serving', async () => {
    const file = join(tmp.dir, 'a-file')
    writeFileSync(file, 'x')
    const { app } = await appWith({ apiToken: TOKEN, backupDir: join(file, 'sub') })
    const res = await app.handle(post())
    expect(res.status).toBe(500)
    const e = (await res.json()) as Envelope
    expect(e.error.code).toBe('backup_failed')
    expect(e.error.message).toContain(join(file, 'sub'))
    expect((await app.handle(new Request('http://local/healthz'))).status).toBe(200)
  })

  test('is in the OpenAPI document under the admin tag', async () => {
    const { app } = await appWith({ apiToken: TOKEN })
    const doc = (await (await app.handle(new Request('http://local/swagger/json'))).json()) as { paths: Record<string, Record<string, { tags?: string[] }>> }
    expect(doc.paths['/admin/backup']?.post?.tags).toEqual(['admin'])
  })
})

describe('writeBackup', () => {
  test('a copy that fails PRAGMA integrity_check is refused and nothing is left behind', async () => {
    const dir = newBackupDir(join(tmp.dir, 'bad-copy'))
    const good = join(tmp.dir, 'good.sqlite')
    const g = new Database(good)
    g.run('CREATE TABLE t (x)')
    g.close()
    const err = await writeBackup([
      { name: 'users', copyTo: (p) => { const d = new Database(good, { readonly: true }); d.run('VACUUM INTO ?1', [p]); d.close() } },
      // Not a database at all: the check must catch it rather than rename it into place.
      { name: 'messages', copyTo: (p) => writeFileSync(p, 'garbage'.repeat(1000)) },
    ], dir).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BackupError)
    expect((err as BackupError).code).toBe('integrity_failed')
    expect((err as BackupError).message).toContain('messages.sqlite')
    expect(readdirSync(dir)).toEqual([])
  })

  test('newBackupDir never reuses a folder: two at the same instant get two names', () => {
    const now = new Date('2026-01-02T03:04:05.678Z')
    const base = join(tmp.dir, 'same-instant')
    const a = newBackupDir(base, now)
    const b = newBackupDir(base, now)
    expect(a).toBe(join(base, '2026-01-02T03-04-05.678Z'))
    expect(b).toBe(join(base, '2026-01-02T03-04-05.678Z-1'))
  })
})
