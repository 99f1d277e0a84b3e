/**
 * Job events from every node to this node's SSE streams: one BullMQ `QueueEvents` per process
 * reads the queue's event stream (Redis stream, or PostgreSQL LISTEN/NOTIFY), and the events of
 * a job somebody here watches become {@link JobEvent}s on the local {@link JobEvents} map.
 *
 * A state event is re-read from the queue (`get`), so a stream always shows the job as stored;
 * jobs nobody watches cost one Map lookup per event. Progress events carry their figures and are
 * passed on as they are. Repeats of an unchanged state are dropped (BullMQ sends `waiting` and
 * `active` for one start, for example).
 *
 * BullMQ's event stream is capped (10 000 events by default) and can miss events (bullmq#2517):
 * the SSE route still sends the current state first on every (re)connect (src/routes/job-events.ts).
 *
 * @example
 * ```ts
 * const fanout = new EventsFanout(queueEvents, (id) => jobs.get(id), log)
 * const off = fanout.subscribe(id, (e) => send(e))
 * ```
 */
import type { QueueEvents } from 'bullmq'
import type { Logger } from '../../log.ts'
import { JobEvents, type JobListener } from '../events.ts'
import { isFinal, type Job } from '../model.ts'

/** BullMQ events that mean a job changed state. */
const STATE_EVENTS = ['active', 'completed', 'failed', 'waiting', 'delayed', 'removed'] as const

/** Fans QueueEvents out to local subscribers (see the module comment). */
export class EventsFanout {
  readonly #events = new JobEvents()
  /** Listeners per watched id: events of other jobs are dropped without a read. */
  readonly #watched = new Map<string, number>()
  /** Last state sent per watched job, to drop repeats. */
  readonly #last = new Map<string, string>()
  readonly #get: (id: string) => Promise<Job | undefined>
  readonly #log: Logger

  constructor(queueEvents: QueueEvents, get: (id: string) => Promise<Job | undefined>, log: Logger) {
    this.#get = get
    this.#log = log
    for (const name of STATE_EVENTS) {
      queueEvents.on(name, (args: { jobId: string }) => this.refresh(args.jobId))
    }
    queueEvents.on('progress', (args: { jobId: string; data: unknown }) => {
      if (!this.#watched.has(args.jobId)) return
      const d = args.data as { pct?: unknown; message?: unknown } | null
      const progress = typeof d?.pct === 'number' ? d.pct : typeof args.data === 'number' ? args.data : 0
      this.#events.emit(args.jobId, { type: 'progress', id: args.jobId, progress, message: typeof d?.message === 'string' ? d.message : '' })
    })
  }

  /** Subscribes to one job's events (see {@link JobEvents.on}). */
  subscribe(id: string, listener: JobListener): () => void {
    this.#watched.set(id, (this.#watched.get(id) ?? 0) + 1)
    const off = this.#events.on(id, listener)
    let done = false
    return () => {
      if (done) return
      done = true
      off()
      const n = (this.#watched.get(id) ?? 1) - 1
      if (n > 0) this.#watched.set(id, n)
      else {
        this.#watched.delete(id)
        this.#last.delete(id)
      }
    }
  }

  /** Reads job `id` again and sends its state to its subscribers, if any and if it changed. */
  refresh(id: string): void {
    if (!this.#watched.has(id)) return
    this.#get(id).then((job) => {
      if (!job || !this.#watched.has(id)) return
      // A final state is sent once (a cancel is seen twice: the flag, then the failed job).
      const key = isFinal(job.state) ? 'final' : `${job.state}|${job.updatedAt}|${job.attempts}`
      if (this.#last.get(id) === key) return
      this.#last.set(id, key)
      this.#events.emit(id, { type: 'state', job })
    }, (err: unknown) => this.#log.warn({ err, id }, 'cannot read a watched job after its event'))
  }

  /** Tells every stream the server is shutting down. */
  shutdownAll(): void {
    this.#events.shutdownAll()
  }

  /** Jobs with at least one listener (tests check that streams clean up). */
  get watched(): number {
    return this.#watched.size
  }
}
