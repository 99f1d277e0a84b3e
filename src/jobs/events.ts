/**
 * In-process job events: the runner publishes state and progress changes per job id; SSE streams
 * subscribe to one id. A Map of Sets keyed by id keeps publishing O(listeners of that job), so a
 * burst of jobs nobody watches costs one Map lookup each.
 *
 * @example
 * ```ts
 * const off = events.on(job.id, (e) => console.log(e.type))
 * events.emit(job.id, { type: 'progress', id: job.id, progress: 50, message: 'half' })
 * off()
 * ```
 */
import type { Job } from './model.ts'

/** A change of one job: a new state (with the job as stored), a progress report, or the end of the feed. */
export type JobEvent =
  | { type: 'state'; job: Job }
  | { type: 'progress'; id: string; progress: number; message: string }
  /** The server is shutting down: streams should end (the job may still finish elsewhere or later). */
  | { type: 'shutdown' }

/** Listener of {@link JobEvents}. */
export type JobListener = (event: JobEvent) => void

/** See {@link JobEvents.setWatchHooks}. */
export type WatchHook = (id: string, on: boolean) => void

/** Publish/subscribe of job events by job id. */
export class JobEvents {
  readonly #byId = new Map<string, Set<JobListener>>()
  #hook: WatchHook | undefined

  /** Subscribes to one job; returns the unsubscribe function (safe to call twice). */
  on(id: string, listener: JobListener): () => void {
    let set = this.#byId.get(id)
    if (!set) {
      this.#byId.set(id, (set = new Set()))
      this.#hook?.(id, true)
    }
    set.add(listener)
    return () => {
      const s = this.#byId.get(id)
      if (!s || !s.delete(listener)) return
      if (s.size === 0) {
        this.#byId.delete(id)
        this.#hook?.(id, false)
      }
    }
  }

  /**
   * Called when a job gets its first listener (`on` true) and loses its last (false): the
   * cluster feed tells the other processes (cluster-feed.ts). Undefined removes the hook.
   */
  setWatchHooks(hook: WatchHook | undefined): void {
    this.#hook = hook
  }

  /** True when `id` has a listener. */
  has(id: string): boolean {
    return this.#byId.has(id)
  }

  /** The ids with at least one listener. */
  ids(): string[] {
    return [...this.#byId.keys()]
  }

  /** Delivers `event` to the listeners of `id`; a throwing listener does not stop the others. */
  emit(id: string, event: JobEvent): void {
    const set = this.#byId.get(id)
    if (!set) return
    for (const fn of [...set]) {
      try { fn(event) } catch { /* a broken stream must not break the runner */ }
    }
  }

  /** Tells every listener the server is shutting down. */
  shutdownAll(): void {
    for (const id of [...this.#byId.keys()]) this.emit(id, { type: 'shutdown' })
  }

  /** Number of jobs with at least one listener (tests check that streams clean up). */
  get watched(): number {
    return this.#byId.size
  }
}
