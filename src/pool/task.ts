/**
 * One run as the pool tracks it: queue entry, ring entry and promise in one object (one
 * allocation per run on the hot path), plus how failures that crossed from a worker become
 * `AppError`s again.
 *
 * @example
 * ```ts
 * const t = new Task(1, 'echo', '{}', undefined, counters, 0)
 * t.resolve(new Uint8Array())
 * ```
 */
import { AppError, isErrorCode } from '../errors.ts'
import type { Slot } from './slot.ts'
import type { TaskCounters } from './stats.ts'
import type { RunOptions } from './types.ts'

/** In the main queue. */
export const QUEUED = 0
/** Written into a worker's ring (waiting there, running, or finished with the result unread). */
export const IN_WORKER = 1
/** Resolved or rejected: later news about it is ignored. */
export const DONE = 2

/** A run in progress. */
export class Task {
  id: number
  pos = 0
  priority: number
  dead = false
  state = QUEUED
  /** When it entered the main queue (ms, performance.now); 0 when it went straight to a worker. */
  enqueuedAt = 0
  /** Absolute deadline (ms, performance.now); 0: none. */
  deadline = 0
  /** Its index in the workers' catalog; -1 until the catalog is known. */
  taskIdx: number
  slot: Slot<Task> | undefined
  /** Deadline sweeps it has been through: 0, 1, or 2 = armed with a precise timer and an abort listener (pool.ts #sweep). */
  swept = 0
  timer: ReturnType<typeof setTimeout> | undefined
  killTimer: ReturnType<typeof setTimeout> | undefined
  onAbort: (() => void) | undefined
  resolve!: (bytes: Uint8Array) => void
  reject!: (err: AppError) => void
  readonly promise: Promise<Uint8Array>

  constructor(
    id: number,
    readonly name: string,
    readonly input: string | Uint8Array,
    readonly options: RunOptions | undefined,
    readonly counters: TaskCounters,
    taskIdx: number,
  ) {
    this.id = id
    this.priority = options?.priority ?? 0
    this.taskIdx = taskIdx
    this.promise = new Promise<Uint8Array>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
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
    return new AppError(code, message, e.details === undefined ? {} : { details: e.details })
  } catch {
    return new AppError('task_failed')
  }
}

