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
 * `running`: its lease then runs out and the next claim (of any process) takes it back.
 *
 * Several processes on one store (docs/jobs.md#several-processes). Every claim is leased to this
 * runner (`owner`, unique per instance) for `lease` ms and renewed by a heartbeat every third of
 * it; a job whose owner died is taken back by the next claim once its lease expires (the claim
 * also runs on every heartbeat); every outcome write is fenced by the claim's token. A cancel
 * anywhere writes `canceled` and is broadcast on the bus, and the owner aborts its run at once;
 * if the message is lost, the owner's next heartbeat finds the job no longer its own and aborts
 * it. Events reach watchers in other processes through the {@link ClusterFeed}. With `shared`,
 * the queue limit and {@link JobRunner.counts} read SQL ({@link SharedCounts}).
 *
 * @example
 * ```ts
 * const runner = new JobRunner({ store, pool, log, concurrency: 4, queueLimit: 1000, backoffBase: 1000, ttl: 86_400_000 })
 * await runner.start()
 * const { job } = await runner.submit({ task: 'echo', input: '{"value":1}' })
 * ```
 */
import { randomUUID } from 'node:crypto'
import { AppError } from '../errors.ts'
import { LOCAL_BUS, type Bus } from '../cluster/bus.ts'
import { WaitGroup } from '../sync/index.ts'
import type { TaskRunner } from '../pool/types.ts'
import type { Logger } from '../log.ts'
import { ClusterFeed } from './cluster-feed.ts'
import { JobEvents, type JobListener } from './events.ts'
import { isFinal, newJob, type Job, type JobState, type NewJob } from './model.ts'
import { SharedCounts } from './shared-counts.ts'
import { CANCELED, executeJob, LOST, SHUTDOWN, type ExecuteContext } from './execute.ts'
import { WakeTimer } from './wake-timer.ts'
import { SubmitValidator } from './validate.ts'
import type { InsertResult, JobStore, LeasedJob, ListPage, ListQuery } from './store.ts'
import type { JobService } from './service.ts'

export { MAX_JOB_BACKOFF_MS } from './execute.ts'

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
  /** How long a claim holds without a heartbeat, ms (`JOB_LEASE`, default 5000); renewed every third of it. */
  lease?: number
  /** This runner's name in the store's leases (default: host, pid and a random part: unique per instance). */
  owner?: string
  /** The bus to the other server processes (cancels, events); default LOCAL_BUS (alone). */
  bus?: Bus
  /** Other processes share the store: the queue limit and counts() read SQL (default false). */
  shared?: boolean
  /** How often watched jobs run elsewhere are re-read from the store, ms (default 1000). */
  watchPollMs?: number
  now?: () => number
  random?: () => number
}

/** One run of this runner: its abort controller, its claim, and the heartbeat generation it started in. */
interface Run {
  ac: AbortController
  job: LeasedJob
  gen: number
}

const CANCEL_TOPIC = 'jobs:cancel'

/** Feeds the pool from the job store; see the file comment. */
export class JobRunner implements JobService {
  readonly events = new JobEvents()
  readonly #o: Required<Omit<JobRunnerOptions, 'sweepEvery'>> & { sweepEvery: number }
  /** Running jobs by id: their controllers and claims, to cancel one, renew, or abort all at close(). */
  readonly #running = new Map<string, Run>()
  readonly #feed: ClusterFeed
  readonly #shared: SharedCounts | undefined
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined
  /** Counts heartbeats: a run started after a renewal was sent is not judged by its answer. */
  #gen = 0
  #offCancel: (() => void) | undefined
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
  readonly #wake: WakeTimer
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
      lease: 5000,
      owner: `${process.pid}-${randomUUID().slice(0, 8)}`,
      bus: LOCAL_BUS,
      shared: false,
      watchPollMs: 1000,
      ...options,
      sweepEvery: options.sweepEvery ?? Math.max(1000, Math.min(options.ttl, 60_000)),
    }
    this.#validator = new SubmitValidator(options.pool)
    this.#feed = new ClusterFeed(this.events, this.#o.bus, (id) => this.#o.store.get(id), (id) => this.#running.has(id), this.#o.watchPollMs)
    this.#shared = this.#o.shared ? new SharedCounts(this.#o.store, this.#o.now) : undefined
    this.#wake = new WakeTimer(() => this.#pump(), this.#o.now)
  }

  /** This runner's name in the store's leases. */
  get owner(): string {
    return this.#o.owner
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
   * Reads the counts, starts the retention sweep, the heartbeat and the first claim. Jobs a
   * stopped server left `running` (this process's last run, or another process) are taken back by
   * a claim once their lease expires: no re-queue at start, which would run another process's
   * live jobs twice.
   */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    Object.assign(this.#counts, await this.#o.store.counts())
    await this.#shared?.load()
    await this.sweep()
    this.#sweepTimer = setInterval(() => { void this.sweep() }, this.#o.sweepEvery)
    this.#sweepTimer.unref?.()
    this.#heartbeatTimer = setInterval(() => { void this.#heartbeat() }, Math.max(50, Math.floor(this.#o.lease / 3)))
    this.#heartbeatTimer.unref?.()
    this.#offCancel = this.#o.bus.on(CANCEL_TOPIC, (data) => {
      const id = (data as { id?: unknown } | null)?.id
      if (typeof id === 'string') this.#running.get(id)?.ac.abort(CANCELED)
    })
    this.#pump()
  }

  /**
   * Jobs per state: from counters kept in memory, or, when processes share the store, from SQL
   * as last read, refreshed behind once over a second old (shared-counts.ts; /metrics uses
   * {@link freshCounts}).
   */
  counts(): Record<JobState, number> {
    return this.#shared ? this.#shared.all() : { ...this.#counts }
  }

  /**
   * As {@link counts}, but with a shared store read now when the last read is over a second old,
   * instead of refreshed behind: for `/metrics`, whose scrapes come seconds apart and would
   * otherwise each get the counts of the scrape before.
   */
  freshCounts(): Promise<Record<JobState, number>> {
    return this.#shared ? this.#shared.fresh() : Promise.resolve({ ...this.#counts })
  }

  /**
   * Validates and stores a job, then wakes the runner. Throws `shutting_down`, `queue_full` (503),
   * `unknown_task` (404) or `validation_failed` (422).
   */
  async submit(req: NewJob): Promise<InsertResult> {
    if (this.#draining || this.#closed) throw new AppError('shutting_down', 'The server is shutting down and takes no new jobs', { retryAfter: 5 })
    this.#validator.check(req)
    const queued = this.#shared ? await this.#shared.queued() : this.#counts.queued
    if (queued >= this.#o.queueLimit) {
      // A repeated submit still finds its job when the queue is full (a read only in this case).
      const existing = req.idempotencyKey === undefined ? undefined : await this.#o.store.findByKey(req.idempotencyKey)
      if (existing) return { job: existing, created: false }
      throw new AppError('queue_full', `${queued} jobs are queued (JOB_QUEUE_LIMIT ${this.#o.queueLimit}); retry later`, { retryAfter: 1 })
    }
    // Counted before the insert commits, so concurrent submits cannot all slip under the limit.
    this.#counts.queued++
    this.#shared?.added(1)
    let res: InsertResult
    try {
      res = await this.#o.store.insert(newJob(req, this.#o.now()))
    } catch (err) {
      this.#counts.queued--
      this.#shared?.added(-1)
      throw err
    }
    if (res.created) {
      this.#shared?.committed()
      this.#pump()
    } else {
      this.#counts.queued--
      this.#shared?.added(-1)
    }
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
   * Cancels a queued or running job (a running one is aborted through the pool's signal, in this
   * process or, through the bus, in the one running it). Returns the job and its state before,
   * or undefined for an unknown id.
   */
  async cancel(id: string): Promise<{ job: Job; from: JobState } | undefined> {
    const res = await this.#o.store.cancel(id, this.#o.now())
    if (!res || isFinal(res.from)) return res
    this.#counts[res.from]--
    this.#counts.canceled++
    const run = this.#running.get(id)
    if (run) run.ac.abort(CANCELED)
    else if (res.from === 'running') this.#o.bus.broadcast(CANCEL_TOPIC, { id })
    this.#feed.publish(id, { type: 'state', job: res.job })
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
    this.#wake.clear()
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
    for (const run of this.#running.values()) run.ac.abort(SHUTDOWN)
    await this.#active.wait()
    this.#closed = true
    clearInterval(this.#sweepTimer)
    clearInterval(this.#heartbeatTimer)
    this.#offCancel?.()
    this.#feed.close()
    await this.#o.store.close()
  }

  /**
   * Renews the leases of this runner's running jobs (one statement) and aborts the runs the store
   * no longer has as this runner's (canceled elsewhere while the bus message was lost, or taken
   * back after a stall); then claims, so expired leases of dead processes are taken back.
   */
  async #heartbeat(): Promise<void> {
    if (this.#closed) return
    const gen = ++this.#gen
    try {
      if (this.#running.size === 0) return
      const mine = await this.#o.store.renew(this.#o.owner, this.#o.now() + this.#o.lease)
      const tokens = new Map(mine.map((f) => [f.id, f.token]))
      for (const [id, run] of this.#running) {
        if (run.gen >= gen || run.ac.signal.aborted || tokens.get(id) === run.job.token) continue
        // Not renewed: canceled, or running under another claim, stops here. Any other state is
        // this run's own outcome, committed before its run ends.
        const stored = await this.#o.store.get(id).catch(() => null)
        if (stored === null || this.#running.get(id) !== run) continue
        if (stored?.state === 'canceled') run.ac.abort(CANCELED)
        else if (stored === undefined || stored.state === 'running') run.ac.abort(LOST)
      }
    } catch (err) {
      this.#o.log.warn({ err }, 'job lease heartbeat failed; retrying at the next one')
    } finally {
      this.#pump()
    }
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
        let jobs: LeasedJob[]
        // A claim in flight counts as running work until its jobs are counted themselves, so a
        // close() meanwhile waits for (or aborts) them instead of closing the store under them.
        this.#active.add()
        try {
          try {
            const claimed = await this.#o.store.claim(now, free, { owner: this.#o.owner, until: now + this.#o.lease })
            jobs = claimed.jobs
            if (claimed.takenBack > 0) this.#o.log.warn({ jobs: claimed.takenBack }, 'took back running jobs whose lease expired (their process stopped)')
            for (const job of claimed.crashed) this.#transition('running', job)
            // Taken-back jobs were `running` already; the others leave `queued`.
            this.#counts.queued -= jobs.length - claimed.takenBack
            this.#counts.running += jobs.length - claimed.takenBack
          } finally {
            this.#inPool -= free
          }
          if (this.#claimFailures > 0) this.#o.log.info({ failures: this.#claimFailures }, 'job runner claims jobs again')
          this.#claimFailures = 0
          this.#inPool += jobs.length
          for (const job of jobs) this.#start(job)
        } finally {
          this.#active.done()
        }
        if (jobs.length < free && (this.#shared !== undefined || this.#counts.queued > 0)) {
          const next = await this.#o.store.nextRunAt()
          if (next !== undefined) {
            if (next <= this.#o.now()) this.#again = true
            else this.#wake.at(next)
          }
        }
      } while (this.#again)
    } catch (err) {
      // Logged once per streak: a full disk would otherwise log the same error every second.
      if (this.#claimFailures++ === 0) this.#o.log.error({ err }, 'job runner could not claim jobs; retrying every second')
      this.#wake.at(this.#o.now() + 1000)
    } finally {
      this.#filling = false
    }
  }

  #start(job: LeasedJob): void {
    const ac = new AbortController()
    const run: Run = { ac, job, gen: this.#gen }
    // This runner's own earlier run of the job, whose lease expired (the loop stalled past it)
    // and which this claim took back: that run's writes are fenced off; stop it.
    this.#running.get(job.id)?.ac.abort(LOST)
    this.#running.set(job.id, run)
    this.#active.add()
    if (this.#aborting) ac.abort(SHUTDOWN) // claimed during close, past the grace: straight back to the queue
    this.#feed.publish(job.id, { type: 'state', job })
    void this.#execute(job, ac)
      .catch((err) => {
        // #record gave up (the server is stopping while the store still refuses, or the store is
        // broken beyond a full disk): the job stays `running` in the store until its lease
        // expires and a claim takes it back; the process must not die of an unhandled rejection.
        this.#o.log.error({ err, id: job.id }, 'cannot record the outcome of a job; it is taken back when its lease expires')
      })
      .finally(() => {
        if (this.#running.get(job.id) === run) this.#running.delete(job.id)
        this.#active.done()
        this.#pump()
      })
  }

  /** Runs the job through {@link executeJob} and counts and publishes the state its outcome left. */
  async #execute(job: LeasedJob, ac: AbortController): Promise<void> {
    const o = this.#o
    const ctx: ExecuteContext = {
      store: o.store, pool: o.pool, log: o.log, now: o.now, random: o.random, backoffBase: o.backoffBase,
      poolPriority: o.poolPriority, stopRetries: this.#stopRetries.signal,
      // The slot is free as soon as the task left the pool, before its outcome commits, so the
      // next claim joins the same group commit as this completion (one transaction, not two per job).
      leftPool: () => {
        this.#inPool--
        this.#pump()
      },
      onProgress: (progress, message) => {
        o.store.progress(job, progress, message, o.now()).catch((err) => o.log.warn({ err, id: job.id }, 'cannot record job progress'))
        this.#feed.publish(job.id, { type: 'progress', id: job.id, progress, message })
      },
    }
    const after = await executeJob(job, ac.signal, ctx)
    if (after) this.#transition('running', after)
  }

  #transition(from: JobState, job: Job): void {
    this.#counts[from]--
    this.#counts[job.state]++
    this.#feed.publish(job.id, { type: 'state', job })
  }
}

/** Default concurrency of jobs: `JOB_CONCURRENCY`, or twice the workers when it is 0. */
export function jobConcurrency(configured: number, workers: number): number {
  return configured > 0 ? configured : Math.max(1, 2 * workers)
}
