/**
 * Pool and job metrics, read from `pool.stats()` and `jobs.counts()` when Prometheus scrapes.
 *
 * Nothing here runs per request or per task: every metric is a prom-client `collect()` callback,
 * and one scrape takes a single stats snapshot shared by all of them (prom-client starts every
 * metric's `get()` in the same tick; the snapshot is dropped in the next `setImmediate`).
 *
 * @example
 * ```ts
 * const pool = poolMetrics(registry)
 * pool.watch(() => deps.pool.stats())
 * jobMetrics(registry).watch(() => deps.jobs.counts())
 * ```
 *
 * In a cluster (`proc` = `{ process: '<slot>' }`): the gauges and the summaries describe this
 * process's own pool, so they carry its `process` label and a merged scrape keeps them apart
 * (percentiles cannot be added up); the counters have no such label and are summed. Alone `proc`
 * is empty and no series changes.
 */
import { Counter, Gauge, Summary, type Registry } from './prom.ts'
import type { PoolStats } from '../pool/types.ts'

/** Job states always exported (0 when none), so dashboards see every series from the start. */
export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const

/** Labels every per-process series adds: `{ process: '<slot>' }` in a cluster, `{}` alone. */
type ProcessLabels = Readonly<Record<string, string>>

type QuantileKey = 'p50' | 'p90' | 'p99'
const QUANTILES: ReadonlyArray<readonly [QuantileKey, number]> = [['p50', 0.5], ['p90', 0.9], ['p99', 0.99]]

/**
 * A summary whose quantiles come from the pool's own latency tracking (milliseconds, converted to
 * seconds) rather than from observations made here.
 */
class SnapshotSummary extends Summary<string> {
  readonly read: () => PoolStats | undefined
  readonly field: 'runMs' | 'queueWaitMs'
  readonly metricName: string
  readonly proc: ProcessLabels

  constructor(name: string, help: string, registry: Registry, read: () => PoolStats | undefined, field: 'runMs' | 'queueWaitMs', proc: ProcessLabels) {
    super({ name, help, labelNames: ['task', ...Object.keys(proc)], percentiles: QUANTILES.map((q) => q[1]), registers: [registry] })
    this.read = read
    this.field = field
    this.metricName = name
    this.proc = proc
  }

  override async get(): Promise<Awaited<ReturnType<Summary<string>['get']>>> {
    const stats = this.read()
    const base = await super.get()
    const values: typeof base.values = []
    if (stats) {
      for (const [task, t] of Object.entries(stats.tasks)) {
        const lat = t[this.field]
        for (const [key, q] of QUANTILES) values.push({ labels: { task, quantile: q, ...this.proc }, value: lat[key] / 1000 })
        values.push({ metricName: `${this.metricName}_count`, labels: { task, ...this.proc }, value: t.ok + t.failed + t.canceled + t.timedOut })
      }
    }
    return { ...base, values }
  }
}

/** The pool's metrics; call `watch` once the pool exists. */
export interface PoolMetrics {
  /** Sets where stats come from (e.g. `() => pool.stats()`); until then the pool metrics are empty. */
  watch(stats: () => PoolStats): void
  /** Drops the cached stats snapshot so the next scrape reads fresh ones (`Metrics.render` calls it). */
  refresh(): void
}

/**
 * Registers the `pool_*` metrics on `registry`; `proc` labels the per-process ones (module comment).
 *
 * @example poolMetrics(registry, { process: '2' }).watch(() => pool.stats())
 */
export function poolMetrics(registry: Registry, proc: ProcessLabels = {}): PoolMetrics {
  const procNames = Object.keys(proc)
  let source: (() => PoolStats) | undefined
  let snap: PoolStats | undefined
  const read = (): PoolStats | undefined => {
    if (snap === undefined && source !== undefined) {
      snap = source()
      // Dropped once this scrape's callbacks have run (they all start in the same tick).
      setImmediate(() => { snap = undefined })
    }
    return snap
  }
  const gauge = (name: string, help: string, pick: (s: PoolStats) => number): void => {
    new Gauge({
      name, help, labelNames: procNames, registers: [registry],
      collect() {
        const s = read()
        if (s) this.set(proc, pick(s))
      },
    })
  }
  gauge('pool_workers', 'Worker threads the pool is configured with', (s) => s.workers)
  gauge('pool_workers_alive', 'Worker threads alive now', (s) => s.alive)
  gauge('pool_queue_depth', 'Tasks waiting for a worker', (s) => s.queued)
  gauge('pool_queue_limit', 'Queued tasks allowed before new ones are refused with 503', (s) => s.queueLimit)
  gauge('pool_tasks_running', 'Tasks running on a worker now', (s) => s.running)
  new Gauge({
    name: 'pool_worker_utilization_ratio', help: 'Fraction of wall time each worker spent running tasks since start', labelNames: ['worker', ...procNames], registers: [registry],
    collect() {
      const s = read()
      if (!s) return
      this.reset()
      s.utilization.forEach((u, i) => this.set({ worker: String(i), ...proc }, u))
    },
  })
  new Counter({
    name: 'pool_worker_restarts_total', help: 'Workers replaced after a crash or a timeout', registers: [registry],
    collect() {
      const s = read()
      if (!s) return
      this.reset()
      this.inc(s.restarts)
    },
  })
  new Counter({
    name: 'pool_tasks_total', help: 'Finished tasks by task name and outcome', labelNames: ['task', 'outcome'], registers: [registry],
    collect() {
      const s = read()
      if (!s) return
      this.reset()
      for (const [task, t] of Object.entries(s.tasks)) {
        this.inc({ task, outcome: 'ok' }, t.ok)
        this.inc({ task, outcome: 'failed' }, t.failed)
        this.inc({ task, outcome: 'canceled' }, t.canceled)
        this.inc({ task, outcome: 'timed_out' }, t.timedOut)
      }
    },
  })
  new SnapshotSummary('pool_task_run_seconds', 'Task run time on a worker, seconds (percentiles from the pool)', registry, read, 'runMs', proc)
  new SnapshotSummary('pool_task_queue_wait_seconds', 'Time a task waited for a worker, seconds (percentiles from the pool)', registry, read, 'queueWaitMs', proc)
  return { watch(stats) { source = stats }, refresh() { snap = undefined } }
}

/** Milliseconds a scrape waits for the job counts before it keeps the last ones. */
export const COUNTS_WAIT_MS = 1000

/** The job metrics; call `watch` once the job store exists. */
export interface JobMetrics {
  /** Sets where counts by state come from (e.g. `() => jobs.counts()`). */
  watch(counts: () => Record<string, number> | Promise<Record<string, number>>): void
}

/**
 * Registers the `jobs{state}` gauge on `registry`. `aggregator` says how a cluster's merged scrape
 * combines the processes' values: `'first'` when every process reads the same host-wide counts
 * (the shared jobs.sqlite): one process's whole set, so the states add up to one real total
 * (`'max'` per state could mix two instants and count a job moving between states twice);
 * `'sum'` (prom-client's default) when each counts only its own jobs.
 *
 * @example jobMetrics(registry, 'first').watch(() => jobs.counts())
 */
export function jobMetrics(registry: Registry, aggregator: 'first' | 'sum' = 'sum'): JobMetrics {
  let source: (() => Record<string, number> | Promise<Record<string, number>>) | undefined
  new Gauge({
    name: 'jobs', help: 'Jobs by state', labelNames: ['state'], registers: [registry], aggregator,
    async collect() {
      if (!source) return
      // A job store that fails or hangs (JOBS_URL's Redis frozen) must not take the whole scrape
      // with it: the gauges keep their last values, and the scrape answers within COUNTS_WAIT_MS.
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), COUNTS_WAIT_MS) })
      const counts = await Promise.race([Promise.resolve().then(source), late]).catch(() => undefined).finally(() => clearTimeout(timer))
      if (counts === undefined) return
      for (const state of JOB_STATES) this.set({ state }, counts[state] ?? 0)
      for (const [state, n] of Object.entries(counts)) if (!(JOB_STATES as readonly string[]).includes(state)) this.set({ state }, n)
    },
  })
  return { watch(counts) { source = counts } }
}
