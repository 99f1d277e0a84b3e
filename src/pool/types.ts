/**
 * The public face of the worker pool, as the routes and the job runner use it.
 *
 * Inputs and results cross the ring as UTF-8 JSON bytes: the main thread passes the request body
 * through untouched and answers with the result bytes untouched (no JSON.parse/stringify).
 * Failures are `AppError`s from src/errors.ts with these codes: `unknown_task` (404),
 * `invalid_input` (422, `details` lists the failing paths), `task_failed` (500, the task's own
 * message), `task_timeout` (504), `client_closed` (the signal aborted), `worker_crashed` (500),
 * `queue_full` (503, `retryAfter` set), `pool_closed` (503), and `not_found` (404) when a task
 * reports a missing resource (e.g. `cars.lookup` of an unknown id). A task's other `AppError`
 * codes are reported as `task_failed` with the task's message.
 */
import type { TaskInfo } from '../tasks/types.ts'

/** How one run is scheduled and bounded. */
export interface RunOptions {
  /** Aborting cancels the task: removed from the queue if not started, else `ctx.signal` fires. */
  signal?: AbortSignal
  /** Hard limit: past it the task fails with `task_timeout`, and a worker that ignores its signal is replaced. */
  timeoutMs?: number
  /**
   * Higher runs first among queued tasks; default 0. Below 0 is **background** work (the job
   * runner uses -1): it runs only on core workers, never on an overflow worker, and a task of
   * priority ≥ 0 is never written into a ring behind background tasks that have not started
   * (docs/pool.md#long-runs-and-overflow-workers).
   */
  priority?: number
  /** Called on the main thread when the task reports progress. */
  onProgress?(pct: number, message: string): void
}

/** Counts and latency summaries for one task name. */
export interface TaskStats {
  ok: number
  failed: number
  canceled: number
  timedOut: number
  queueWaitMs: { p50: number; p90: number; p99: number }
  runMs: { p50: number; p90: number; p99: number }
}

/** A snapshot of the pool for `GET /pool` and `/metrics`. */
export interface PoolStats {
  workers: number
  alive: number
  queued: number
  running: number
  queueLimit: number
  /** Fraction of wall time each worker spent running tasks since start (0..1). */
  utilization: number[]
  restarts: number
  /** Overflow workers up, the short lane included (docs/pool.md#long-runs-and-overflow-workers); absent: a runner without them. */
  overflow?: number
  /** Workers whose current run passed the long-run threshold and take no new task. */
  longRuns?: number
  tasks: Record<string, TaskStats>
}

/** What routes and jobs depend on; `WorkerPool` implements it, tests may fake it. */
export interface TaskRunner {
  /** Runs `task` with `input` (JSON text or UTF-8 JSON bytes) and resolves with the result's JSON bytes. */
  run(task: string, input: string | Uint8Array, options?: RunOptions): Promise<Uint8Array>
  /** The registered tasks, as the workers reported them. */
  catalog(): readonly TaskInfo[]
  stats(): PoolStats
}

/** Settings of a {@link WorkerPool}. */
export interface PoolOptions {
  /** Worker threads (config.workers). */
  workers: number
  /** Tasks waiting to start (main queue and rings) before `run` rejects with `queue_full` (config.queueLimit). */
  queueLimit: number
  /**
   * Most tasks one worker holds at once (in its ring plus the running one). Default 1024: deep
   * enough that 1000 tasks in flight go straight into the rings, without a trip through the main
   * queue (pipelined echo +22 % with 1 worker and +32 % with 2 against 128; bench/pool, A/B in
   * docs/pool-tuning-log.md). It does not change back-pressure: `queueLimit` counts tasks waiting in the
   * rings too. Priorities and cancellation hold whatever the window (stealing: scheduler.ts `preempt`).
   */
  window?: number
  /** Bytes of each request and response ring (a power of two). Default 256 KiB. */
  ringBytes?: number
  /** How long a canceled or timed-out task may keep running before its worker is replaced. Default 1000 ms. */
  graceMs?: number
  /**
   * Most Atomics.load iterations an idle worker spins before it parks (the spin adapts between
   * 64 and this). Spinning saves the main thread a futex wake per batch; past a point it only
   * burns a core. Default 16 384.
   */
  spinMax?: number
  /**
   * How a worker wakes the parked main thread: a one-number `postMessage` (default; p50 round
   * trip ~10 µs here) or `Atomics.notify` on a word the main thread awaits with
   * `Atomics.waitAsync` (~19 µs: its wake-up goes a slower way through Bun's event loop).
   * Both keep one notification per sleep (see doorbell.ts).
   */
  wake?: 'message' | 'waitAsync'
  /**
   * Nice value (0..19) each worker thread sets for itself on Linux, so the event loop wins the
   * CPU over CPU-bound tasks (config.workerNice, `WORKER_NICE`; nice.ts). 0 leaves workers at
   * the main thread's priority; a no-op off Linux. Default (or negative): auto, see
   * {@link autoNice}.
   */
  nice?: number
  /**
   * A run this long (ms) makes its worker **long**: it takes no new task, the tasks waiting in its
   * ring move to other workers, and an overflow worker starts in its place (handoff.ts).
   * Default 50 (`DEFAULT_LONG_RUN_MS`, handoff.ts; config `POOL_LONG_RUN`); 0 turns the hand-off off.
   */
  longRunMs?: number
  /**
   * Most overflow workers at once (config `POOL_OVERFLOW`). Negative or absent: as many as
   * `workers`. 0: long runs still stop taking tasks, but only the short lane is ever added
   * (handoff.ts).
   */
  maxOverflow?: number
  /** How long an idle overflow worker that is not needed is kept (ms). Default `LINGER_MS` (5 s, handoff.ts); tests shorten it. */
  lingerMs?: number
  /** Module URL exporting `TASKS`, loaded into workers besides the registry (tests only). */
  extraTasks?: URL | string
  /** Where restarts and crashes are reported. */
  log?: { warn(obj: object, msg: string): void }
  /**
   * `false`: no worker starts until {@link WorkerPool.start} is called (tasks queue meanwhile).
   * The server spawns its workers only once it listens, so their start-up does not compete with
   * its own for the CPU (docs/operations.md#startup-time-and-memory). Default `true`: workers
   * start at once.
   */
  start?: boolean
}
