/**
 * The baselines of bench/http: plain `Bun.serve` with its built-in router, no framework.
 * `GET /healthz` -> `ok`; `GET /users/:id` -> JSON from a Map (what a sqlite read is compared
 * against). Started by bench/http/index.ts with PORT set.
 *
 * `RAW_MODE` picks how much of highperf's mandatory per-request work the baseline does too, so the
 * table shows the floor that work sets before any framework runs:
 * - `bare` (default): nothing; the issue's "raw Bun.serve".
 * - `headers`: every answer carries the two headers every highperf answer must carry,
 *   `X-Request-Id` (the client's own when it sent one, else a counter, as highperf does) and
 *   `Server`. Reading the request's header makes Bun build the request's Headers object: part
 *   of the mandatory cost (~0.3 µs in process, bench/tracing's front rows).
 * - `sqlite`: `headers`, and `/users/:id` is a bun:sqlite read as in highperf (the same pragmas:
 *   WAL, synchronous NORMAL, exclusive locking; a prepared `SELECT … WHERE id = ?`) in a database
 *   at `RAW_DB` holding one user.
 * - `full`: `headers`, plus what the full stack must learn or write per request at the least: the
 *   client's address (`server.requestIP`, the rate limiter's key and the access log's client) and
 *   one access-log line appended to a buffer flushed to a file every 64 KiB.
 * - `stack`: `full`, plus the other headers highperf's default stack puts on these answers:
 *   `X-Content-Type-Options: nosniff` on every answer, and the three `RateLimit-*` headers on the
 *   rate-limited routes (all of these but /healthz), with constant values (no bucket is kept).
 *   On Bun 1.4.5 each response header costs ~0.7 µs of serving (bench/README.md), so these four
 *   are part of what highperf cannot skip either.
 *
 * `RAW_CLIENT=off` (with `full` or `stack`): the access line's client is a constant instead of
 * `server.requestIP()`: the price of that one call (a `getpeername` syscall per request) alone,
 * for bench/http/ladder.ts.
 *
 * In every mode, for bench/peers: `GET /files/*` answers `new Response(Bun.file(RAW_FILES/<path>))`
 * (Bun's own static path: sendfile, no stat of ours, no validators; in `full` mode also one stat
 * and the ETag / Last-Modified / Accept-Ranges headers built from it), and `POST /users` parses the
 * JSON body and does highperf's sqlite insert (the same table, unique index and `INSERT … ON
 * CONFLICT DO NOTHING RETURNING`) into `RAW_DB` (default: in memory): the floor of those routes.
 *
 * @example
 * ```sh
 * PORT=4000 bun bench/http/raw.ts
 * RAW_MODE=headers PORT=4000 bun bench/http/raw.ts
 * RAW_MODE=sqlite RAW_DB=/tmp/raw.sqlite PORT=4000 bun bench/http/raw.ts
 * RAW_MODE=stack RAW_ACCESS_LOG=/tmp/raw.log PORT=4000 bun bench/http/raw.ts
 * ```
 */
import { closeSync, openSync, statSync, writeSync } from 'node:fs'
import { Database } from 'bun:sqlite'
import type { Server } from 'bun'

const users = new Map<number, { id: number; name: string; email: string; createdAt: string }>([
  [1, { id: 1, name: 'Bench User', email: 'bench@example.com', createdAt: '2026-01-01T00:00:00.000Z' }],
])
const mode = process.env.RAW_MODE ?? 'bare'
const prefix = Math.random().toString(36).slice(2, 8)
let counter = 0
const logged = mode === 'full' || mode === 'stack'
const askClient = logged && process.env.RAW_CLIENT !== 'off'
const logFd = logged ? openSync(process.env.RAW_ACCESS_LOG ?? '/dev/null', 'a') : -1
let pending = ''

function healthz(): Response {
  return new Response('ok')
}
type Routed = Request & { params: Record<string, string> }
type User = { id: number; name: string; email: string; createdAt: string }
function openDb(path: string): Database {
  const db = new Database(path, { create: true, strict: true })
  db.run('PRAGMA locking_mode = EXCLUSIVE')
  db.run('PRAGMA journal_mode = WAL')
  db.run('PRAGMA synchronous = NORMAL')
  db.run('CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT NOT NULL, created_at TEXT NOT NULL)')
  db.run('CREATE UNIQUE INDEX IF NOT EXISTS users_email_nocase ON users (email COLLATE NOCASE)')
  db.run("INSERT OR IGNORE INTO users VALUES (1, 'Bench User', 'bench@example.com', '2026-01-01T00:00:00.000Z')")
  return db
}
function openUsers(path: string): (id: number) => User | null {
  const db = openDb(path)
  const get = db.prepare<User, [number]>('SELECT id, name, email, created_at AS createdAt FROM users WHERE id = ?1')
  return (id) => get.get(id)
}
const lookup: (id: number) => User | null | undefined = mode === 'sqlite' ? openUsers(process.env.RAW_DB ?? ':memory:') : (id) => users.get(id)

function user(req: Routed): Response {
  const u = lookup(Number(req.params.id))
  return u ? Response.json(u) : new Response('not found', { status: 404 })
}

const db = openDb(process.env.RAW_DB ?? ':memory:')
const insert = db.prepare<User, [string, string, string]>('INSERT INTO users (name, email, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING RETURNING id, name, email, created_at AS createdAt')
async function createUser(req: Routed): Promise<Response> {
  const body = (await req.json()) as { name?: unknown; email?: unknown }
  if (typeof body.name !== 'string' || typeof body.email !== 'string') return new Response('bad body', { status: 422 })
  const u = insert.get(body.name, body.email, new Date().toISOString())
  return u ? Response.json(u, { status: 201, headers: { location: `/users/${u.id}` } }) : new Response('conflict', { status: 409 })
}

const filesDir = process.env.RAW_FILES ?? '.'
function file(req: Routed): Response {
  // Bun's router fills no param for a wildcard: the path is the rest of the URL (no query here).
  const url = req.url
  const path = `${filesDir}/${url.slice(url.indexOf('/files/', 8) + 7)}`
  if (!logged) return new Response(Bun.file(path))
  // The least a files route that never serves stale validators must do: one stat per answer and
  // the three headers every peer at parity sends (Go's ServeContent, Fastify's static files).
  const st = statSync(path)
  return new Response(Bun.file(path), {
    headers: { etag: `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`, 'last-modified': new Date(st.mtimeMs).toUTCString(), 'accept-ranges': 'bytes' },
  })
}

// The mandatory work around a handler, written as plainly as possible.
function wrap(handler: (req: Routed) => Response | Promise<Response>, route: string): (req: Routed, server: Server<unknown>) => Response | Promise<Response> {
  if (mode === 'bare') return handler
  return (req, server) => {
    const started = performance.now()
    const id = req.headers.get('x-request-id') ?? `${prefix}-${++counter}`
    const client = askClient ? server.requestIP(req)?.address ?? 'unknown' : logged ? '127.0.0.1' : ''
    const finish = (res: Response): Response => {
      res.headers.set('x-request-id', id)
      res.headers.set('server', 'raw/1')
      if (mode === 'stack') {
        res.headers.set('x-content-type-options', 'nosniff')
        if (route !== '/healthz') {
          res.headers.set('ratelimit-limit', '100000000')
          res.headers.set('ratelimit-remaining', '99999999')
          res.headers.set('ratelimit-reset', '0')
        }
      }
      if (logged) {
        pending += `{"method":"${req.method}","route":"${route}","status":${res.status},"durationMs":${performance.now() - started},"requestId":"${id}","client":"${client}"}\n`
        if (pending.length >= 65_536) {
          writeSync(logFd, pending)
          pending = ''
        }
      }
      return res
    }
    // Synchronous handlers stay synchronous: a promise per request would lower the floors.
    const out = handler(req)
    return out instanceof Promise ? out.then(finish) : finish(out)
  }
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  routes: {
    '/healthz': wrap(healthz, '/healthz'),
    '/users/:id': wrap(user, '/users/:id'),
    '/users': { POST: wrap(createUser, '/users') },
    '/files/*': wrap(file, '/files/*'),
  },
  fetch: () => new Response('not found', { status: 404 }),
})
process.on('SIGTERM', () => {
  server.stop(true)
  if (logFd !== -1) closeSync(logFd)
  process.exit(0)
})
