/**
 * `GET /pool`: a snapshot of the worker pool (workers alive, queue depth, utilization, restarts,
 * and per task: counts and queue-wait / run-time percentiles). Cheap: `pool.stats()` reads
 * counters the pool keeps anyway.
 *
 * @example
 * ```ts
 * app.use(poolRoutes({ pool }))
 * // GET /pool -> {"workers":2,"alive":2,"queued":0,"running":0,"queueLimit":1024,...}
 * ```
 */
import { Elysia, t } from 'elysia'
import type { TaskRunner } from '../pool/types.ts'

/** What the pool route needs. */
export interface PoolRouteDeps {
  pool: TaskRunner
}

const Percentiles = t.Object({ p50: t.Number(), p90: t.Number(), p99: t.Number() })

const PoolStatsSchema = t.Object(
  {
    workers: t.Integer({ description: 'Configured workers (WORKERS)' }),
    alive: t.Integer({ description: 'Configured workers running now (overflow workers not counted)' }),
    queued: t.Integer({ description: 'Tasks waiting to start: in the main queue or in a worker\'s ring' }),
    running: t.Integer({ description: 'Workers running a task now (one task each at a time)' }),
    queueLimit: t.Integer({ description: 'QUEUE_LIMIT: tasks waiting to start before 503' }),
    utilization: t.Array(t.Number({ minimum: 0, maximum: 1 }), { description: 'Per worker, fraction of time spent running tasks' }),
    restarts: t.Integer({ description: 'Workers replaced after a crash or an ignored deadline' }),
    overflow: t.Optional(t.Integer({ description: 'Overflow workers running now, the short lane included: stand-ins for workers held by a run past POOL_LONG_RUN (docs/pool.md)' })),
    longRuns: t.Optional(t.Integer({ description: 'Workers whose current task has run past POOL_LONG_RUN (they take no new task)' })),
    tasks: t.Record(
      t.String(),
      t.Object({
        ok: t.Integer(),
        failed: t.Integer(),
        canceled: t.Integer(),
        timedOut: t.Integer(),
        queueWaitMs: Percentiles,
        runMs: Percentiles,
      }),
    ),
  },
  // The pool may report more than this schema names; extra fields pass through to the client.
  { additionalProperties: true },
)

/** Elysia plugin with `GET /pool`. */
export function poolRoutes({ pool }: PoolRouteDeps) {
  return new Elysia({ name: 'highperf/routes/pool' }).get('/pool', () => pool.stats(), {
    detail: { summary: 'Worker pool statistics: workers, queue, utilization, per-task counts and latencies', tags: ['pool'] },
    response: { 200: PoolStatsSchema },
  })
}
