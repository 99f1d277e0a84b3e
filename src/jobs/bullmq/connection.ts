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
 * @example
 * ```ts
 * const backend = openBackend('redis://127.0.0.1:6379', { namespace: 'bull' })
 * const queue = new backend.Queue('highperf', backend.queueOptions())
 * ```
 */
import { Queue, QueueEvents, QueueEventsProducer, Worker, createPostgresBackend, withBackend } from 'bullmq'
import { Redis } from 'ioredis'
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
}

/** BullMQ's classes and connections for `url` (see the module comment). */
export function openBackend(url: string, options: BackendOptions): Backend {
  const where = redact(url)
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const bound = withBackend(createPostgresBackend)
    // Each BullMQ object owns a small pool; the schema namespaces the tables; migrate creates them on first use.
    const conn = (): never => ({ connectionString: url, schema: options.namespace, migrate: true, max: options.pgPoolMax ?? 5 }) as never
    return {
      kind: 'postgres',
      where,
      Queue: bound.Queue as unknown as typeof Queue,
      Worker: bound.Worker as unknown as typeof Worker,
      QueueEvents: bound.QueueEvents as unknown as typeof QueueEvents,
      QueueEventsProducer: bound.QueueEventsProducer as unknown as typeof QueueEventsProducer,
      queueOptions: () => ({ connection: conn() }),
      blockingOptions: () => ({ connection: conn() }),
      up: () => true,
      close: async () => {},
    }
  }
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
