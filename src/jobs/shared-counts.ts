/**
 * Job counts when several processes share one job store: read from SQL, cached briefly, instead
 * of the per-process counters a process alone keeps (which see only its own submits and runs).
 *
 * - The queue limit reads {@link SharedCounts.queued}: the `queued` count, re-read when older
 *   than {@link QUEUED_MAX_AGE_MS}, plus this process's submits since that read. Tolerance: the
 *   other processes' submits of the last {@link QUEUED_MAX_AGE_MS} are not seen, so N processes
 *   together may go past `JOB_QUEUE_LIMIT` by what they accept in that time.
 * - `/metrics` and the status page read {@link SharedCounts.all}: every state, at most
 *   {@link ALL_MAX_AGE_MS} old; a stale read answers the cached counts at once and refreshes
 *   them behind (one `GROUP BY state`, which scans an index of every retained job).
 *
 * @example
 * ```ts
 * const counts = new SharedCounts(store)
 * if (await counts.queued() >= limit) throw queueFull()
 * counts.added(1)
 * ```
 */
import { JOB_STATES, type JobState } from './model.ts'
import type { JobStore } from './store.ts'

/** Age past which the queued count is read again before a submit, ms. */
export const QUEUED_MAX_AGE_MS = 250
/** Age past which the counts of every state are read again (behind the answer), ms. */
export const ALL_MAX_AGE_MS = 1000

/** Counts from the store shared by several processes; see the module comment. */
export class SharedCounts {
  #queued = 0
  #queuedAt = -Infinity
  /** Submits of this process not yet in {@link #queued}: in flight, or committed since the read. */
  #local = 0
  #inFlight = 0
  #reading: Promise<void> | undefined
  #all: Record<JobState, number> = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>
  #allAt = -Infinity
  #allReading: Promise<void> | undefined

  constructor(private readonly store: Pick<JobStore, 'count' | 'counts'>, private readonly now: () => number = Date.now) {}

  /** Reads every state's count now (at start). */
  async load(): Promise<void> {
    this.#all = await this.store.counts()
    this.#allAt = this.now()
  }

  /** The queued estimate for the queue limit: SQL at most {@link QUEUED_MAX_AGE_MS} old, plus local submits since. */
  async queued(): Promise<number> {
    if (this.now() - this.#queuedAt > QUEUED_MAX_AGE_MS) {
      this.#reading ??= this.#readQueued().finally(() => { this.#reading = undefined })
      await this.#reading
    }
    return this.#queued + this.#local
  }

  /** A submit of this process starts (`+1`) or ends uncommitted or as a repeat (`-1`). */
  added(n: 1 | -1): void {
    this.#local += n
    this.#inFlight += n
  }

  /** A submit of this process committed: it stays counted in the local part until the next read. */
  committed(): void {
    this.#inFlight--
  }

  /**
   * Every state's count as last read, refreshed behind when older than {@link ALL_MAX_AGE_MS}:
   * for callers that poll often (the status page). A caller seconds apart gets the previous
   * read's counts; a scrape uses {@link fresh}.
   */
  all(): Record<JobState, number> {
    if (this.now() - this.#allAt > ALL_MAX_AGE_MS) void this.#refreshAll()
    return { ...this.#all }
  }

  /**
   * Every state's count, at most {@link ALL_MAX_AGE_MS} old: read now (one read shared by
   * concurrent callers) when the last read is older. For `/metrics`: scrapes come every 15 s or
   * so, and {@link all} would answer each with the counts of the scrape before. When the read
   * fails, the last counts.
   */
  async fresh(): Promise<Record<JobState, number>> {
    if (this.now() - this.#allAt > ALL_MAX_AGE_MS) await this.#refreshAll()
    return { ...this.#all }
  }

  #refreshAll(): Promise<void> {
    this.#allReading ??= this.store.counts()
      .then((c) => { this.#all = c; this.#allAt = this.now() })
      .catch(() => { /* keep the last counts; the next read tries again */ })
      .finally(() => { this.#allReading = undefined })
    return this.#allReading
  }

  async #readQueued(): Promise<void> {
    // Submits in flight now are not in what the read sees; the committed ones are.
    const inFlight = this.#inFlight
    const n = await this.store.count('queued')
    this.#queued = n
    this.#local = inFlight
    this.#queuedAt = this.now()
  }
}
