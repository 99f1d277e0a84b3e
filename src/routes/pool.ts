/**
 * `GET /pool`: a snapshot of the worker pool (workers alive, queue depth, utilization, restarts,
 * and per task: counts and queue-wait / run-time percentiles). Cheap: `pool.stats()` reads
 * counters the pool keeps anyway.
 *
 * In a cluster (`PROCESSES` > 1) every server process has its own pool, and a request lands on
 * any one of them, so the process that got it gathers every process's `pool.stats()` over the
 * bus (topic `pool-stats`, which this plugin also answers) and answers the host's totals plus
 * `processes`, one entry per process that answered within {@link POOL_GATHER_TIMEOUT_MS}
 * (docs/pool.md#several-processes). Alone the body is this pool's stats, with no `processes`.
 *
 * @example
 * ```ts
 * app.use(poolRoutes({ pool, bus }))
 * // GET /pool -> {"workers":2,"alive":2,"queued":0,"running":0,"queueLimit":1024,...}
 * // PROCESSES=2: {"workers":4,...,"processes":[{"process":1,"pid":4242,"workers":2,...},{"process":2,...}]}
 * ```
 */
import { Elysia, t } from 'elysia'
import type { PoolStats, TaskRunner, TaskStats } from '../pool/types.ts'
import type { Bus, BusData, GatheredAnswer } from '../cluster/bus.ts'

/** What the pool route needs. */
export interface PoolRouteDeps {
  pool: TaskRunner
  /** The other server processes of this host; `LOCAL_BUS` alone. */
  bus: Bus
}

/** How long `GET /pool` waits for the other processes of a cluster, ms; a later one is left out. */
export const POOL_GATHER_TIMEOUT_MS = 1000

/** One server process's pool, as `processes` lists it. */
export interface ProcessPoolStats extends PoolStats {
  /** The process's slot, 1..PROCESSES. */
  process: number
  /** Its operating-system process id. */
  pid: number
}

/** The body of `GET /pool` in a cluster: the host's totals and each process's own stats. */
export interface HostPoolStats extends PoolStats {
  processes: ProcessPoolStats[]
}

const Percentiles = t.Object({ p50: t.Number(), p90: t.Number(), p99: t.Number() })

const STATS_FIELDS = {
  workers: t.Integer({ description: 'Configured workers (WORKERS; in a cluster, of every process)' }),
  alive: t.Integer({ description: 'Configured workers running now (overflow workers not counted)' }),
  queued: t.Integer({ description: 'Tasks waiting to start: in the main queue or in a worker\'s ring' }),
  running: t.Integer({ description: 'Workers running a task now (one task each at a time)' }),
  queueLimit: t.Integer({ description: 'QUEUE_LIMIT: tasks waiting to start before 503 (in a cluster, the sum: each process has its own queue)' }),
  utilization: t.Array(t.Number({ minimum: 0, maximum: 1 }), { description: 'Per worker, fraction of time spent running tasks (in a cluster, every process\'s workers in process order)' }),
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
    { description: 'Per task; in a cluster the counts are summed and each percentile is the highest of the processes\' (percentiles do not add up)' },
  ),
}

const PoolStatsSchema = t.Object(
  {
    ...STATS_FIELDS,
    processes: t.Optional(t.Array(
      t.Object({
        process: t.Integer({ minimum: 1, description: 'The process\'s slot, 1..PROCESSES' }),
        pid: t.Integer({ description: 'Its operating-system process id' }),
        ...STATS_FIELDS,
      }, { additionalProperties: true }),
      { description: 'PROCESSES > 1 only: each server process that answered within 1 s, in slot order (a restarting one is missing)' },
    )),
  },
  // The pool may report more than this schema names; extra fields pass through to the client.
  { additionalProperties: true },
)

/** Elysia plugin with `GET /pool`. @example new Elysia().use(poolRoutes({ pool, bus: LOCAL_BUS })) */
export function poolRoutes({ pool, bus }: PoolRouteDeps) {
  if (bus.clustered) bus.answer('pool-stats', () => ({ pid: process.pid, ...pool.stats() }) as unknown as BusData)
  const stats = bus.clustered
    ? async (): Promise<PoolStats> => hostPoolStats(await bus.gather('pool-stats', null, POOL_GATHER_TIMEOUT_MS))
    : (): PoolStats => pool.stats()
  return new Elysia({ name: 'highperf/routes/pool' }).get('/pool', () => stats(), {
    detail: { summary: 'Worker pool statistics: workers, queue, utilization, per-task counts and latencies (every process with PROCESSES > 1)', tags: ['pool'] },
    response: { 200: PoolStatsSchema },
  })
}

/**
 * The host's pool from every process's answer to `pool-stats` (`{ pid, ...pool.stats() }`):
 * counts and gauges summed, utilization concatenated in slot order, per-task percentiles the
 * highest of the processes' (an upper bound: percentiles of parts do not make the whole's).
 *
 * @example hostPoolStats(await bus.gather('pool-stats', null, 1000)).processes.length // processes that answered
 */
export function hostPoolStats(answers: readonly GatheredAnswer[]): HostPoolStats {
  const processes: ProcessPoolStats[] = []
  for (const a of answers) {
    if (a.data === null || typeof a.data !== 'object' || Array.isArray(a.data)) continue
    // `process` first for a reader of the JSON; the slot the bus reports wins over anything sent.
    processes.push(Object.assign({ process: a.slot }, a.data as unknown as PoolStats & { pid: number }, { process: a.slot }))
  }
  processes.sort((a, b) => a.process - b.process)
  const host: HostPoolStats = { workers: 0, alive: 0, queued: 0, running: 0, queueLimit: 0, utilization: [], restarts: 0, overflow: 0, longRuns: 0, tasks: {}, processes }
  for (const p of processes) {
    host.workers += p.workers
    host.alive += p.alive
    host.queued += p.queued
    host.running += p.running
    host.queueLimit += p.queueLimit
    host.utilization.push(...p.utilization)
    host.restarts += p.restarts
    host.overflow = (host.overflow ?? 0) + (p.overflow ?? 0)
    host.longRuns = (host.longRuns ?? 0) + (p.longRuns ?? 0)
    for (const [name, t] of Object.entries(p.tasks)) host.tasks[name] = addTask(host.tasks[name], t)
  }
  return host
}

function addTask(sum: TaskStats | undefined, t: TaskStats): TaskStats {
  if (sum === undefined) return { ok: t.ok, failed: t.failed, canceled: t.canceled, timedOut: t.timedOut, queueWaitMs: { ...t.queueWaitMs }, runMs: { ...t.runMs } }
  return {
    ok: sum.ok + t.ok,
    failed: sum.failed + t.failed,
    canceled: sum.canceled + t.canceled,
    timedOut: sum.timedOut + t.timedOut,
    queueWaitMs: maxOf(sum.queueWaitMs, t.queueWaitMs),
    runMs: maxOf(sum.runMs, t.runMs),
  }
}

function maxOf(a: TaskStats['runMs'], b: TaskStats['runMs']): TaskStats['runMs'] {
  return { p50: Math.max(a.p50, b.p50), p90: Math.max(a.p90, b.p90), p99: Math.max(a.p99, b.p99) }
}
