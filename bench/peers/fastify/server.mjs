// The Fastify peer at feature parity with highperf's default stack, as a Fastify user would write
// it on Node: @fastify/rate-limit (per client), @fastify/under-pressure (shedding), pino for one
// JSON access-log line per request, prom-client for the Prometheus counter and histogram,
// better-sqlite3 for the users, piscina for the CPU route. The breaker and the deadline are a few
// lines of hooks (what Fastify's ecosystem would otherwise add as two more plugins).
//
// Run with Node (not Bun): `node bench/peers/fastify/server.mjs`. Settings (env): PORT, HOST,
// DATA_DIR, FILES_DIR, ACCESS_LOG (file path or "off"), RATE_LIMIT_RPS (0: off), REQUEST_TIMEOUT_MS,
// TASK_TIMEOUT_MS, CB_FAILURE_THRESHOLD, CB_OPEN_DURATION_MS, PROCESSES (node:cluster workers,
// default 1: no cluster), THREADS (piscina threads per process, default: CPUs / PROCESSES).
import cluster from 'node:cluster'
import { createReadStream, mkdirSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join, resolve, sep } from 'node:path'
import Fastify from 'fastify'
import rateLimit from '@fastify/rate-limit'
import underPressure from '@fastify/under-pressure'
import Database from 'better-sqlite3'
import { Piscina } from 'piscina'
import pino from 'pino'
import client from 'prom-client'

const env = process.env
const PROCESSES = Math.max(1, Number(env.PROCESSES ?? 1))

if (cluster.isPrimary && PROCESSES > 1) {
  for (let i = 0; i < PROCESSES; i++) cluster.fork()
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM')
    process.exit(0)
  })
} else {
  await start()
}

async function start() {
  const REQUEST_TIMEOUT = Number(env.REQUEST_TIMEOUT_MS ?? 100)
  const TASK_TIMEOUT = Number(env.TASK_TIMEOUT_MS ?? 30_000)
  const RPS = Number(env.RATE_LIMIT_RPS ?? 1000)
  const CB_N = Number(env.CB_FAILURE_THRESHOLD ?? 20)
  const CB_OPEN = Number(env.CB_OPEN_DURATION_MS ?? 2000)
  const ACCESS_LOG = env.ACCESS_LOG ?? 'off'
  const prefix = Math.random().toString(36).slice(2, 8)
  let counter = 0

  const envelope = (request, code, message) => ({ error: { code, message, requestId: request.id } })

  const app = Fastify({
    logger: ACCESS_LOG === 'off' ? false : { level: 'info', stream: pino.destination({ dest: ACCESS_LOG, sync: false, minLength: 65_536, maxWrite: 131_072 }) },
    disableRequestLogging: true, // one line per request, written in onResponse below
    requestIdHeader: 'x-request-id',
    genReqId: () => `${prefix}-${++counter}`,
    bodyLimit: 256 * 1024,
  })

  // --- request id, Server header, deadline, breaker --------------------------------------------
  const breakers = new Map() // route -> { failures, openUntil, probing }
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('server', 'fastify-stack/1')
    reply.header('x-request-id', request.id)
    const cfg = request.routeOptions.config
    if (!cfg.probe) {
      const b = breakers.get(request.routeOptions.url)
      if (b && b.failures >= CB_N) {
        if (Date.now() < b.openUntil || b.probing) {
          reply.code(503).send(envelope(request, 'circuit_open', 'The route is failing; try again shortly'))
          return
        }
        b.probing = true
      }
    }
    const ms = cfg.deadline ?? REQUEST_TIMEOUT
    request.deadline = setTimeout(() => {
      if (!reply.sent) reply.code(504).send(envelope(request, 'timeout', 'The request took longer than its deadline'))
    }, ms)
    done()
  })

  // --- metrics and the access log ------------------------------------------------------------------
  const registry = new client.Registry()
  client.collectDefaultMetrics({ register: registry })
  const labelNames = ['method', 'route', 'status']
  const requests = new client.Counter({ name: 'http_requests_total', help: 'HTTP requests answered', labelNames, registers: [registry] })
  const duration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer',
    labelNames,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  app.addHook('onResponse', (request, reply, done) => {
    clearTimeout(request.deadline)
    const route = request.routeOptions.url ?? 'unmatched'
    const status = reply.statusCode
    const labels = { method: request.method, route, status }
    requests.inc(labels)
    duration.observe(labels, reply.elapsedTime / 1000)
    if (!request.routeOptions.config.probe) {
      let b = breakers.get(route)
      if (b === undefined) breakers.set(route, (b = { failures: 0, openUntil: 0, probing: false }))
      b.probing = false
      if (status >= 500) {
        if (++b.failures >= CB_N) b.openUntil = Date.now() + CB_OPEN
      } else b.failures = 0
    }
    if (ACCESS_LOG !== 'off') {
      request.log.info({ method: request.method, route, path: request.url, status, durationMs: reply.elapsedTime, requestId: request.id, client: request.ip }, 'request')
    }
    done()
  })

  app.setErrorHandler((error, request, reply) => {
    if (error.validation) return reply.code(422).send(envelope(request, 'validation_failed', error.message))
    const status = error.statusCode ?? 500
    const code = status === 429 ? 'rate_limited' : status === 415 ? 'unsupported_media_type' : status === 413 ? 'payload_too_large' : status === 400 ? 'invalid_json' : status === 503 ? 'overloaded' : 'internal'
    return reply.code(status).send(envelope(request, code, status >= 500 ? 'Internal server error' : error.message))
  })
  // JSON only: a text/plain body is a 415, as highperf answers it (Fastify parses text by default).
  app.removeContentTypeParser('text/plain')
  app.setNotFoundHandler((request, reply) => reply.code(404).send(envelope(request, 'not_found', 'No such route')))

  // Shedding, as a Fastify user adds it; the thresholds only bite under real overload.
  await app.register(underPressure, { maxEventLoopDelay: 1000, maxEventLoopUtilization: 0.99 })
  if (RPS > 0) {
    await app.register(rateLimit, {
      max: RPS,
      timeWindow: 1000,
      errorResponseBuilder: (request) => ({ statusCode: 429, ...envelope(request, 'rate_limited', 'Too many requests') }),
    })
  }

  // --- users ---------------------------------------------------------------------------------------
  const dataDir = env.DATA_DIR ?? './data'
  mkdirSync(dataDir, { recursive: true })
  const db = new Database(join(dataDir, 'users.sqlite'))
  db.pragma('busy_timeout = 5000')
  if (PROCESSES === 1) db.pragma('locking_mode = EXCLUSIVE') // as highperf alone (SQLITE_LOCKING=auto)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(`CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT NOT NULL, created_at TEXT NOT NULL);
    CREATE UNIQUE INDEX IF NOT EXISTS users_email_nocase ON users (email COLLATE NOCASE);`)
  const COLUMNS = 'id, name, email, created_at AS createdAt'
  const getUser = db.prepare(`SELECT ${COLUMNS} FROM users WHERE id = ?`)
  const insertUser = db.prepare(`INSERT INTO users (name, email, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`)

  const hot = { deadline: Math.floor(REQUEST_TIMEOUT * 0.8) }
  app.get('/healthz', { config: { probe: true, rateLimit: false } }, (request, reply) => {
    reply.type('text/plain;charset=utf-8').send('ok')
  })
  app.get('/metrics', { config: { probe: true, rateLimit: false, deadline: 3_600_000 } }, async (request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
  app.get('/users/:id', {
    config: hot,
    schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9]{1,15}$' } }, required: ['id'] } },
  }, (request, reply) => {
    const user = getUser.get(Number(request.params.id))
    if (user === undefined) return reply.code(404).send(envelope(request, 'not_found', `user ${request.params.id} does not exist`))
    return reply.send(user)
  })
  app.post('/users', {
    schema: {
      body: {
        type: 'object',
        required: ['name', 'email'],
        properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, email: { type: 'string', format: 'email', maxLength: 254 } },
      },
    },
  }, (request, reply) => {
    const name = request.body.name.trim()
    const email = request.body.email.trim()
    if (name.length === 0) return reply.code(422).send(envelope(request, 'validation_failed', 'name: 1-100 characters'))
    const user = insertUser.get(name, email, new Date().toISOString())
    if (user === undefined) return reply.code(409).send(envelope(request, 'conflict', `email ${email} is taken`))
    return reply.code(201).header('location', `/users/${user.id}`).send(user)
  })

  // --- files: stat for the validators, a read stream for the bytes ---------------------------------
  const filesRoot = resolve(env.FILES_DIR ?? './public')
  app.get('/files/*', { config: { deadline: 3_600_000 } }, async (request, reply) => {
    const rel = request.params['*']
    const segments = rel.split('/')
    if (segments.some((s) => s.length === 0 || s[0] === '.' || s.includes('\\') || s.includes('\0'))) {
      return reply.code(404).send(envelope(request, 'not_found', 'No such file'))
    }
    const path = filesRoot + sep + segments.join(sep)
    let st
    try {
      st = await stat(path)
    } catch {
      st = undefined
    }
    if (!st?.isFile()) return reply.code(404).send(envelope(request, 'not_found', 'No such file'))
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`
    reply.header('etag', etag).header('last-modified', st.mtime.toUTCString()).header('accept-ranges', 'bytes')
    if (request.headers['if-none-match'] === etag) return reply.code(304).send()
    reply.header('content-type', 'application/octet-stream').header('content-length', st.size)
    return reply.send(createReadStream(path))
  })

  // --- CPU work on piscina ------------------------------------------------------------------------
  const threads = Number(env.THREADS ?? Math.max(1, Math.floor(availableParallelism() / PROCESSES)))
  const pool = new Piscina({ filename: new URL('./primes-worker.mjs', import.meta.url).href, minThreads: threads, maxThreads: threads })
  app.post('/tasks/primes', {
    config: { deadline: TASK_TIMEOUT },
    schema: { body: { type: 'object', required: ['n'], additionalProperties: false, properties: { n: { type: 'integer', minimum: 0, maximum: 1_000_000_000 } } } },
  }, (request) => pool.run({ n: request.body.n }))

  process.on('SIGTERM', async () => {
    await app.close()
    await pool.destroy()
    db.close()
    process.exit(0)
  })
  await app.listen({ host: env.HOST ?? '127.0.0.1', port: Number(env.PORT ?? 3000) })
}
