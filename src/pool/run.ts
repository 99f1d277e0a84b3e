/**
 * One run as the pool tracks it: one call of `WorkerPool.run()`, that is one execution of a task
 * (a `TaskDefinition` of src/tasks/) on one input. Queue entry, ring entry and promise in one
 * object (one allocation per run on the hot path), plus how failures that crossed from a worker
 * become `AppError`s again.
 *
 * @example
 * ```ts
 * const run = new Run(1, { name: 'echo', idx: 0, counters: new TaskCounters() }, '{}', undefined, 0)
 * run.resolve(new Uint8Array())
 * ```
 */
import { AppError, isErrorCode, type ErrorDetail } from '../errors.ts'
import type { WorkerHandle } from './worker-handle.ts'
import type { TaskCounters } from './stats.ts'
import type { RunOptions } from './types.ts'

/** In the main queue. */
export const QUEUED = 0
/** Written into a worker's ring (waiting there, running, or finished with the result unread). */
export const IN_WORKER = 1
/** Resolved or rejected: later news about it is ignored. */
export const DONE = 2

/** What the pool keeps per task name: one Map lookup in run() finds all of it. */
export interface TaskMeta {
  readonly name: string
  /** Index in the workers' catalog; -1 while it is unknown. */
  idx: number
  readonly counters: TaskCounters
}

/**
 * What only a run with a signal or deadline needs (the deadline sweep, deadlines.ts, and the
 * supervisor's kill timer): kept off {@link Run} so the record every run allocates stays small.
 */
export interface Watch {
  /** Deadline sweeps it has been through: 0, 1, or 2 = armed with a precise timer and an abort listener. */
  swept: number
  timer: ReturnType<typeof setTimeout> | undefined
  killTimer: ReturnType<typeof setTimeout> | undefined
  onAbort: (() => void) | undefined
}

// The executor every Run's promise shares: it hands the resolving functions over through these
// two variables, read right after `new Promise` returns. A closure per run cost one more allocation
// (~13 ns per run in a micro-benchmark; the run record was a third of the main thread in the
// pipelined echo profile, bench/pool "echo/s").
let nextResolve: ((bytes: Uint8Array) => void) | undefined
let nextReject: ((err: AppError) => void) | undefined
function capture(resolve: (bytes: Uint8Array) => void, reject: (err: AppError) => void): void {
  nextResolve = resolve
  nextReject = reject
}

/**
 * A run in progress. Fifteen fields: the name, catalog index and counters live in the shared
 * {@link TaskMeta}, the sweep's timers in a {@link Watch} made only when needed. Twenty fields
 * took 49 ns to allocate with 1000 alive, eleven 26 ns (micro-benchmark), and the record is made
 * once per run.
 */
export class Run {
  pos = 0
  dead = false
  state = QUEUED
  /** When run() accepted it (ms, performance.now, the pool's batch clock): its queue wait is measured from here. */
  acceptedAt = 0
  /** Absolute deadline (ms, performance.now); 0: none. */
  deadline = 0
  /** The worker holding it while IN_WORKER; undefined while QUEUED. */
  handle: WorkerHandle<Run> | undefined = undefined
  watch: Watch | undefined = undefined
  readonly resolve: (bytes: Uint8Array) => void
  readonly reject: (err: AppError) => void
  readonly promise: Promise<Uint8Array>

  constructor(
    readonly id: number,
    readonly meta: TaskMeta,
    readonly input: string | Uint8Array,
    readonly options: RunOptions | undefined,
    readonly priority: number,
  ) {
    this.promise = new Promise<Uint8Array>(capture)
    this.resolve = nextResolve as (bytes: Uint8Array) => void
    this.reject = nextReject as (err: AppError) => void
  }

  /** The task's name (for messages). */
  get name(): string {
    return this.meta.name
  }
}

/** The error a run rejects with when its signal aborts: the signal's AppError reason, else client_closed. */
export function abortReason(signal: AbortSignal): AppError {
  const r: unknown = signal.reason
  return r instanceof AppError ? r : new AppError('client_closed', 'The task was canceled by its caller')
}

/** Rebuilds the AppError a worker sent as `{"code","message","details"}` JSON. */
export function decodeError(json: string): AppError {
  try {
    const e = JSON.parse(json) as { code?: unknown; message?: unknown; details?: unknown }
    const code = isErrorCode(e.code) ? e.code : 'task_failed'
    const message = typeof e.message === 'string' ? e.message : undefined
    // Only details of the one shape every error carries (an array of {path, message}) cross over.
    const details = Array.isArray(e.details) ? e.details.filter((d): d is ErrorDetail => typeof d?.path === 'string' && typeof d?.message === 'string') : []
    return new AppError(code, message, details.length === 0 ? {} : { details })
  } catch {
    return new AppError('task_failed')
  }
}

