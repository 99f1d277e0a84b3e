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
 * In a cluster (`PROCESSES` > 1) a viewer's polls may land on different processes, and rates
 * drawn from two processes' counters would be nonsense, so every poll answers the host: each
 * process's snapshot merged by {@link mergeSnapshots}.
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
  /** PROCESSES > 1 only: how many server processes the figures cover (those that answered in time). */
  processes?: number
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

/**
 * The host's snapshot from every process's own (a cluster): pool figures and HTTP counts summed,
 * utilization listed process after process, per task the counts summed and each percentile the
 * highest of the processes'; job counts taken from the first (every process reads the same
 * host-wide counts from the shared jobs.sqlite).
 *
 * @example mergeSnapshots([snapshotOfProcess1, snapshotOfProcess2]).http.requests // both processes' requests
 */
export function mergeSnapshots(parts: readonly StatusSnapshot[]): StatusSnapshot {
  const pool: StatusSnapshot['pool'] = { workers: 0, alive: 0, running: 0, queued: 0, queueLimit: 0, restarts: 0, overflow: 0, longRuns: 0, utilization: [] }
  const http = { requests: 0, clientErrors: 0, serverErrors: 0 }
  const tasks = new Map<string, TaskStatus>()
  for (const part of parts) {
    for (const k of ['workers', 'alive', 'running', 'queued', 'queueLimit', 'restarts', 'overflow', 'longRuns'] as const) pool[k] += part.pool[k]
    pool.utilization.push(...part.pool.utilization)
    http.requests += part.http.requests
    http.clientErrors += part.http.clientErrors
    http.serverErrors += part.http.serverErrors
    for (const t of part.tasks) {
      const sum = tasks.get(t.name)
      tasks.set(t.name, sum === undefined ? { ...t, runMs: { ...t.runMs }, queueWaitMs: { ...t.queueWaitMs } } : {
        name: t.name,
        ok: sum.ok + t.ok,
        failed: sum.failed + t.failed,
        canceled: sum.canceled + t.canceled,
        timedOut: sum.timedOut + t.timedOut,
        runMs: highest(sum.runMs, t.runMs),
        queueWaitMs: highest(sum.queueWaitMs, t.queueWaitMs),
      })
    }
  }
  const first = parts[0]
  const jobs = first ? { ...first.jobs } : { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 }
  return { at: Date.now(), pool, tasks: [...tasks.values()].sort((a, b) => a.name.localeCompare(b.name)), jobs, http, processes: parts.length }
}

function highest(a: Percentiles, b: Percentiles): Percentiles {
  return { p50: Math.max(a.p50, b.p50), p90: Math.max(a.p90, b.p90), p99: Math.max(a.p99, b.p99) }
}
