/**
 * The job runner: takes submissions, keeps up to `concurrency` jobs running on the worker pool,
 * records every transition in the {@link JobStore}, retries with backoff, and publishes events.
 *
 * Scheduling. The store is the queue: the runner claims due jobs (priority, then runAt, then age)
 * in one statement for every free slot, and is woken at once by a submit or a finished job (a
 * microtask, no polling), or by a timer set to the earliest delayed `runAt`.
 *
 * Fairness with synchronous `/tasks`. Jobs enter the pool at priority -1 (requests use 0), and
 * at most `concurrency` of them are in the pool at once (default 2 x workers, far below the pool's
 * queue limit), so a burst of 100 000 queued jobs waits in SQLite, not in the pool, and a request
 * is at most one job's run time away from a free worker.
 *
 * Errors. `invalid_input`, `invalid_json`, `too_deep`, `unknown_task` fail at once (retrying cannot help);
 * `queue_full` and `pool_closed` put the job back without counting the attempt (not the job's
 * fault); anything else retries after {@link backoffDelay} while attempts remain.
 *
 * Outcomes that cannot be written. A job's result, failure or retry is one store write; when the
 * store refuses it (disk full, lock, I/O error) the runner keeps the outcome and writes it again
 * with backoff (outcome-writer.ts) until it lands, so the job turns final as soon as space is
 * back, without a restart. Any other refusal is retried a few times, then a result that cannot
 * be stored fails the job (`internal`). Only a stop while the store still refuses leaves a job
 * `running`: the next start re-queues it.
 *
 * @example
 * ```ts
 * const runner = new JobRunner({ store, pool, log, concurrency: 4, queueLimit: 1000, backoffBase: 1000, ttl: 86_400_000 })
 * await runner.start()
 * const { job } = await runner.submit({ task: 'echo', input: '{"value":1}' })
 * ```
 */
import { AppError } from '../errors.ts'
import { WaitGroup } from '../sync/index.ts'
import type { TaskRunner } from '../pool/types.ts'
import type { Logger } from '../log.ts'
import { backoffDelay } from '../sync/index.ts'
import { JobEvents, type JobListener } from './events.ts'
import { isFinal, newJob, type Job, type JobError, type JobState, type NewJob } from './model.ts'
import { writeOutcome } from './outcome-writer.ts'
import { runPipeline } from './pipeline.ts'
import { SubmitValidator } from './validate.ts'
import type { InsertResult, JobStore, ListPage, ListQuery } from './store.ts'
import type { JobService } from './service.ts'

/** The longest delay `setTimeout` honours (2^31 - 1 ms); longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647

/**
 * The longest wait between two attempts of a job. Retries use equal jitter (uniform in [c/2, c]):
 * jobs that failed together (e.g. after a worker crash) spread out, and none is retried at once.
 */
export const MAX_JOB_BACKOFF_MS = 10 * 60_000

/** What the runner is built from. */
export interface JobRunnerOptions {
  store: JobStore
  pool: TaskRunner
  log: Logger
  /** Jobs running at once. */
  concurrency: number
  /** Queued jobs before submit answers 503 `queue_full`. */
  queueLimit: number
  /** Base of the exponential retry backoff, ms. */
  backoffBase: number
  /** Finished jobs older than this are deleted, ms. */
  ttl: number
  /** Pool priority of job tasks; below the 0 of synchronous requests. */
  poolPriority?: number
  /** How often the retention sweep runs, ms (default min(ttl, 60 s)). */
  sweepEvery?: number
  now?: () => number
  random?: () => number
}

/** Error codes that retrying cannot fix. */
const PERMANENT = new Set<string>(['invalid_input', 'invalid_json', 'too_deep', 'unknown_task', 'bad_request', 'validation_failed'])
/** Error codes that say the pool, not the job, could not run it now. */
const NOT_THE_JOBS_FAULT = new Set<string>(['queue_full', 'pool_closed'])
const CANCELED = Symbol('canceled')
const SHUTDOWN = Symbol('shutdown')

/** Feeds the pool from the job store; see the file comment. */
export class JobRunner implements JobService {
  readonly events = new JobEvents()
  readonly #o: Required<Omit<JobRunnerOptions, 'sweepEvery'>> & { sweepEvery: number }
  /** Running jobs by id: their controllers, to cancel one or abort all at close(). */
  readonly #running = new Map<string, AbortController>()
  /** Counts running jobs until their outcome is recorded, and claims in flight: close() waits on it. */
  readonly #active = new WaitGroup()
  /** Jobs whose task is in the pool now (the concurrency cap); a job leaves it before its result commits. */
  #inPool = 0
  readonly #counts: Record<JobState, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 }
  #started = false
  #draining = false
  #closed = false
  #pumpQueued = false
  #filling = false
  #again = false
  #wakeTimer: ReturnType<typeof setTimeout> | undefined
  #wakeAt = Infinity
  #sweepTimer: ReturnType<typeof setInterval> | undefined
  #drainDeadline = 0
  /** Set when close() aborts what still runs after the grace: a job claimed later is aborted at once. */
  #aborting = false
  /** Aborted with #aborting: outcome writes still being retried stop waiting (see {@link #record}). */
  readonly #stopRetries = new AbortController()
  /** Claims failed in a row (a full disk): only the first of a streak is logged. */
  #claimFailures = 0
  readonly #validator: SubmitValidator

  constructor(options: JobRunnerOptions) {
    this.#o = {
      poolPriority: -1,
      now: Date.now,
      random: Math.random,
      ...options,
      sweepEvery: options.sweepEvery ?? Math.max(1000, Math.min(options.ttl, 60_000)),
    }
    this.#validator = new SubmitValidator(options.pool)
  }

  /** The store behind the runner. */
  get store(): JobStore {
    return this.#o.store
  }

  /** True once {@link drain} was called: no submissions, no new claims. */
  get draining(): boolean {
    return this.#draining
  }

  /**
   * Recovers after a crash (running jobs go back to queued, an attempt counted), reads the
   * counts, starts the retention sweep and the first claim.
   */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const now = this.#o.now()
    const rec = await this.#o.store.recover(now)
    if (rec.requeued + rec.failed > 0) this.#o.log.warn(rec, 'jobs interrupted by the last stop: requeued or failed')
    Object.assign(this.#counts, await this.#o.store.counts())
    await this.sweep()
    this.#sweepTimer = setInterval(() => { void this.sweep() }, this.#o.sweepEvery)
    this.#sweepTimer.unref?.()
    this.#pump()
  }

  /** Jobs per state, from counters kept in memory (cheap: for /metrics at scrape time). */
  counts(): Record<JobState, number> {
    return { ...this.#counts }
  }

  /**
   * Validates and stores a job, then wakes the runner. Throws `shutting_down`, `queue_full` (503),
   * `unknown_task` (404) or `validation_failed` (422).
   */
  async submit(req: NewJob): Promise<InsertResult> {
    if (this.#draining || this.#closed) throw new AppError('shutting_down', 'The server is shutting down and takes no new jobs', { retryAfter: 5 })
    this.#validator.check(req)
    if (this.#counts.queued >= this.#o.queueLimit) {
      // A repeated submit still finds its job when the queue is full (a read only in this case).
      const existing = req.idempotencyKey === undefined ? undefined : await this.#o.store.findByKey(req.idempotencyKey)
      if (existing) return { job: existing, created: false }
      throw new AppError('queue_full', `${this.#counts.queued} jobs are queued (JOB_QUEUE_LIMIT ${this.#o.queueLimit}); retry later`, { retryAfter: 1 })
    }
    // Counted before the insert commits, so concurrent submits cannot all slip under the limit.
    this.#counts.queued++
    let res: InsertResult
    try {
      res = await this.#o.store.insert(newJob(req, this.#o.now()))
    } catch (err) {
      this.#counts.queued--
      throw err
    }
    if (res.created) this.#pump()
    else this.#counts.queued--
    return res
  }

  get(id: string): Promise<Job | undefined> {
    return this.#o.store.get(id)
  }

  result(id: string): Promise<Uint8Array | undefined> {
    return this.#o.store.result(id)
  }

  list(query: ListQuery): Promise<ListPage> {
    return this.#o.store.list(query)
  }

  /** Subscribes to one job's events (see {@link JobEvents.on}). */
  subscribe(id: string, listener: JobListener): () => void {
    return this.events.on(id, listener)
  }

  /**
   * Cancels a queued or running job (a running one is aborted through the pool's signal).
   * Returns the job and its state before, or undefined for an unknown id.
   */
  async cancel(id: string): Promise<{ job: Job; from: JobState } | undefined> {
    const res = await this.#o.store.cancel(id, this.#o.now())
    if (!res || isFinal(res.from)) return res
    this.#counts[res.from]--
    this.#counts.canceled++
    this.#running.get(id)?.abort(CANCELED)
    this.events.emit(id, { type: 'state', job: res.job })
    return res
  }

  /** Deletes finished jobs older than the TTL; returns how many. */
  async sweep(): Promise<number> {
    if (this.#closed) return 0
    try {
      const n = await this.#o.store.sweep(this.#o.now() - this.#o.ttl)
      if (n > 0) Object.assign(this.#counts, await this.#o.store.counts())
      return n
    } catch (err) {
      this.#o.log.error({ err }, 'job retention sweep failed')
      return 0
    }
  }

  /**
   * Stops taking jobs: submissions answer 503, nothing new is claimed; running jobs go on until
   * {@link close}. Open event streams are told to end. `graceMs` sets how long close() waits.
   */
  drain(graceMs = 0): void {
    if (this.#draining) return
    this.#draining = true
    this.#drainDeadline = this.#o.now() + graceMs
    this.#clearWake()
    this.events.shutdownAll()
  }

  /**
   * Drains if not yet draining, waits for running jobs until the drain deadline, aborts and
   * re-queues the rest (attempt not counted), stops the timers and closes the store.
   */
  async close(graceMs = 0): Promise<void> {
    if (this.#closed) return
    this.drain(graceMs)
    const left = this.#drainDeadline - this.#o.now()
    // The grace period: a timed-out wait only stops waiting, it cancels nothing.
    if (left > 0) await this.#active.wait(AbortSignal.timeout(left)).catch(() => {})
    this.#aborting = true
    this.#stopRetries.abort(SHUTDOWN)
    for (const ac of this.#running.values()) ac.abort(SHUTDOWN)
    await this.#active.wait()
    this.#closed = true
    clearInterval(this.#sweepTimer)
    await this.#o.store.close()
  }

  #pump(): void {
    if (this.#pumpQueued || this.#draining || !this.#started) return
    this.#pumpQueued = true
    queueMicrotask(() => {
      this.#pumpQueued = false
      void this.#fill()
    })
  }

  async #fill(): Promise<void> {
    if (this.#filling) { this.#again = true; return }
    this.#filling = true
    try {
      do {
        this.#again = false
        if (this.#draining) return
        const free = this.#o.concurrency - this.#inPool
        if (free <= 0) return
        const now = this.#o.now()
        // Reserve the slots before awaiting, so a concurrent wake-up cannot over-claim.
        this.#inPool += free
        let jobs: Job[]
        // A claim in flight counts as running work until its jobs are counted themselves, so a
        // close() meanwhile waits for (or aborts) them instead of closing the store under them.
        this.#active.add()
        try {
          try {
            jobs = await this.#o.store.claim(now, free)
          } finally {
            this.#inPool -= free
          }
          if (this.#claimFailures > 0) this.#o.log.info({ failures: this.#claimFailures }, 'job runner claims jobs again')
          this.#claimFailures = 0
          this.#inPool += jobs.length
          this.#counts.queued -= jobs.length
          this.#counts.running += jobs.length
          for (const job of jobs) this.#start(job)
        } finally {
          this.#active.done()
        }
        if (jobs.length < free && this.#counts.queued > 0) {
          const next = await this.#o.store.nextRunAt()
          if (next !== undefined) {
            if (next <= this.#o.now()) this.#again = true
            else this.#wakeAt_(next)
          }
        }
      } while (this.#again)
    } catch (err) {
      // Logged once per streak: a full disk would otherwise log the same error every second.
      if (this.#claimFailures++ === 0) this.#o.log.error({ err }, 'job runner could not claim jobs; retrying every second')
      this.#wakeAt_(this.#o.now() + 1000)
    } finally {
      this.#filling = false
    }
  }

  #wakeAt_(at: number): void {
    if (at >= this.#wakeAt) return
    this.#clearWake()
    this.#wakeAt = at
    // Capped at the largest delay a timer takes (~24.8 days): past it setTimeout fires after 1 ms,
    // and a job delayed 30 days (delayMs allows it) made the runner poll every millisecond.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - this.#o.now()))
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined
      this.#wakeAt = Infinity
      this.#pump()
    }, delay)
    this.#wakeTimer.unref?.()
  }

  #clearWake(): void {
    if (this.#wakeTimer) clearTimeout(this.#wakeTimer)
    this.#wakeTimer = undefined
    this.#wakeAt = Infinity
  }

  #start(job: Job): void {
    const ac = new AbortController()
    this.#running.set(job.id, ac)
    this.#active.add()
    if (this.#aborting) ac.abort(SHUTDOWN) // claimed during close, past the grace: straight back to the queue
    this.events.emit(job.id, { type: 'state', job })
    void this.#execute(job, ac)
      .catch((err) => {
        // #record gave up (the server is stopping while the store still refuses, or the store is
        // broken beyond a full disk): the job stays `running` in the store and the next start
        // re-queues it; the process must not die of an unhandled rejection.
        this.#o.log.error({ err, id: job.id }, 'cannot record the outcome of a job; the next start re-queues it')
      })
      .finally(() => {
        this.#running.delete(job.id)
        this.#active.done()
        this.#pump()
      })
  }

  async #execute(job: Job, ac: AbortController): Promise<void> {
    const onProgress = (pct: number, message: string): void => {
      const p = Math.max(0, Math.min(100, Math.round(pct)))
      this.#o.store.progress(job.id, p, message, this.#o.now()).catch((err) => this.#o.log.warn({ err, id: job.id }, 'cannot record job progress'))
      this.events.emit(job.id, { type: 'progress', id: job.id, progress: p, message })
    }
    let bytes: Uint8Array
    try {
      bytes = job.pipeline
        ? await runPipeline(this.#o.pool, job, { signal: ac.signal, priority: this.#o.poolPriority, onProgress, now: this.#o.now })
        : await this.#o.pool.run(job.task, job.input, { signal: ac.signal, timeoutMs: job.timeoutMs, priority: this.#o.poolPriority, onProgress })
    } catch (err) {
      this.#leavePool()
      await this.#failed(job, ac, err)
      return
    }
    this.#leavePool()
    let done: Job | undefined
    try {
      done = await this.#record(job, 'result', () => this.#o.store.complete(job.id, bytes, this.#o.now()))
    } catch (err) {
      if (this.#stopRetries.signal.aborted) throw err
      // Refused for a reason that does not pass (e.g. a result the store cannot hold): the job
      // fails with that reason instead of staying `running`.
      const error: JobError = { code: 'internal', message: `the result could not be stored: ${err instanceof Error ? err.message : String(err)}` }
      done = await this.#record(job, 'failure', () => this.#o.store.fail(job.id, error, this.#o.now()))
    }
    if (done) this.#transition('running', done)
  }

  /** Writes one outcome of `job` until the store takes it or close() stops the retries. */
  #record(job: Job, what: string, write: () => Promise<Job | undefined>): Promise<Job | undefined> {
    return writeOutcome(write, { id: job.id, what, log: this.#o.log, signal: this.#stopRetries.signal, random: this.#o.random })
  }

  /**
   * The task left the pool: its slot is free now, before its outcome commits, so the next claim
   * joins the same group commit as this completion (one transaction instead of two per job).
   */
  #leavePool(): void {
    this.#inPool--
    this.#pump()
  }

  async #failed(job: Job, ac: AbortController, err: unknown): Promise<void> {
    const now = this.#o.now()
    if (ac.signal.reason === CANCELED) return // cancel() already stored and published it
    const code = err instanceof AppError ? err.code : 'task_failed'
    const error: JobError = { code, message: err instanceof Error ? err.message : String(err) }
    const store = this.#o.store
    let after: Job | undefined
    if (ac.signal.reason === SHUTDOWN || NOT_THE_JOBS_FAULT.has(code)) {
      after = await this.#record(job, 'release', () => store.release(job.id, ac.signal.reason === SHUTDOWN ? now : now + 250, now))
    } else if (!PERMANENT.has(code) && job.attempts < job.maxAttempts) {
      const runAt = now + backoffDelay(job.attempts, this.#o.backoffBase, MAX_JOB_BACKOFF_MS, this.#o.random, 'equal')
      after = await this.#record(job, 'retry', () => store.retry(job.id, runAt, error, now))
    } else {
      after = await this.#record(job, 'failure', () => store.fail(job.id, error, now))
    }
    if (after) this.#transition('running', after)
  }

  #transition(from: JobState, job: Job): void {
    this.#counts[from]--
    this.#counts[job.state]++
    this.events.emit(job.id, { type: 'state', job })
  }
}

/** Default concurrency of jobs: `JOB_CONCURRENCY`, or twice the workers when it is 0. */
export function jobConcurrency(configured: number, workers: number): number {
  return configured > 0 ? configured : Math.max(1, 2 * workers)
}
