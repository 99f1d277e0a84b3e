/**
 * Go's `golang.org/x/sync/errgroup` (`WithContext` + `SetLimit`): run async functions together,
 * the first error aborts the others through {@link ErrGroup.signal}, and `wait()` reports it once
 * every started function has settled (so nothing is still running when the caller moves on).
 *
 * Differences from Go, both because `go()` cannot block a JS caller: with a `limit`, functions
 * beyond it wait in a FIFO queue; once the group is aborted (first error, or the parent signal),
 * queued and later functions are dropped without being called. Dropped work makes `wait()` reject
 * with the abort reason, so a cancelled fan-out never looks like a complete one.
 *
 * @example
 * ```ts
 * const g = new ErrGroup({ limit: 8, signal: request.signal })
 * const results = new Array(urls.length)
 * urls.forEach((url, i) => g.go(async (signal) => { results[i] = await (await fetch(url, { signal })).json() }))
 * await g.wait() // rejects with the first error; the other fetches were aborted
 * ```
 */
import { abortReason } from './wait-list.ts'

/** Options of {@link ErrGroup}. */
export interface ErrGroupOptions {
  /** Most functions running at once (default: unlimited). */
  limit?: number
  /** Parent cancellation: aborting it aborts the group. */
  signal?: AbortSignal
}

type Task = (signal: AbortSignal) => Promise<unknown>

/** A group of async functions with first-error cancellation; see the module comment. */
export class ErrGroup {
  readonly #ctrl = new AbortController()
  readonly #limit: number
  readonly #parent: AbortSignal | undefined
  #onParentAbort: (() => void) | undefined
  #active = 0
  // Array + head index rather than shift(): a /batch of thousands of items queues in O(n).
  #queue: Task[] = []
  #queueHead = 0
  #failed = false
  #error: unknown = undefined
  #waiters: Array<{ resolve(): void; reject(err: unknown): void }> = []

  /**
   * @example
   * ```ts
   * const g = new ErrGroup({ limit: 4 })
   * ```
   */
  constructor(opts: ErrGroupOptions = {}) {
    const limit = opts.limit ?? Infinity
    if (limit !== Infinity && (!Number.isInteger(limit) || limit < 1)) throw new RangeError(`ErrGroup limit must be a positive integer, got ${limit}`)
    this.#limit = limit
    this.#parent = opts.signal
    if (opts.signal?.aborted) this.#ctrl.abort(abortReason(opts.signal))
  }

  /** Aborted on the first error (reason: that error) or when the parent signal aborts. */
  get signal(): AbortSignal {
    this.#syncParent()
    return this.#ctrl.signal
  }

  /** Functions currently running. */
  get active(): number {
    return this.#active
  }

  /** Functions waiting for a slot under `limit`. */
  get queued(): number {
    return this.#queue.length - this.#queueHead
  }

  /**
   * Starts `fn(signal)` now, or queues it when `limit` functions are running. Called after the
   * group is aborted, `fn` is not run and `wait()` will reject.
   *
   * @example
   * ```ts
   * g.go((signal) => pool.run('resize', input, { signal }))
   * ```
   */
  go(fn: (signal: AbortSignal) => Promise<unknown>): void {
    this.#syncParent()
    if (this.#ctrl.signal.aborted) {
      this.#fail(abortReason(this.#ctrl.signal))
      return
    }
    this.#attachParent()
    if (this.#active < this.#limit) this.#start(fn)
    else this.#queue.push(fn)
  }

  /**
   * Resolves when every started function has settled and none is queued; rejects with the first
   * error (or the abort reason when queued work was dropped).
   *
   * @example
   * ```ts
   * await g.wait()
   * ```
   */
  wait(): Promise<void> {
    if (this.#active === 0 && this.queued === 0) return this.#failed ? Promise.reject(this.#error) : Promise.resolve()
    return new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }))
  }

  #start(fn: Task): void {
    this.#active++
    let p: Promise<unknown>
    try {
      p = fn(this.#ctrl.signal)
    } catch (err) {
      p = Promise.reject(err)
    }
    Promise.resolve(p).then(
      () => this.#settled(),
      (err: unknown) => {
        this.#fail(err)
        this.#settled()
      },
    )
  }

  #settled(): void {
    this.#active--
    while (this.#active < this.#limit && this.#queueHead < this.#queue.length) {
      const fn = this.#queue[this.#queueHead] as Task
      this.#queue[this.#queueHead++] = undefined as unknown as Task
      this.#start(fn)
    }
    if (this.#queueHead === this.#queue.length && this.#queueHead !== 0) {
      this.#queue = []
      this.#queueHead = 0
    }
    if (this.#active === 0) this.#idle()
  }

  #fail(err: unknown): void {
    if (!this.#failed) {
      this.#failed = true
      this.#error = err
    }
    this.#ctrl.abort(err)
    this.#dropQueue()
  }

  #dropQueue(): void {
    if (this.queued === 0) return
    this.#queue = []
    this.#queueHead = 0
    // Dropped work is a failure of the group even if every started function succeeds.
    if (!this.#failed) {
      this.#failed = true
      this.#error = abortReason(this.#ctrl.signal)
    }
  }

  /** While idle the group does not listen to its parent, so it catches up on a missed abort here. */
  #syncParent(): void {
    const parent = this.#parent
    if (parent !== undefined && parent.aborted && !this.#ctrl.signal.aborted) this.#ctrl.abort(abortReason(parent))
  }

  #attachParent(): void {
    const parent = this.#parent
    if (parent === undefined || this.#onParentAbort !== undefined) return
    this.#onParentAbort = () => {
      this.#ctrl.abort(abortReason(parent))
      this.#dropQueue()
      if (this.#active === 0) this.#idle()
    }
    parent.addEventListener('abort', this.#onParentAbort, { once: true })
  }

  #idle(): void {
    // Detach from the parent while idle, so a long-lived parent signal does not collect one
    // listener per finished group.
    if (this.#onParentAbort !== undefined) {
      this.#parent?.removeEventListener('abort', this.#onParentAbort)
      this.#onParentAbort = undefined
    }
    const waiters = this.#waiters
    if (waiters.length === 0) return
    this.#waiters = []
    for (const w of waiters) {
      if (this.#failed) w.reject(this.#error)
      else w.resolve()
    }
  }
}
