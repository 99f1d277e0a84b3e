/**
 * Bare Elysia, the framework floor of bench/peers: the same endpoints as highperf with the same
 * store (bun:sqlite, the pragmas of src/store/sqlite.ts) and `Bun.file` for files, and no
 * middleware at all: no request id, no rate limit, breaker, deadline, metrics or access log. The
 * gap between this row and highperf's is what highperf's stack costs on top of its framework.
 * It has no CPU path (POST /tasks/primes is not served).
 *
 * @example
 * ```sh
 * PORT=3001 DATA_DIR=/tmp/d FILES_DIR=/tmp/f bun bench/peers/elysia/server.ts
 * ```
 */
import { Database } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { join, resolve, sep } from 'node:path'
import { Elysia, t } from 'elysia'

interface User { id: number; name: string; email: string; createdAt: string }

const dataDir = process.env.DATA_DIR ?? './data'
mkdirSync(dataDir, { recursive: true })
const db = new Database(join(dataDir, 'users.sqlite'), { create: true, strict: true })
db.run('PRAGMA busy_timeout = 5000')
db.run('PRAGMA locking_mode = EXCLUSIVE')
db.run('PRAGMA journal_mode = WAL')
db.run('PRAGMA synchronous = NORMAL')
db.run(`CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE UNIQUE INDEX IF NOT EXISTS users_email_nocase ON users (email COLLATE NOCASE);`)
const COLUMNS = 'id, name, email, created_at AS createdAt'
const getUser = db.prepare<User, [number]>(`SELECT ${COLUMNS} FROM users WHERE id = ?1`)
const insertUser = db.prepare<User, [string, string, string]>(`INSERT INTO users (name, email, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`)
const filesRoot = resolve(process.env.FILES_DIR ?? './public')

const notFound = (message: string) => new Response(JSON.stringify({ error: { code: 'not_found', message } }), { status: 404, headers: { 'content-type': 'application/json' } })

const app = new Elysia()
  .get('/healthz', () => 'ok')
  .get('/users/:id', ({ params }) => getUser.get(Number(params.id)) ?? notFound(`user ${params.id} does not exist`), {
    params: t.Object({ id: t.String({ pattern: '^[0-9]{1,15}$' }) }),
  })
  .post('/users', ({ body, set }) => {
    const user = insertUser.get(body.name.trim(), body.email.trim(), new Date().toISOString())
    if (user === null) {
      set.status = 409
      return { error: { code: 'conflict', message: `email ${body.email} is taken` } }
    }
    set.status = 201
    set.headers.location = `/users/${user.id}`
    return user
  }, {
    body: t.Object({ name: t.String({ minLength: 1, maxLength: 100 }), email: t.String({ format: 'email', maxLength: 254 }) }),
  })
  .get('/files/*', ({ params }) => {
    const segments = params['*'].split('/')
    if (segments.some((s) => s.length === 0 || s.startsWith('.'))) return notFound('No such file')
    // As a user of bare Elysia writes it: no stat first (a missing file is a 500 here, not a 404).
    return Bun.file(filesRoot + sep + segments.join(sep))
  })
  .listen({ hostname: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 3000) })

process.on('SIGTERM', () => {
  void app.stop(true).then(() => process.exit(0))
})
