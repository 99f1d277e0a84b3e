/**
 * Scheduling: which worker's ring a run is written into, and when runs move between the main
 * queue and the rings. It works on the workers' handles and rings and never touches a `Worker`
 * (supervisor.ts starts and stops those), so it runs on handles over plain rings in
 * test/pool/scheduler.test.ts. docs/pool.md#scheduling has the why of each rule:
 * - each worker holds up to `window` runs in its own SPSC request ring (pipelined throughput);
 *   the rest wait in the main priority queue, where priorities and cancellation are exact;
 * - a new run goes to the worker holding the fewest runs;
 * - no head-of-line blocking: a worker that runs dry gets unstarted runs stolen back (CAS
 *   QUEUED→STOLEN, the worker skips them) from the busiest one ({@link Scheduler.balance});
 * - a run with a priority takes every unstarted run back so it goes first ({@link Scheduler.preempt});
 * - long runs (handoff.ts): a worker marked long takes nothing, background runs (priority < 0,
 *   jobs) go to core workers only, the short lane takes short runs only, and a foreground run is
 *   never written behind unstarted background ones (`#ahead`).
 * Every run taken back from a ring returns to the queue one way: {@link Scheduler.requeueFront}.
 *
 * @example
 * ```ts
 * const scheduler = new Scheduler(handles, { core: 2, lane: 4, window: 1024 }, new BatchClock(), settle)
 * scheduler.submit(run) // into the least-loaded worker's ring, or the queue
 * scheduler.pump()      // after a result: refill the rings from the queue
 * ```
 */
import { AppError } from '../errors.ts'
import type { BatchClock } from './batch-clock.ts'
import { isShort } from './handoff.ts'
import { REQ_QUEUED } from './protocol.ts'
import { RunQueue } from './queue.ts'
import { abortReason, IN_WORKER, QUEUED, type Run } from './run.ts'
import type { WorkerHandle } from './worker-handle.ts'

/** The window while runs with priorities are coming (see {@link Scheduler}'s `#windowNow`). */
export const NARROW_WINDOW = 32
/** How long after the last run with a priority the window stays narrow (ms). */
export const NARROW_MS = 1000
/** Most runs the short lane's worker holds at once when they are picked from behind a blocked head. */
const LANE_WINDOW = 8
/** Queued runs a lane pass looks at, at most (short ones behind more than this wait their turn). */
const LANE_SCAN = 256

/** Where the scheduler may put what. */
export interface SchedulerOptions {
  /** Core workers: handles 0 … core-1; overflow workers follow (handoff.ts). */
  core: number
  /** The short lane's handle index (core + maxOverflow), -1 without hand-off. */
  lane: number
  /** Most runs one worker holds at once (PoolOptions.window). */
  window: number
}

/** Settles a run the scheduler ends itself (unknown task, aborted while queued): results.ts `settle`. */
export type Settle = (run: Run, outcome: AppError) => void

/** The main queue and the rules that move runs between it and the workers' rings. */
export class Scheduler {
  /** Runs waiting for room in a ring: one FIFO per priority. */
  readonly queue = new RunQueue<Run>()
  /** Task name → catalogue index; undefined until the first worker reported its catalogue. */
  index: Map<string, number> | undefined = undefined
  readonly #handles: ReadonlyArray<WorkerHandle<Run> | undefined>
  readonly #core: number
  readonly #lane: number
  readonly #window: number
  readonly #clock: BatchClock
  readonly #settle: Settle
  /** Until when (batch clock, ms) the window stays narrow because a run with a priority came (0: not narrow). */
  #narrowUntil = 0

  /** `handles` is the pool's array, shared: the supervisor fills and empties its places. */
  constructor(handles: ReadonlyArray<WorkerHandle<Run> | undefined>, o: SchedulerOptions, clock: BatchClock, settle: Settle) {
    this.#handles = handles
    this.#core = o.core
    this.#lane = o.lane
    this.#window = o.window
    this.#clock = clock
    this.#settle = settle
  }

  /** A run `run()` just accepted (its `acceptedAt` set): into a ring now, or into the queue. */
  submit(run: Run): void {
    if (run.priority !== 0) this.#narrowUntil = run.acceptedAt + NARROW_MS
    const queue = this.queue
    if (run.priority > 0) {
      queue.push(run)
      this.preempt()
    } else if (queue.size > 0) {
      queue.push(run)
      // The queue may hold only background runs waiting for a core worker: a foreground run
      // goes ahead of them and must not wait for the next result to be dispatched.
      if (run.priority === 0) this.pump()
    } else if (!this.dispatch(run)) queue.push(run)
  }

  /** Writes a run into the least-loaded ready worker's ring; false when none has room. */
  dispatch(run: Run): boolean {
    const meta = run.meta
    if (meta.idx < 0) {
      const index = this.index
      if (index === undefined) return false
      const idx = index.get(meta.name)
      if (idx === undefined) {
        this.#settle(run, new AppError('unknown_task', `No task is registered as '${meta.name}'`))
        return true
      }
      meta.idx = idx
    }
    // Indexed loop, no iterator: this runs once per run (bench/pool "echo/s").
    const handles = this.#handles
    const window = this.#narrowUntil === 0 ? this.#window : this.#windowNow()
    let best: WorkerHandle<Run> | undefined
    if (run.priority < 0) {
      // Background (jobs): core workers only; the overflow workers stand in for them.
      for (let i = 0; i < this.#core; i++) {
        const h = handles[i]
        if (h !== undefined && h.ready && !h.dead && !h.long && h.count < window && (best === undefined || h.count < best.count)) best = h
      }
    } else {
      const lane = this.#lane
      const n = lane < 0 ? handles.length : lane
      for (let i = 0; i < n; i++) {
        const h = handles[i]
        if (h !== undefined && h.ready && !h.dead && !h.long && h.count < window && (best === undefined || h.count < best.count)) best = h
      }
      // The short lane (handoff.ts): only when no other worker is idle, only for short runs.
      if (lane >= 0 && (best === undefined || best.count > 0)) {
        const h = handles[lane]
        if (h !== undefined && h.ready && !h.dead && !h.long && h.count < window && (best === undefined || h.count < best.count) && isShort(run)) best = h
      }
      // Background runs behind the running one (the front)? Then go ahead of them.
      if (best !== undefined && best.background > 0 && best.background > ((best.front() as Run).priority < 0 ? 1 : 0)) return this.#ahead(best, run)
    }
    return best !== undefined && this.sendTo(best, run)
  }

  /** Writes a run into one worker's ring. False only when that ring is momentarily full of large messages. */
  sendTo(handle: WorkerHandle<Run>, run: Run): boolean {
    // A request's aux word is the task's catalogue index (protocol.ts).
    const ok = typeof run.input === 'string'
      ? handle.req.writeString(REQ_QUEUED, run.id, run.meta.idx, run.input)
      : handle.req.writeBytes(REQ_QUEUED, run.id, run.meta.idx, run.input)
    if (!ok) return false
    run.pos = handle.req.lastPos
    run.handle = handle
    run.state = IN_WORKER
    // An idle worker starts this run about now (the batch clock: no clock read of its own).
    if (handle.count === 0) handle.frontSince = this.#clock.now()
    handle.push(run)
    return true
  }

  /**
   * Puts runs taken back from a worker's ring (oldest first, as `stealUnstarted` returns them),
   * from index `from` on, at the front of the queue in their order: each keeps its turn, ahead
   * of the runs of its priority that never left the queue. The one way back from a ring.
   */
  requeueFront(runs: readonly Run[], from = 0): void {
    for (let k = runs.length - 1; k >= from; k--) {
      const run = runs[k] as Run
      run.state = QUEUED
      run.handle = undefined
      this.queue.unshift(run)
    }
  }

  /** Takes a queued run out for good (its signal aborted or its deadline passed) and settles it. */
  cancelQueued(run: Run, err: AppError): void {
    this.queue.cancel(run)
    run.meta.counters[err.code === 'task_timeout' ? 'timedOut' : 'canceled']++
    this.#settle(run, err)
  }

  /** Moves queued runs into workers while they have room. */
  pump(): void {
    const queue = this.queue
    while (queue.size > 0) {
      const run = queue.peek() as Run
      const signal = run.options?.signal
      if (signal !== undefined && signal.aborted) {
        // Aborted while queued and not swept yet: it must never start.
        this.cancelQueued(run, abortReason(signal))
        continue
      }
      if (!this.dispatch(run)) {
        if (this.#lane >= 0 && this.#handles[this.#lane] !== undefined) this.#pumpLane()
        return
      }
      queue.pop()
    }
  }

  /** Gives idle workers the unstarted runs of busy ones (no head-of-line blocking). */
  balance(): void {
    if (this.queue.size > 0) return
    const handles = this.#handles
    for (const idle of handles) {
      if (!idle || !idle.ready || idle.dead || idle.long || idle.count > 0) continue
      let victim: WorkerHandle<Run> | undefined
      for (const h of handles) {
        if (h && h !== idle && !h.dead && h.count > 1 && (!victim || h.count > victim.count)) victim = h
      }
      if (!victim) return
      // Straight to the idle worker (least-loaded dispatch could hand some back to the victim,
      // behind its long run); what does not fit goes to the front of the queue.
      // Half of what it holds, newest first: all of it would make the two workers hand the
      // backlog back and forth each time one runs dry (with deep windows, ~1000 CASes a time).
      const stolen = victim.stealUnstarted(victim.count >> 1)
      let i = 0
      for (; i < stolen.length && idle.count < this.#window; i++) {
        const run = stolen[i] as Run
        // A background run goes back through the queue unless the idle worker is a core one,
        // and the short lane takes short runs only.
        if ((run.priority < 0 && idle.index >= this.#core) || (idle.index === this.#lane && !isShort(run)) || !this.sendTo(idle, run)) break
      }
      this.requeueFront(stolen, i)
      if (i < stolen.length) this.pump()
    }
  }

  /**
   * A prioritised run arrived: take the unstarted runs back from every worker's ring (CAS
   * steal) and refill the rings from the queue, highest priority first, so a priority holds even
   * with deep per-worker windows. O(runs in rings), and only for runs with priority > 0; runs
   * of equal priority keep their order (they go back to the front of their FIFO).
   */
  preempt(): void {
    for (const h of this.#handles) {
      if (!h || !h.ready || h.dead || h.count < 2) continue
      this.requeueFront(h.stealUnstarted())
    }
    this.pump()
  }

  /** The catalogue just became known: queued runs of tasks it lacks fail with unknown_task. */
  rejectUnknownQueued(): void {
    const index = this.index
    if (!index) return
    for (const run of this.queue.drain()) {
      if (index.has(run.name)) this.queue.push(run)
      else this.#settle(run, new AppError('unknown_task', `No task is registered as '${run.name}'`))
    }
  }

  /**
   * A foreground run never waits in a ring behind background runs (jobs) that have not
   * started: so a request waits behind at most the one job running (docs/jobs.md). The worker's
   * unstarted runs are taken back; the foreground ones are written back in their order, then
   * `run`; the background ones return to the queue, where every foreground run comes first (the
   * next result pumps them back in). Jobs still pipeline in the rings while no request comes.
   * False when a write fails: `run` is not written, and the foreground runs that were not either
   * go back to the queue ahead of it (a caller in pump() leaves `run` queued, behind them).
   */
  #ahead(handle: WorkerHandle<Run>, run: Run): boolean {
    const stolen = handle.stealUnstarted()
    const back: Run[] = []
    let ok = true
    for (const taken of stolen) {
      if (taken.priority < 0 || !ok) back.push(taken)
      else if (!this.sendTo(handle, taken)) {
        ok = false
        back.push(taken)
      }
    }
    if (ok) ok = this.sendTo(handle, run)
    this.requeueFront(back)
    return ok
  }

  /**
   * The head of the queue can go nowhere (every worker is long, or full): short runs queued
   * behind it may still go to the short lane, so they must not wait for the head. A bounded
   * scan: only while the lane worker is up, which is rare.
   */
  #pumpLane(): void {
    const lane = this.#handles[this.#lane] as WorkerHandle<Run>
    while (lane.ready && !lane.dead && !lane.long && lane.count < LANE_WINDOW) {
      const run = this.queue.takeFirst(isShort, LANE_SCAN)
      if (run === undefined) return
      const signal = run.options?.signal
      if (signal !== undefined && signal.aborted) {
        run.meta.counters.canceled++
        this.#settle(run, abortReason(signal))
      } else if (!this.sendTo(lane, run)) {
        this.queue.unshift(run)
        return
      }
    }
  }

  /**
   * The window while priorities are in use: at most NARROW_WINDOW, so a preempt steals back and
   * rewrites a few dozen runs per worker, not a thousand (a stream mixing priorities would
   * otherwise pay ~1000 CAS + rewrites per prioritised run). Back to the full window once no
   * run with a priority came for NARROW_MS.
   */
  #windowNow(): number {
    if (this.#clock.now() < this.#narrowUntil) return Math.min(this.#window, NARROW_WINDOW)
    this.#narrowUntil = 0
    return this.#window
  }
}
