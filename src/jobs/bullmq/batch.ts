/**
 * Batched submissions: the `POST /jobs` of one event-loop turn go to BullMQ together, as one
 * `queue.addBulk` (one pipeline, one round trip, on PostgreSQL one transaction) instead of one
 * `queue.add` each.
 *
 * Each submission still resolves only once the batch that holds it came back from the backend:
 * nothing is answered 202 before Redis (or PostgreSQL) has the job. A failed batch rejects every
 * submission in it with the same error (the caller's 503 `jobs_unavailable`). Entries keep their
 * own ids, priorities, delays and options: a batch is only a transport.
 *
 * When: adds collect until `setImmediate` (the rest of this turn's I/O callbacks, so every request
 * read in the same turn joins), at most {@link MAX_BATCH} per batch. While {@link MAX_IN_FLIGHT}
 * batches are out, further adds wait for one to return, so under load batches grow instead of
 * round trips multiplying; an idle node sends a lone add after the same turn, without waiting.
 *
 * What it buys is measured in bench/README.md ("BullMQ on Redis: batched adds").
 *
 * @example
 * ```ts
 * const batcher = new AddBatcher((entries) => queue.addBulk(entries))
 * await batcher.add({ name: 'echo', data, opts }) // resolves once the batch holding it is stored
 * await batcher.idle()                             // before closing the queue
 * ```
 */

/** Submissions per batch at most (a pipeline of this many scripts is still a few ms of Redis). */
export const MAX_BATCH = 256
/** Batches out at once at most. */
export const MAX_IN_FLIGHT = 2

interface Pending<E> {
  entry: E
  resolve: () => void
  reject: (err: unknown) => void
}

/** Collects adds into batches (see the module comment). */
export class AddBatcher<E> {
  readonly #send: (entries: E[]) => Promise<unknown>
  #pending: Pending<E>[] = []
  #scheduled = false
  #inFlight = 0
  #idle: Array<() => void> = []
  /** Batches sent and entries in them (for tests and the bench notes). */
  batches = 0
  entries = 0

  constructor(send: (entries: E[]) => Promise<unknown>) {
    this.#send = send
  }

  /** Resolves once `entry` is stored (its batch came back), rejects with the batch's error. */
  add(entry: E): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ entry, resolve, reject })
      this.#schedule()
    })
  }

  /** Resolves when nothing is waiting or out (close() waits for this before closing the queue). */
  idle(): Promise<void> {
    if (this.#pending.length === 0 && this.#inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= MAX_IN_FLIGHT || this.#pending.length === 0) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      this.#flush()
    })
  }

  #flush(): void {
    while (this.#inFlight < MAX_IN_FLIGHT && this.#pending.length > 0) {
      const batch = this.#pending.length <= MAX_BATCH ? this.#pending : this.#pending.slice(0, MAX_BATCH)
      this.#pending = batch === this.#pending ? [] : this.#pending.slice(MAX_BATCH)
      this.#inFlight++
      this.batches++
      this.entries += batch.length
      let sent: Promise<unknown>
      try {
        sent = this.#send(batch.map((p) => p.entry))
      } catch (err) {
        sent = Promise.reject(err)
      }
      sent.then(
        () => { for (const p of batch) p.resolve() },
        (err: unknown) => { for (const p of batch) p.reject(err) },
      ).finally(() => {
        this.#inFlight--
        this.#schedule()
        if (this.#pending.length === 0 && this.#inFlight === 0) for (const done of this.#idle.splice(0)) done()
      })
    }
  }
}
