/**
 * The figures of the status page, read from what the server already keeps: the pool's
 * `stats()` (the same snapshot as `GET /pool`), the jobs runner's in-memory counts (the same as
 * `jobs_by_state` on `/metrics`) and the HTTP request series behind `http_requests_total`. No new
 * metric is recorded anywhere: a snapshot is a read of counters, cheap enough for every viewer to
 * poll once a second.
 *
 * Counters stay cumulative here; the page turns two snapshots into rates (requests/s, errors/s),
 * so the server keeps no per-viewer state.
 *
 * @example
 * ```ts
 * const s = statusSnapshot({ pool, jobs, metrics })
 * s.http.requests // every finished request so far, the status page's own excluded
 * ```
 */
import type { JobState } from '../../jobs/model.ts'
import type { Metrics } from '../../metrics/registry.ts'
import type { TaskRunner } from '../../pool/types.ts'

/** Where the status page's own routes live: their requests are left out of the HTTP figures. */
export const STATUS_PREFIX = '/status'

/** What a snapshot reads. */
export interface StatusSources {
  pool: Pick<TaskRunner, 'stats'>
  jobs: { counts(): Record<JobState, number> }
  metrics: Pick<Metrics, 'http'>
}

/** Latency percentiles of one task, in milliseconds. */
export interface Percentiles {
  p50: number
  p90: number
  p99: number
}

/** One task's counts and latencies since start. */
export interface TaskStatus {
  name: string
  ok: number
  failed: number
  canceled: number
  timedOut: number
  runMs: Percentiles
  queueWaitMs: Percentiles
}

/** The body of `GET /status/json`. */
export interface StatusSnapshot {
  /** When it was taken, epoch ms (the page divides counter deltas by the time between two). */
  at: number
  pool: {
    workers: number
    alive: number
    running: number
    queued: number
    queueLimit: number
    restarts: number
    overflow: number
    longRuns: number
    /** Per worker, fraction of wall time spent running tasks since start (0..1). */
    utilization: number[]
  }
  tasks: TaskStatus[]
  jobs: Record<JobState, number>
  /** Cumulative counts of finished requests, the status page's own excluded. */
  http: { requests: number; clientErrors: number; serverErrors: number }
}

/**
 * One snapshot of every figure the status page shows.
 *
 * @example statusSnapshot({ pool, jobs, metrics }).pool.queued // tasks waiting to start
 */
export function statusSnapshot({ pool, jobs, metrics }: StatusSources): StatusSnapshot {
  const p = pool.stats()
  let requests = 0
  let clientErrors = 0
  let serverErrors = 0
  for (const e of metrics.http.entries()) {
    // The page polls once a second per viewer: counting that would draw a rate out of nothing.
    if (e.labels.route === STATUS_PREFIX || e.labels.route.startsWith(`${STATUS_PREFIX}/`)) continue
    requests += e.count
    const status = e.labels.status.charCodeAt(0)
    if (status === 52 /* '4' */) clientErrors += e.count
    else if (status === 53 /* '5' */) serverErrors += e.count
  }
  const tasks: TaskStatus[] = Object.entries(p.tasks)
    .map(([name, t]) => ({ name, ok: t.ok, failed: t.failed, canceled: t.canceled, timedOut: t.timedOut, runMs: { ...t.runMs }, queueWaitMs: { ...t.queueWaitMs } }))
    .sort((a, b) => a.name.localeCompare(b.name))
  return {
    at: Date.now(),
    pool: {
      workers: p.workers,
      alive: p.alive,
      running: p.running,
      queued: p.queued,
      queueLimit: p.queueLimit,
      restarts: p.restarts,
      overflow: p.overflow ?? 0,
      longRuns: p.longRuns ?? 0,
      utilization: [...p.utilization],
    },
    tasks,
    jobs: jobs.counts(),
    http: { requests, clientErrors, serverErrors },
  }
}
