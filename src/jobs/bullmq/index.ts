/**
 * `BullJobs`: the job API ({@link JobService}) on BullMQ 6, selected by `JOBS_URL` (Redis or
 * BullMQ's PostgreSQL backend). Every node that names the same URL shares the queue: any node
 * takes submissions, runs jobs on its own worker pool, answers reads, cancels and SSE streams for
 * jobs running anywhere. Loaded only when JOBS_URL is set (src/jobs/index.ts imports it lazily).
 *
 * Per process: a `Queue` (submit, read, list, clean), a `Worker` (concurrency JOB_CONCURRENCY,
 * lock and stall check every JOB_LEASE, so a crashed node's jobs are taken back within about two
 * leases), a `QueueEvents` (SSE fan-out and the cancel channel), a `QueueEventsProducer`.
 * The parts: mapping.ts (job <-> BullMQ), processor.ts, cancel.ts, fanout.ts, listing.ts.
 *
 * Counts are read every second in the background (`getJobCounts`): /metrics, the status page and
 * JOB_QUEUE_LIMIT (now cluster-wide) use that snapshot, plus the jobs this node added since.
 *
 * When the backend is away, every call answers 503 `jobs_unavailable` (nothing accepted is lost:
 * a job is accepted only once BullMQ stored it); the server itself keeps answering.
 *
 * @example
 * ```ts
 * const jobs = new BullJobs({ url: 'redis://127.0.0.1:6379', pool, log, concurrency: 4, queueLimit: 100_000, backoffBase: 1000, ttl: 86_400_000, lease: 5000 })
 * await jobs.start()
 * const { job } = await jobs.submit({ task: 'echo', input: '{"value":1}' })
 * ```
 */
import type { Job as BullJob, Queue, QueueEvents, QueueEventsProducer, Worker } from 'bullmq'
import { AppError } from '../../errors.ts'
import { guardedBoard } from './board-answer.ts'
import type { Logger } from '../../log.ts'
import type { TaskRunner } from '../../pool/types.ts'
import type { JobListener } from '../events.ts'
import { newJob, type Job, type JobState, type NewJob } from '../model.ts'
import type { JobService } from '../service.ts'
import type { InsertResult, ListPage, ListQuery } from '../store.ts'
import { SubmitValidator } from '../validate.ts'
import { CancelChannel } from './cancel.ts'
import { guarded, throttledWarn, unavailable } from './guard.ts'
import { openBackend, type Backend } from './connection.ts'
import { EventsFanout } from './fanout.ts'
import { checkCursor, listJobs } from './listing.ts'
import { QUEUED_TYPES, fromBull, keyJobId, stateOf, toBull, type BullData, type BullRecord, type BullState } from './mapping.ts'
import { CANCEL_REASON, SHUTDOWN_REASON, backoffStrategy, makeProcessor } from './processor.ts'

/** What {@link BullJobs} is built from. */
export interface BullJobsOptions {
  /** JOBS_URL: redis://, rediss://, postgres:// or postgresql://. */
  url: string
  pool: TaskRunner
  log: Logger
  /** Jobs running at once in this process. */
  concurrency: number
  /** Queued jobs (all nodes) before submit answers 503 `queue_full`. */
  queueLimit: number
  /** Base of the exponential retry backoff, ms. */
  backoffBase: number
  /** Finished jobs are kept this long, ms. */
  ttl: number
  /** BullMQ lock duration and stall-check interval, ms (JOB_LEASE). */
  lease: number
  /** How long start waits for the backend to answer before it fails, ms (START_WAIT; default 10 000). */
  startWait?: number
  /** BullMQ queue name (default 'highperf'). */
  queueName?: string
  /** Redis key prefix or PostgreSQL schema (default 'bull' / 'bullmq'). */
  namespace?: string
  /** Pool priority of job tasks (default -1, below synchronous requests). */
  poolPriority?: number
  /** How long a call to the backend may take before it answers `jobs_unavailable`, ms (default 5000). */
  callTimeout?: number
  /** How often counts are read and the retention sweep runs, ms (defaults 1000 and min(ttl, 60 s)). */
  countsEvery?: number
  sweepEvery?: number
}

/** How long {@link BullJobs.start} waits for the backend by default, ms (START_WAIT's default). */
const DEFAULT_START_WAIT_MS = 10_000

const ZERO: Record<JobState, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 }

/** The job API on BullMQ (see the module comment). */
export class BullJobs implements JobService {
  readonly #o: BullJobsOptions
  readonly #backend: Backend
  readonly #name: string
  readonly #validator: SubmitValidator
  #queue: Queue | undefined
  #worker: Worker | undefined
  #events: QueueEvents | undefined
  #producer: QueueEventsProducer | undefined
  #fanout: EventsFanout | undefined
  #cancel: CancelChannel | undefined
  #counts: Record<JobState, number> = { ...ZERO }
  /** Jobs this node added since the last counts snapshot (JOB_QUEUE_LIMIT between two reads). */
  #addedSince = 0
  #running = 0
  #idle: (() => void) | undefined
  #timers: ReturnType<typeof setInterval>[] = []
  #started = false
  /** True once the backend answered at start: only then may close wait (bounded) for BullMQ to flush. */
  #reached = false
  #draining = false
  #closed = false
  #drainDeadline = 0

  constructor(options: BullJobsOptions) {
    this.#o = options
    this.#name = options.queueName ?? 'highperf'
    const url = options.url
    // PostgreSQL's own connect retries stop a second before start gives up, so the last refusal
    // is the error start reports (START_WAIT_MS in ./connection.ts: 9 s of the default 10).
    const startWait = options.startWait ?? DEFAULT_START_WAIT_MS
    // The backend's own retries stop a little before start's deadline (a second, or half of a short
    // wait), so their last refusal is the error start reports; START_WAIT=1s still retries 500 ms.
    this.#backend = openBackend(url, { namespace: options.namespace ?? (url.startsWith('redis') ? 'bull' : 'bullmq'), startWaitMs: Math.max(0, startWait - Math.min(1000, startWait / 2)) })
    this.#validator = new SubmitValidator(options.pool)
  }

  /** Which backend: 'redis' or 'postgres'. */
  get kind(): Backend['kind'] {
    return this.#backend.kind
  }

  /** The BullMQ queue (the dashboard shows it); undefined before {@link start}. */
  get queue(): Queue | undefined {
    return this.#queue
  }

  get draining(): boolean {
    return this.#draining
  }

  /** Connects, subscribes to the queue's events, then starts the worker (events first: none is missed). */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const b = this.#backend
    const log = this.#o.log
    this.#queue = new b.Queue(this.#name, b.queueOptions())
    const warn = throttledWarn(log, 30_000)
    this.#queue.on('error', (err) => warn('queue', err))
    this.#producer = new b.QueueEventsProducer(this.#name, b.queueOptions())
    this.#producer.on('error', (err: unknown) => warn('producer', err))
    this.#events = new b.QueueEvents(this.#name, b.blockingOptions())
    this.#events.on('error', (err) => warn('events', err))
    this.#fanout = new EventsFanout(this.#events, (id) => this.get(id), log)
    this.#cancel = new CancelChannel(this.#producer, this.#events, (id) => {
      this.#worker?.cancelJob(id, CANCEL_REASON)
      this.#fanout?.refresh(id)
    })
    await this.#call(async () => {
      await this.#queue!.waitUntilReady()
      await this.#events!.waitUntilReady()
    }, this.#o.startWait ?? DEFAULT_START_WAIT_MS)
    this.#reached = true
    const processor = makeProcessor({
      pool: this.#o.pool,
      log,
      poolPriority: this.#o.poolPriority ?? -1,
      onStart: () => { this.#running++ },
      onEnd: () => {
        if (--this.#running === 0) this.#idle?.()
      },
    })
    this.#worker = new b.Worker(this.#name, processor as never, {
      ...b.blockingOptions(),
      concurrency: this.#o.concurrency,
      // Short locks are safe: tasks run on the pool's threads, the event loop never blocks,
      // so lock renewals are never late; a dead node's jobs come back within ~2 leases.
      lockDuration: this.#o.lease,
      stalledInterval: this.#o.lease,
      maxStalledCount: 2,
      // After a connection error BullMQ waits this long before fetching again (default 15 s): 60
      // queued jobs had all run 13.5-15.3 s after PostgreSQL came back with 15 s, 2.8-4.7 s with
      // 1 s (bench/jobs/outage-recovery.ts; Redis 3.0-3.9 s either way).
      runRetryDelay: 1000,
      settings: { backoffStrategy: backoffStrategy(this.#o.backoffBase) },
    })
    this.#worker.on('error', (err) => warn('worker', err))
    await this.#refreshCounts()
    await this.sweep()
    this.#every(this.#o.countsEvery ?? 1000, () => this.#refreshCounts())
    this.#every(this.#o.sweepEvery ?? Math.max(1000, Math.min(this.#o.ttl, 60_000)), () => this.sweep())
    log.info({ backend: b.kind, url: b.where, queue: this.#name }, 'jobs on BullMQ')
  }

  counts(): Record<JobState, number> {
    return { ...this.#counts }
  }

  /** One round trip for the scrape's counts (every node reads the same queue: not summed, see src/metrics). */
  async freshCounts(): Promise<Record<JobState, number>> {
    await this.#refreshCounts()
    return this.counts()
  }

  async submit(req: NewJob): Promise<InsertResult> {
    if (this.#draining || this.#closed) throw new AppError('shutting_down', 'The server is shutting down and takes no new jobs', { retryAfter: 5 })
    this.#validator.check(req)
    const queue = this.#ready()
    const job = newJob(req, Date.now())
    if (req.idempotencyKey !== undefined) job.id = keyJobId(req.idempotencyKey)
    const queued = this.#counts.queued + this.#addedSince
    if (queued >= this.#o.queueLimit) {
      const existing = req.idempotencyKey === undefined ? undefined : await this.get(job.id)
      if (existing) return { job: existing, created: false }
      throw new AppError('queue_full', `${queued} jobs are queued (JOB_QUEUE_LIMIT ${this.#o.queueLimit}); retry later`, { retryAfter: 1 })
    }
    const sub = crypto.randomUUID()
    const { name, data, opts } = toBull(job, sub, this.#o.ttl)
    await this.#call(() => queue.add(name, data, opts))
    this.#addedSince++
    if (req.idempotencyKey === undefined) return { job, created: true }
    // BullMQ answers a repeated id with the job it was given, not the stored one: read it back.
    const stored = await this.#read(job.id)
    if (!stored || stored.rec.data.sub === sub) return { job, created: true }
    return { job: fromBull(stored.rec, stored.state, stored.dueAt), created: false }
  }

  async get(id: string): Promise<Job | undefined> {
    const r = await this.#read(id)
    return r && fromBull(r.rec, r.state, r.dueAt)
  }

  async result(id: string): Promise<Uint8Array | undefined> {
    const r = await this.#read(id)
    if (!r || stateOf(r.rec, r.state) !== 'succeeded' || typeof r.rec.returnvalue !== 'string') return undefined
    return new TextEncoder().encode(r.rec.returnvalue)
  }

  list(query: ListQuery): Promise<ListPage> {
    const queue = this.#ready()
    return this.#call(() => listJobs(queue, query, (ids) => this.#backend.delayedUntil(queue, ids)))
  }

  /**
   * bull-board for this queue, served under `basePath` (loaded on first use; dashboard.ts), its
   * 500s that are no server fault answered as such (board-answer.ts).
   */
  async dashboard(basePath: string): Promise<(request: Request) => Response | Promise<Response>> {
    const queue = this.#ready()
    const { dashboardFetch } = await import('./dashboard.ts')
    return guardedBoard(await dashboardFetch(queue, basePath))
  }

  /** Throws `validation_failed` for a cursor this service never hands out. */
  checkCursor(cursor: string): void {
    checkCursor(cursor)
  }

  subscribe(id: string, listener: JobListener): () => void {
    if (!this.#fanout) return () => {}
    return this.#fanout.subscribe(id, listener)
  }

  async cancel(id: string): Promise<{ job: Job; from: JobState } | undefined> {
    const r = await this.#read(id)
    if (!r) return undefined
    const from = stateOf(r.rec, r.state)
    if (from !== 'queued' && from !== 'running') return { job: fromBull(r.rec, r.state, r.dueAt), from }
    const bj = r.rec as unknown as BullJob<BullData>
    const data: BullData = { ...r.rec.data, canceledAt: Date.now() }
    await this.#call(async () => {
      await bj.updateData(data)
      // A delayed job would wait for its time: promoted, the processor fails it at once.
      if (r.state === 'delayed') await bj.promote().catch(() => {})
    })
    r.rec.data = data
    // Every node (this one too) aborts the job if it runs it and tells its SSE streams.
    await this.#call(() => this.#cancel!.publish(id)).catch((err: unknown) => this.#o.log.warn({ err, id }, 'cannot publish a cancel; the job is flagged and fails when it next starts'))
    return { job: fromBull(r.rec, r.state, r.dueAt), from }
  }

  /** Deletes finished jobs older than JOB_TTL (BullMQ's own age removal runs only when another job finishes). */
  async sweep(): Promise<number> {
    const queue = this.#queue
    if (!queue || this.#closed) return 0
    let n = 0
    try {
      for (const type of ['completed', 'failed'] as const) {
        for (;;) {
          const removed = await this.#call(() => queue.clean(this.#o.ttl, 1000, type))
          n += removed.length
          if (removed.length < 1000) break
        }
      }
    } catch (err) {
      this.#o.log.warn({ err }, 'job retention sweep failed')
    }
    return n
  }

  drain(graceMs = 0): void {
    if (this.#draining) return
    this.#draining = true
    this.#drainDeadline = Date.now() + graceMs
    this.#fanout?.shutdownAll()
    // No new jobs here; running ones go on until close().
    void this.#worker?.pause(true).catch(() => {})
  }

  async close(graceMs = 0): Promise<void> {
    if (this.#closed) return
    this.drain(graceMs)
    for (const t of this.#timers) clearInterval(t)
    const left = this.#drainDeadline - Date.now()
    if (left > 0 && this.#running > 0) await this.#whenIdle(left)
    // Past the grace: what still runs goes back to the queue, its attempt not counted (processor.ts).
    if (this.#running > 0) {
      this.#worker?.cancelAllJobs(SHUTDOWN_REASON)
      await this.#whenIdle(5000)
    }
    this.#closed = true
    // Bounded: BullMQ's close waits for a connection that may never come back (backend away).
    // Never reached at all (start failed: nothing was sent, nothing to flush), a start-up failure
    // exits at once instead of 2 s after START_WAIT.
    const bound = this.#reached ? 2000 : 100
    const quiet = (p: Promise<unknown> | undefined): Promise<unknown> => Promise.race([(p ?? Promise.resolve()).catch(() => {}), Bun.sleep(bound)])
    await quiet(this.#worker?.close())
    await Promise.all([quiet(this.#events?.close()), quiet(this.#producer?.close()), quiet(this.#queue?.close())])
    await this.#backend.close()
  }

  #whenIdle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      function done(): void {
        clearTimeout(t)
        resolve()
      }
      this.#idle = done
    })
  }

  #every(ms: number, fn: () => Promise<unknown>): void {
    const t = setInterval(() => { void fn().catch(() => {}) }, ms)
    t.unref?.()
    this.#timers.push(t)
  }

  async #refreshCounts(): Promise<void> {
    const queue = this.#queue
    if (!queue) return
    const c = await this.#call(() => queue.getJobCounts(...QUEUED_TYPES, 'active', 'completed', 'failed'))
    const queued = QUEUED_TYPES.reduce((n, t) => n + (c[t] ?? 0), 0)
    // BullMQ has no canceled state: canceled jobs are counted with the failed ones (docs/jobs.md#many-hosts).
    this.#counts = { queued, running: c.active ?? 0, succeeded: c.completed ?? 0, failed: c.failed ?? 0, canceled: 0 }
    this.#addedSince = 0
  }

  #ready(): Queue {
    if (!this.#queue) throw new AppError('jobs_unavailable', 'The job queue is not started yet', { retryAfter: 1 })
    if (!this.#backend.up()) throw this.#unavailable(new Error('not connected'))
    return this.#queue
  }

  async #read(id: string): Promise<{ rec: BullRecord; state: BullState; dueAt?: number } | undefined> {
    const queue = this.#ready()
    return this.#call(async () => {
      let bj = await queue.getJob(id)
      if (!bj) return undefined
      const state = (await bj.getState()) as BullState
      // Two reads, not one: a job that finished between them is read again, so a final state
      // never shows the record of before (no error, no finishedAt). Final records do not change.
      if ((state === 'completed' || state === 'failed') && !bj.finishedOn) bj = (await queue.getJob(id)) ?? bj
      const rec = bj as unknown as BullRecord
      if (state !== 'delayed') return { rec, state }
      // A delayed job's due time is BullMQ's, not the record's (mapping.ts runAtOf): one more read.
      const dueAt = (await this.#backend.delayedUntil(queue, [id])).get(id)
      return dueAt === undefined ? { rec, state } : { rec, state, dueAt }
    })
  }

  /** Runs one backend call, bounded; a failure of the backend becomes 503 `jobs_unavailable` (guard.ts). */
  #call<T>(fn: () => Promise<T>, timeoutMs = this.#o.callTimeout ?? 5000): Promise<T> {
    return guarded(fn, timeoutMs, this.#backend)
  }

  #unavailable(cause: unknown): AppError {
    return unavailable(cause, this.#backend)
  }
}

