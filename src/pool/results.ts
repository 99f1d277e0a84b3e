/**
 * Reading results: the main thread drains the workers' response rings (when the doorbell rings,
 * from the watchdog, before a hand-off tick and when a worker is lost), matches each result to
 * its run, records its counters and settles it, exactly once.
 *
 * A response's run is the front of its worker's handle (responses come back in dispatch order,
 * worker-handle.ts), so matching costs no Map lookup. A drain reads the clock once for all the
 * results it finds, frees the worker's response space once per 64 messages (`releaseDeferred`),
 * and pumps the queue once at the end. The one copy out of shared memory is `res.bytes()`.
 *
 * @example
 * ```ts
 * const results = new Results(handles, scheduler, () => watchdog.unref())
 * results.outstanding++ // a run accepted
 * new Doorbell(() => results.drainAll())
 * ```
 */
import { AppError } from '../errors.ts'
import { DeadlineSweep, timeoutError } from './deadlines.ts'
import { RES_OK, RES_PROGRESS } from './protocol.ts'
import type { Ring } from './ring.ts'
import { decodeError, DONE, type Run } from './run.ts'
import type { Scheduler } from './scheduler.ts'
import type { WorkerHandle } from './worker-handle.ts'

/** Drains response rings and settles runs; see the file comment. */
export class Results {
  /** Runs `run()` accepted and not settled yet: it counts them in, {@link settle} counts them out. */
  outstanding = 0
  readonly #handles: ReadonlyArray<WorkerHandle<Run> | undefined>
  readonly #scheduler: Pick<Scheduler, 'pump' | 'balance'>
  readonly #onIdle: () => void

  /** `onIdle` is called each time the last outstanding run settles. */
  constructor(handles: ReadonlyArray<WorkerHandle<Run> | undefined>, scheduler: Pick<Scheduler, 'pump' | 'balance'>, onIdle: () => void) {
    this.#handles = handles
    this.#scheduler = scheduler
    this.#onIdle = onIdle
  }

  /** Reads every response ring; returns how many messages it handled. */
  drainAll(): number {
    let n = 0
    for (const h of this.#handles) if (h && !h.dead) n += this.drainWorker(h)
    if (n > 0) {
      this.#scheduler.pump()
      this.#scheduler.balance()
    }
    return n
  }

  /** Reads one worker's response ring (its results settle their runs); returns how many messages it handled. */
  drainWorker(handle: WorkerHandle<Run>): number {
    const res = handle.res
    let n = 0
    let now = 0 // read once per drain, when the first result arrives
    while (res.poll()) {
      // Free the worker's response space once per 64 messages, not per message (releaseDeferred).
      if ((++n & 63) === 0) res.publishHead()
      const kind = res.kind
      if (kind === RES_PROGRESS) {
        const front = handle.front()
        const cb = front && front.id === res.id && front.state !== DONE ? front.options?.onProgress : undefined
        if (cb) {
          const percent = res.aux // progress: aux is the percentage (protocol.ts)
          let msg = ''
          try { msg = res.text() } catch { /* lost side message: report the percentage alone */ }
          res.release()
          try { cb(percent, msg) } catch { /* a progress callback must not break the pool */ }
        } else skipSafely(res)
        continue
      }
      const run = handle.shift(res.id)
      const runUs = res.aux // a result: aux is the run time in µs (protocol.ts)
      handle.busyUs += runUs
      // The run ended: the next run (or idleness) starts now, and the worker is no longer long.
      if (now === 0) now = performance.now()
      handle.frontSince = now
      handle.long = false
      if (!run || run.state === DONE) {
        if (run) clearTimeout(run.watch?.killTimer)
        skipSafely(res)
        continue
      }
      const counters = run.meta.counters
      counters.run.record(runUs)
      // Queue wait: from run() to the result, less the run: the main queue and the worker's ring,
      // plus the result's trip back (microseconds). Measured here, the dispatch path reads no clock.
      counters.wait.record((now - run.acceptedAt) * 1000 - runUs)
      let payload: Uint8Array | string
      try {
        payload = kind === RES_OK ? res.bytes() : res.text() // the one copy out of shared memory
      } catch (e) {
        // Only a lost side-channel message can get here; never let it stop the drain loop.
        res.release()
        counters.failed++
        this.settle(run, new AppError('task_failed', 'The task result was lost in transit', { cause: e }))
        continue
      }
      res.releaseDeferred()
      if (run.deadline !== 0 && now >= run.deadline) {
        // Finished past its deadline before the sweep noticed: a deadline is a hard limit.
        counters.timedOut++
        this.settle(run, timeoutError(run))
      } else if (typeof payload !== 'string') {
        counters.ok++
        this.settle(run, payload)
      } else {
        const err = decodeError(payload)
        if (err.code === 'task_timeout') counters.timedOut++
        else if (err.code === 'client_closed') counters.canceled++
        else counters.failed++
        this.settle(run, err)
      }
    }
    res.publishHead()
    return n
  }

  /** Resolves or rejects a run exactly once and drops its timers and listeners. */
  settle(run: Run, outcome: Uint8Array | AppError): void {
    if (run.state === DONE) return
    run.state = DONE
    DeadlineSweep.release(run)
    if (--this.outstanding === 0) this.#onIdle()
    if (outcome instanceof AppError) run.reject(outcome)
    else run.resolve(outcome)
  }
}

/** Moves past the current message; a side message that got lost must not stop the drain loop. */
export function skipSafely(res: Ring): void {
  try {
    res.skip()
  } catch {
    res.release()
  }
}
