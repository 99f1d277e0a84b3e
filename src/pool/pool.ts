/**
 * `WorkerPool`: Bun Workers fed through SharedArrayBuffer rings (ring.ts), with a main-side
 * priority queue, cancellation, deadlines, crash recovery, draining and stats. This file is its
 * public face (`run`, `start`, `catalog`, `stats`, `close`, `alive`) and the wiring of its
 * parts, each with one job:
 * - scheduler.ts: which worker's ring a run goes into, stealing back, priorities, the short lane;
 * - supervisor.ts: starting, replacing and stopping workers, the hand-off of long runs (handoff.ts);
 * - results.ts: reading the response rings and settling runs;
 * - deadlines.ts: signals and `timeoutMs` without a listener or a timer per run.
 * docs/pool.md has the whole design.
 *
 * Waking the main thread (it never blocks, never spins): doorbell.ts, with its ordering argument.
 * An interval, ref'd only while runs are outstanding, keeps the process alive for them and
 * doubles as a watchdog drain.
 *
 * @example
 * ```ts
 * const pool = new WorkerPool({ workers: 2, queueLimit: 1024 })
 * const bytes = await pool.run('echo', '{"value":1}', { timeoutMs: 1000 })
 * new TextDecoder().decode(bytes) // '{"value":1}'
 * await pool.close(5000)
 * ```
 */
import { AppError } from '../errors.ts'
import type { TaskInfo } from '../tasks/types.ts'
import { BatchClock } from './batch-clock.ts'
import { DeadlineSweep } from './deadlines.ts'
import { Doorbell } from './doorbell.ts'
import { DEFAULT_LONG_RUN_MS, LINGER_MS, overflowLimit } from './handoff.ts'
import { autoNice } from './nice.ts'
import { Results } from './results.ts'
import { abortReason, DONE, QUEUED, Run, type TaskMeta } from './run.ts'
import { Scheduler } from './scheduler.ts'
import { TaskCounters } from './stats.ts'
import { Supervisor } from './supervisor.ts'
import type { PoolOptions, PoolStats, RunOptions, TaskRunner } from './types.ts'
import type { WorkerHandle } from './worker-handle.ts'

/** The worker pool; see the file comment. */
export class WorkerPool implements TaskRunner {
  readonly #workers: number
  readonly #queueLimit: number
  readonly #wake: 'message' | 'waitAsync'
  /**
   * One handle per worker place, shared by the parts: core workers at 0 … workers-1, then the
   * overflow workers, then the short lane (handoff.ts); undefined where no worker runs.
   */
  readonly #handles: Array<WorkerHandle<Run> | undefined>
  readonly #clock = new BatchClock()
  readonly #scheduler: Scheduler
  readonly #results: Results
  readonly #supervisor: Supervisor
  readonly #bell: Doorbell
  readonly #sweep = new DeadlineSweep((run, err, why) => this.#abort(run, err, why))
  /** Per task name: its catalog index (-1 until the catalog is known) and counters. One lookup per run. */
  readonly #meta = new Map<string, TaskMeta>()
  #catalog: TaskInfo[] = []
  #nextId = 1
  #closed: Promise<void> | undefined
  readonly #watchdog: ReturnType<typeof setInterval>

  constructor(options: PoolOptions) {
    // Defaults first, then what the caller gave (as given: an explicit undefined wins too).
    const o = {
      window: 1024,
      ringBytes: 1 << 18,
      graceMs: 1000,
      spinMax: 16_384,
      wake: 'message' as const,
      longRunMs: DEFAULT_LONG_RUN_MS,
      lingerMs: LINGER_MS,
      ...options,
      nice: options.nice === undefined || options.nice < 0 ? autoNice(options.workers) : options.nice,
    }
    if (!(o.workers >= 1)) throw new RangeError('workers must be at least 1')
    const core = o.workers
    // No hand-off at all without a threshold: then no overflow worker either.
    const maxOverflow = o.longRunMs > 0 ? overflowLimit(options.maxOverflow ?? -1, core) : 0
    const lane = o.longRunMs > 0 ? core + maxOverflow : -1
    this.#workers = core
    this.#queueLimit = o.queueLimit
    this.#wake = o.wake
    this.#handles = new Array(core + maxOverflow + (lane < 0 ? 0 : 1)).fill(undefined)
    this.#scheduler = new Scheduler(this.#handles, { core, lane, window: o.window }, this.#clock, (run, err) => this.#results.settle(run, err))
    this.#results = new Results(this.#handles, this.#scheduler, () => {
      this.#watchdog.unref()
      this.#supervisor.checkIdle()
    })
    this.#bell = new Doorbell(() => this.#results.drainAll(), o.wake === 'message')
    const supervised = {
      core, maxOverflow, lane, ringBytes: o.ringBytes, spinMax: o.spinMax, nice: o.nice, extraTasks: o.extraTasks,
      graceMs: o.graceMs, longRunMs: o.longRunMs, lingerMs: o.lingerMs, log: o.log,
    }
    this.#supervisor = new Supervisor(this.#handles, supervised, this.#bell, this.#scheduler, this.#results, (catalog) => this.#learnCatalog(catalog))
    // Also re-pumps: a ring can be momentarily full of requests stolen back (which the worker
    // skips without answering, so no result triggers a pump), and queued runs must not wait on
    // a result that never comes.
    this.#watchdog = setInterval(() => {
      this.#results.drainAll()
      if (this.#scheduler.queue.size > 0) this.#scheduler.pump()
    }, 250)
    this.#watchdog.unref()
    this.#bell.start()
    if (options.start !== false) this.start()
  }

  /**
   * Spawns the workers (once; a no-op when they are started or the pool is closing). They start in
   * the background: `run()` queues until one reports ready.
   *
   * @example
   * ```ts
   * const pool = new WorkerPool({ workers: 2, queueLimit: 1024, start: false })
   * Bun.serve({ port: 3000, fetch }) // listen first
   * pool.start()
   * ```
   */
  start(): void {
    this.#supervisor.start()
  }

  /** Runs `task` with JSON `input` and resolves with the result's JSON bytes. */
  run(task: string, input: string | Uint8Array, options?: RunOptions): Promise<Uint8Array> {
    if (this.#supervisor.closing) return Promise.reject(new AppError('pool_closed'))
    // One Map lookup gives the catalog index and the counters (three lookups before: ~3 % of
    // the main thread in the pipelined echo profile, bench/pool "echo/s").
    let meta = this.#meta.get(task)
    if (meta === undefined || meta.idx < 0) {
      meta = this.#metaOf(task)
      if (meta === undefined) return Promise.reject(new AppError('unknown_task', `No task is registered as '${task}'`))
    }
    const signal = options?.signal
    if (signal !== undefined && signal.aborted) return Promise.reject(abortReason(signal))
    const results = this.#results
    // Runs accepted and not finished, less one running per worker: what waits to start, in the
    // main queue or in a worker's ring. Counting the rings too keeps QUEUE_LIMIT a bound on
    // waiting work whatever the window (the main queue alone let window × workers more in).
    if (results.outstanding - this.#workers >= this.#queueLimit) {
      return Promise.reject(new AppError('queue_full', 'The worker pool queue is full', { retryAfter: 1 }))
    }
    const run = new Run(this.#nextId, meta, input, options, options?.priority ?? 0)
    this.#nextId = this.#nextId >= 0x3fffffff ? 1 : this.#nextId + 1
    if (results.outstanding++ === 0) {
      this.#watchdog.ref()
      this.#supervisor.armHandoff()
    }
    run.acceptedAt = this.#clock.now()
    const timeoutMs = options?.timeoutMs
    const timed = timeoutMs !== undefined && timeoutMs > 0 && Number.isFinite(timeoutMs)
    if (signal !== undefined || timed) {
      // No abort listener and no setTimeout per run: the run joins the deadline sweep, which
      // polls `signal.aborted` and the deadline every SWEEP_MS and arms a listener and a timer
      // only for runs that outlive it. A listener plus a timer per run cut pipelined echo with
      // a signal and timeoutMs from 1.65 M/s to 0.42 M/s (bench/pool "echo/s, signal+timeout").
      if (timed) run.deadline = run.acceptedAt + (timeoutMs as number)
      this.#sweep.watch(run)
    }
    this.#scheduler.submit(run)
    return run.promise
  }

  /** The tasks the workers reported (empty until the first worker is ready). */
  catalog(): readonly TaskInfo[] {
    return this.#catalog
  }

  /** How workers wake the parked main thread (the `wake` option, `POOL_WAKE`). */
  get wake(): 'message' | 'waitAsync' {
    return this.#wake
  }

  /** Core workers (of `workers`) that are up and taking tasks; overflow workers are in `stats().overflow`. */
  get alive(): number {
    return this.#supervisor.alive
  }

  /** A snapshot for `GET /pool` and `/metrics`. */
  stats(): PoolStats {
    const now = performance.now()
    // A worker runs one task at a time: the rest of what it holds waits in its ring (or finished
    // with the result not read yet), and counts as queued.
    let running = 0
    let inRings = 0
    let overflow = 0
    let longRuns = 0
    const utilization: number[] = []
    const handles = this.#handles
    for (let i = 0; i < handles.length; i++) {
      const h = handles[i]
      if (h !== undefined && h.count > 0) {
        running++
        inRings += h.count - 1
      }
      if (h !== undefined && !h.dead) {
        if (i >= this.#workers && h.ready) overflow++
        if (h.long) longRuns++
      }
      // Per core worker: overflow workers come and go, their series would too.
      if (i < this.#workers) utilization.push(h ? h.utilization(now) : 0)
    }
    const tasks: PoolStats['tasks'] = {}
    for (const [name, m] of this.#meta) tasks[name] = m.counters.snapshot()
    return {
      workers: this.#workers,
      alive: this.alive,
      queued: this.#scheduler.queue.size + inRings,
      running,
      queueLimit: this.#queueLimit,
      utilization,
      restarts: this.#supervisor.restarts,
      overflow,
      longRuns,
      tasks,
    }
  }

  /**
   * Drains and stops: new runs fail with `pool_closed`; queued and running tasks may finish
   * within `timeoutMs`, after which they fail with `pool_closed`; then every worker exits.
   */
  close(timeoutMs = 5000): Promise<void> {
    this.#closed ??= this.#shutdown(timeoutMs)
    return this.#closed
  }

  async #shutdown(timeoutMs: number): Promise<void> {
    await this.#supervisor.shutdown(timeoutMs)
    clearInterval(this.#watchdog)
    this.#bell.stop()
  }

  /**
   * The deadline sweep's verdict on a run: its signal aborted (`why` WHY_CANCELED) or its
   * deadline passed (WHY_TIMEOUT). A queued run leaves the queue, an unstarted one is stolen back
   * from its ring; a running one is told to stop (and its worker replaced if it does not). The
   * caller is answered at once in every case.
   */
  #abort(run: Run, err: AppError, why: number): void {
    if (run.state === DONE) return
    if (run.state === QUEUED) {
      this.#scheduler.cancelQueued(run, err)
      return
    }
    const counted = err.code === 'task_timeout' ? 'timedOut' : 'canceled'
    const handle = run.handle as WorkerHandle<Run>
    if (handle.req.steal(run.pos, run.id)) {
      handle.remove(run) // never started
      run.meta.counters[counted]++
      this.#results.settle(run, err)
      this.#scheduler.pump()
      return
    }
    // Running (or finished, result not read yet).
    this.#supervisor.cancelRunning(handle, run, why)
    run.meta.counters[counted]++
    this.#results.settle(run, err)
  }

  /** The first ready worker reported the catalogue: index it and fail queued runs of tasks it lacks. */
  #learnCatalog(catalog: TaskInfo[]): void {
    this.#catalog = catalog
    const index = new Map(catalog.map((t, i) => [t.name, i]))
    this.#scheduler.index = index
    for (const [name, meta] of this.#meta) meta.idx = index.get(name) ?? -1
    this.#scheduler.rejectUnknownQueued()
  }

  /**
   * The slow path of run()'s lookup: a name seen for the first time, or one not resolved against
   * the catalog yet. Undefined when the catalog is known and lacks it.
   */
  #metaOf(name: string): TaskMeta | undefined {
    const index = this.#scheduler.index
    const idx = index === undefined ? -1 : index.get(name)
    if (idx === undefined) return undefined
    let meta = this.#meta.get(name)
    if (meta === undefined) {
      meta = { name, idx, counters: new TaskCounters() }
      // Once the catalog is known only its names get here; before that, cap the map.
      if (this.#meta.size < 1000) this.#meta.set(name, meta)
    }
    meta.idx = idx
    return meta
  }
}
