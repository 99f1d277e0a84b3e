/**
 * JOBS_URL -> BullMQ's classes and connections: Redis (`redis://`, `rediss://`) through ioredis,
 * or BullMQ 6's PostgreSQL backend (`postgres://`, `postgresql://`) through `pg`.
 *
 * Why ioredis and not Bun's `RedisClient` (both pass BullMQ 6.7's own checks here): ioredis is
 * the client BullMQ is built and tested against, and it has a per-command timeout
 * (`commandTimeout`); Bun's client has none, and a Redis that hangs would hang `POST /jobs`.
 *
 * Connections per process (Redis): one for commands (Queue, the cancel/event producer), one the
 * Worker duplicates for its blocking fetch, one for QueueEvents. The command connection fails
 * fast when Redis is away (no offline queue, one retry, a 5 s command timeout), so a submission
 * answers 503 `jobs_unavailable` at once; the blocking ones retry for ever and reconnect when
 * Redis is back.
 *
 * PostgreSQL: BullMQ's backend (`createPostgresBackend`) is wrapped by {@link survivingPostgres}
 * for two faults of BullMQ 6.7 found by killing PostgreSQL under it
 * (test/jobs/bullmq/postgres-restart.test.ts):
 * - a `pg` client checked out of the pool (BullMQ's schema transaction at start) had no 'error'
 *   listener, so a connection dropped mid-transaction was an uncaught exception (two stacks on
 *   stderr, and pg-pool's bookkeeping cut short by the throw);
 * - a failed start-up of a BullMQ object (`waitUntilReady`) was memoized for good: every later
 *   call of that object failed the same way although PostgreSQL was back, so a Worker or event
 *   producer that started during an outage never worked until a restart.
 * And, like ioredis does for Redis, connecting at start is retried while PostgreSQL refuses or is
 * starting up, for {@link START_WAIT_MS}: a server started with its database is not refused
 * because the database took a few seconds longer.
 *
 * @example
 * ```ts
 * const backend = openBackend('redis://127.0.0.1:6379', { namespace: 'bull' })
 * const queue = new backend.Queue('highperf', backend.queueOptions())
 * ```
 */
import { Queue, QueueEvents, QueueEventsProducer, Worker, createPostgresBackend, withBackend, type BackendFactory, type PostgresConnectionOptions, type PostgresQueueBackend } from 'bullmq'
import { Redis } from 'ioredis'
import { fillTracingChannelHasSubscribers } from '../../node-compat.ts'
import { redact } from './redact.ts'

/** Which store BullMQ runs on. */
export type BackendKind = 'redis' | 'postgres'

/** BullMQ's classes bound to one backend, and the connection options of each role. */
export interface Backend {
  kind: BackendKind
  /** JOBS_URL without its password, for logs and messages. */
  where: string
  Queue: typeof Queue
  Worker: typeof Worker
  QueueEvents: typeof QueueEvents
  QueueEventsProducer: typeof QueueEventsProducer
  /** Options of the Queue and the event producer (commands that must fail fast). */
  queueOptions(): { connection: never; prefix?: string }
  /** Options of the Worker and QueueEvents (blocking reads that reconnect for ever). */
  blockingOptions(): { connection: never; prefix?: string }
  /**
   * When BullMQ will release each of `ids` that it holds delayed in `queue` (ms since the epoch);
   * ids not delayed are left out. BullMQ keeps this time only in its delayed set (Redis: the
   * sorted set's score; PostgreSQL: the row's `process_at_ms`), not in the job record it hands
   * out, and a retry's backoff or a `changeDelay` moves it (mapping.ts `runAtOf`).
   *
   * @example (await backend.delayedUntil(queue, [id])).get(id) // 1_700_000_060_000 | undefined
   */
  delayedUntil(queue: Queue, ids: readonly string[]): Promise<Map<string, number>>
  /** False while the command connection is down (Redis); PostgreSQL: always true (pg reports per query). */
  up(): boolean
  /** Closes the connections this module opened (BullMQ closes its own). */
  close(): Promise<void>
}

/** Options of {@link openBackend}. */
export interface BackendOptions {
  /** Redis key prefix, or PostgreSQL schema: runs with different namespaces never meet. */
  namespace: string
  /** PostgreSQL pool size per BullMQ object (default 5). */
  pgPoolMax?: number
  /** PostgreSQL: how long after opening a refused or starting-up server is retried (default {@link START_WAIT_MS}). */
  startWaitMs?: number
}

/**
 * How long connecting to PostgreSQL at start is retried: just under `BullJobs.start`'s 10 s bound,
 * so a start that fails names PostgreSQL's last answer (refused, starting up) rather than the timeout.
 */
export const START_WAIT_MS = 9000

/** Failures worth retrying at start: the server is not there yet, restarting or starting up. */
function transient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string') {
    // SQLSTATE classes 08 (connection), 57 (operator intervention: shutting down, starting up), 53 (too many connections).
    if (/^(08|57|53)[0-9A-Z]{3}$/.test(code)) return true
    if (/^E[A-Z]+$/.test(code)) return true // ECONNREFUSED, ECONNRESET, ETIMEDOUT, EAI_AGAIN…
  }
  const message = err instanceof Error ? err.message : ''
  return /Connection terminated|not queryable|timeout/i.test(message)
}

/** BullMQ's memo of a start-up (its `readyPromise`, private in the typings). */
interface Memo {
  readyPromise?: Promise<void>
  waitUntilReady(): Promise<void>
}

/**
 * `holder.waitUntilReady` that forgets a failure (BullMQ memoizes it: the object would never start),
 * retrying transient ones until `until` (ms since the epoch).
 */
function forgetFailedStart(holder: Memo, until: number): void {
  const once = holder.waitUntilReady.bind(holder)
  holder.waitUntilReady = async () => {
    for (;;) {
      const attempt = once()
      const memo = holder.readyPromise
      try {
        return await attempt
      } catch (err) {
        if (holder.readyPromise === memo) holder.readyPromise = undefined
        if (Date.now() >= until || !transient(err)) throw err
        await Bun.sleep(250)
      }
    }
  }
}

/**
 * `createPostgresBackend`, made to survive PostgreSQL restarts (see the module comment): every
 * pooled client gets an 'error' listener as it connects (the errors themselves reach the query
 * that was running, and BullMQ's 'error' events), and a failed start-up is forgotten.
 *
 * @example const bound = withBackend(survivingPostgres(Date.now() + START_WAIT_MS))
 */
export function survivingPostgres(startUntil: number): BackendFactory<PostgresQueueBackend, PostgresConnectionOptions> {
  return (name, opts, factoryOpts) => {
    const backend = createPostgresBackend(name, opts, factoryOpts)
    // pg-pool takes its own listener off a client it hands out; a client with no 'error' listener
    // throws from the socket's close handler when PostgreSQL goes away mid-query.
    backend.connection.pool.on('connect', (client) => { client.on('error', () => {}) })
    forgetFailedStart(backend.connection as unknown as Memo, startUntil)
    forgetFailedStart(backend as unknown as Memo, startUntil)
    return backend
  }
}

/** BullMQ's classes and connections for `url` (see the module comment). */
export function openBackend(url: string, options: BackendOptions): Backend {
  const where = redact(url)
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const bound = withBackend(survivingPostgres(Date.now() + (options.startWaitMs ?? START_WAIT_MS)))
    // Each BullMQ object owns a small pool; the schema namespaces the tables; migrate creates them
    // on first use. pg waits for ever for a connection by default: 5 s, as the calls (guard.ts).
    const conn = (): never => ({ connectionString: url, schema: options.namespace, migrate: true, max: options.pgPoolMax ?? 5, connectionTimeoutMillis: 5000, keepAlive: true }) as never
    return {
      kind: 'postgres',
      where,
      Queue: bound.Queue as unknown as typeof Queue,
      Worker: bound.Worker as unknown as typeof Worker,
      QueueEvents: bound.QueueEvents as unknown as typeof QueueEvents,
      QueueEventsProducer: bound.QueueEventsProducer as unknown as typeof QueueEventsProducer,
      queueOptions: () => ({ connection: conn() }),
      blockingOptions: () => ({ connection: conn() }),
      delayedUntil: async (queue, ids) => {
        const out = new Map<string, number>()
        if (ids.length === 0) return out
        // The Queue's own pool, whose connections have the schema as search_path.
        const { pool } = (queue.backend as unknown as PostgresQueueBackend).connection
        const { rows } = await pool.query<{ id: string; at: string }>(
          `SELECT id, process_at_ms AS at FROM job WHERE queue = $1 AND id = ANY($2::text[]) AND state = 'delayed' AND process_at_ms IS NOT NULL`,
          [queue.name, ids],
        )
        for (const r of rows) out.set(r.id, Number(r.at))
        return out
      },
      up: () => true,
      close: async () => {},
    }
  }
  // ioredis traces every command on Bun unless this getter exists (src/node-compat.ts).
  fillTracingChannelHasSubscribers()
  const commands = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 5000,
    retryStrategy: (n) => Math.min(100 * n, 1000),
  })
  const blocking: Redis[] = []
  // An 'error' listener keeps ioredis from printing every failed reconnect; the state is read through up().
  commands.on('error', () => {})
  return {
    kind: 'redis',
    where,
    Queue,
    Worker,
    QueueEvents,
    QueueEventsProducer,
    queueOptions: () => ({ connection: commands as never, prefix: options.namespace }),
    delayedUntil: async (queue, ids) => {
      const out = new Map<string, number>()
      if (ids.length === 0) return out
      // One ZSCORE each (ZMSCORE needs Redis 6.2; BullMQ runs on 5). The score is the due time
      // times 0x1000 plus a tie-breaking counter (BullMQ's getDelayedScore.lua).
      const p = commands.pipeline()
      const key = queue.toKey('delayed')
      for (const id of ids) p.zscore(key, id)
      const answers = (await p.exec()) ?? []
      answers.forEach(([err, score], i) => {
        if (err) throw err
        if (typeof score === 'string') out.set(ids[i]!, Math.floor(Number(score) / 0x1000))
      })
      return out
    },
    blockingOptions: () => {
      const c = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(100 * n, 1000) })
      c.on('error', () => {})
      blocking.push(c)
      return { connection: c as never, prefix: options.namespace }
    },
    up: () => commands.status === 'ready',
    close: async () => {
      for (const c of [commands, ...blocking]) c.disconnect()
    },
  }
}
