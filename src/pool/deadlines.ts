/**
 * The pool's deadline sweep: how a task's `signal` and `timeoutMs` are honoured without an abort
 * listener and a timer per task. A listener plus a timer per task cut pipelined echo with a
 * signal and timeoutMs from 1.65 M/s to 0.42 M/s (bench/pool "echo/s, signal+timeout").
 *
 * Every SWEEP_MS while tasks with a signal or deadline are young, the sweep cancels those whose
 * signal aborted or whose deadline passed (through the pool's `expire`), and arms an abort
 * listener and a precise timer on a task that a worker is running and that survived a whole
 * sweep period (a long task then reacts at once). Short tasks, the bulk of a busy pool, finish
 * before that and never pay for either. A young task's cancellation or deadline is noticed
 * within SWEEP_MS; a result arriving past the deadline is still failed with task_timeout by the
 * pool, and a queued task whose signal aborted is never dispatched. Waiting tasks (in the main
 * queue or a worker's ring) are polled, never armed: arming thousands of them on one shared
 * signal would make every removeEventListener O(listeners), and the listeners and timers alive
 * at once stay bounded by the running tasks, one per worker.
 *
 * @example
 * ```ts
 * const sweep = new DeadlineSweep((task, err, why) => pool.abort(task, err, why))
 * task.deadline = performance.now() + 1000
 * sweep.watch(task)
 * // ... once settled:
 * DeadlineSweep.release(task)
 * ```
 */
import { AppError } from '../errors.ts'
import { WHY_CANCELED, WHY_TIMEOUT } from './protocol.ts'
import { abortReason, DONE, QUEUED, type Run } from './run.ts'

/** Period of the sweep: how late a young task's cancellation or deadline may be noticed. */
export const SWEEP_MS = 2

/** Cancels a task for the sweep: `why` is WHY_CANCELED or WHY_TIMEOUT (protocol.ts). */
export type Expire = (task: Run, err: AppError, why: number) => void

/** Watches the tasks that have a signal or a deadline; see the file comment. */
export class DeadlineSweep {
  /** Tasks not armed yet, swept every SWEEP_MS. */
  #watched: Run[] = []
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(private readonly expire: Expire) {}

  /** Adds a task with a signal or a deadline (its `deadline` set first, 0 for none). */
  watch(t: Run): void {
    t.watch = { swept: 0, timer: undefined, killTimer: undefined, onAbort: undefined }
    this.#watched.push(t)
    if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#sweep, SWEEP_MS)
      this.#timer.unref() // outstanding tasks keep the process alive through the pool's watchdog
    }
  }

  /** Drops the listener and timer of a task that settled (a no-op unless the sweep armed it). */
  static release(t: Run): void {
    const w = t.watch
    if (w === undefined || w.swept !== 2) return
    if (w.timer !== undefined) clearTimeout(w.timer)
    if (w.onAbort) t.options?.signal?.removeEventListener('abort', w.onAbort)
  }

  readonly #sweep = (): void => {
    this.#timer = undefined
    const now = performance.now()
    const w = this.#watched
    let keep = 0
    for (let i = 0; i < w.length; i++) {
      const t = w[i] as Run
      if (t.state === DONE) continue
      const signal = t.options?.signal
      const watch = t.watch as NonNullable<Run['watch']>
      if (signal !== undefined && signal.aborted) this.expire(t, abortReason(signal), WHY_CANCELED)
      else if (t.deadline !== 0 && now >= t.deadline) this.expire(t, timeoutError(t), WHY_TIMEOUT)
      else if (watch.swept === 0 || t.state === QUEUED || t.handle?.front() !== t) {
        // Its first sweep (it may have started just now), or still waiting: polled again.
        watch.swept = 1
        w[keep++] = t
      } else this.#arm(t, signal, now)
    }
    w.length = keep
    if (keep > 0) {
      this.#timer = setTimeout(this.#sweep, SWEEP_MS)
      this.#timer.unref()
    }
  }

  /** A running task outlived the sweep: react to its abort and deadline at once from now on. */
  #arm(t: Run, signal: AbortSignal | undefined, now: number): void {
    const w = t.watch as NonNullable<Run['watch']>
    w.swept = 2
    if (signal !== undefined) {
      w.onAbort = () => this.expire(t, abortReason(signal), WHY_CANCELED)
      signal.addEventListener('abort', w.onAbort, { once: true })
    }
    if (t.deadline !== 0) w.timer = setTimeout(() => this.expire(t, timeoutError(t), WHY_TIMEOUT), t.deadline - now)
  }
}

/** The error of a task whose `timeoutMs` passed. */
export function timeoutError(t: Run): AppError {
  return new AppError('task_timeout', `Run '${t.name}' did not finish within ${t.options?.timeoutMs ?? 0} ms`)
}
