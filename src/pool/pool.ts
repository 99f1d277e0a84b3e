/**
 * `WorkerPool`: Bun Workers fed through SharedArrayBuffer rings (ring.ts), with a main-side
 * priority queue, cancellation, deadlines, crash recovery, draining and stats.
 *
 * Scheduling (why it looks like this; docs/pool.md has the long form):
 * - Each worker holds up to `window` tasks in its own SPSC request ring, so many tasks are in
 *   flight and a worker goes from one to the next without a round trip to the main thread
 *   (pipelined throughput). Tasks beyond that wait in the main priority queue, where priorities
 *   and cancellation are exact and cheap.
 * - A new task goes to the worker holding the fewest tasks.
 * - No head-of-line blocking: whenever a worker runs dry while another still holds unstarted
 *   tasks (behind a long one), the main thread steals those back (CAS QUEUED→STOLEN on the
 *   message's state word; the worker skips stolen messages) and hands them to the idle worker.
 *   A per-worker window alone would leave them stuck; a shared multi-consumer ring would need a
 *   CAS per message on the hot path and makes variable-length wrap-around and crash recovery
 *   much harder. Stealing costs nothing until a worker is idle.
 *
 * - Long runs (handoff.ts): a worker whose run passed `longRunMs` takes no new task, its waiting
 *   tasks move to the others, and an overflow worker (at most `maxOverflow`) starts in its place,
 *   so short work keeps a path to a worker; once every worker is long, a last one, the short
 *   lane, takes only tasks with a short deadline. Background tasks (priority < 0, jobs) run only
 *   on core workers (they cannot take the overflow capacity), and a foreground task is never
 *   written behind unstarted ones (#ahead).
 *
 * Waking the main thread (it never blocks, never spins): doorbell.ts, with its ordering argument.
 * An interval, ref'd only while tasks are outstanding, keeps the process alive for them and
 * doubles as a watchdog drain.
 *
 * @example
 * ```ts
 * const pool = new WorkerPool({ workers: 2, queueLimit: 1024 })
 * const bytes = await pool.run('echo', '{"value":1}', { timeoutMs: 1000 })
 * new TextDecoder().decode(bytes) // '{"value":1}'
 * await pool.close(5000)
 * ```
 */
import { AppError } from '../errors.ts'
import type { TaskInfo } from '../tasks/types.ts'
import {
  CTL_CANCEL, CTL_CANCEL_WHY, CTL_STOP,
  REQ_QUEUED, RES_OK, RES_PROGRESS, WHY_CANCELED,
} from './protocol.ts'
import { Doorbell } from './doorbell.ts'
import { DeadlineSweep, timeoutError } from './deadlines.ts'
import { DEFAULT_LONG_RUN_MS, LINGER_MS, overflowLimit, planHandoff, SHORT_DEADLINE_MS, tickMs } from './handoff.ts'
import { abortReason, decodeError, DONE, IN_WORKER, QUEUED, Run, type TaskMeta } from './run.ts'
import { RunQueue } from './queue.ts'
import { RestartBackoff } from './restarts.ts'
import type { Ring } from './ring.ts'
import { WorkerHandle } from './worker-handle.ts'
import { TaskCounters } from './stats.ts'
import { autoNice } from './nice.ts'
import type { PoolOptions, PoolStats, RunOptions, TaskRunner } from './types.ts'
import type { WorkerEvent } from './protocol.ts'

/** The worker pool; see the file comment. */
export class WorkerPool implements TaskRunner {
  readonly #opts: Required<Omit<PoolOptions, 'extraTasks' | 'log' | 'start' | 'maxOverflow'>> & Pick<PoolOptions, 'extraTasks' | 'log'>
  readonly #slots: Array<WorkerHandle<Run> | undefined>
  readonly #queue = new RunQueue<Run>()
  readonly #bell: Doorbell
  /** Per task name: its catalog index (-1 until the catalog is known) and counters. One lookup per run. */
  readonly #meta = new Map<string, TaskMeta>()
  #catalog: TaskInfo[] = []
  #index: Map<string, number> | undefined
  readonly #sweep = new DeadlineSweep((t, err, why) => this.#abort(t, err, why))
  #nextId = 1
  #outstanding = 0
  #restarts = 0
  #closing = false
  #closed: Promise<void> | undefined
  #onIdle: (() => void) | undefined
  readonly #watchdog: ReturnType<typeof setInterval>
  readonly #backoff: RestartBackoff
  #started = false
  /**
   * performance.now() as read once per microtask batch (0: not read yet in this batch; #flush
   * clears it). A clock read costs ~45 ns here (micro-benchmark), and queue-wait stats and
   * deadlines read it per task: two reads per queued task are ~90 ns of the ~0.57 µs the main
   * thread spends per task in the pipelined echo (bench/pool "echo/s"). The value is at most one
   * batch of synchronous work old.
   */
  #clock = 0
  /** A #flush microtask is queued. */
  #flushQueued = false
  /** Until when (batch clock, ms) the window stays narrow because a task with a priority came (0: not narrow). */
  #narrowUntil = 0
  /** Core workers (`workers`): slots 0 … core-1; overflow slots follow (handoff.ts). */
  readonly #core: number
  /** Most overflow workers at once. */
  readonly #maxOverflow: number
  /** The short lane's slot (core + maxOverflow), -1 without hand-off. */
  readonly #lane: number
  /** Overflow workers that die before they are ready back off like core ones (restarts.ts). */
  readonly #overflowBackoff = new RestartBackoff(1)
  /** No overflow worker is started before this time (ms, performance.now). */
  #overflowNotBefore = 0
  /** The handoff timer, pending while the pool has work or overflow workers (undefined: none). */
  #handoffTimer: ReturnType<typeof setTimeout> | undefined

  constructor(options: PoolOptions) {
    this.#opts = {
      window: 1024,
      ringBytes: 1 << 18,
      graceMs: 1000,
      spinMax: 16_384,
      wake: 'message',
      longRunMs: DEFAULT_LONG_RUN_MS,
      lingerMs: LINGER_MS,
      ...options,
      nice: options.nice === undefined || options.nice < 0 ? autoNice(options.workers) : options.nice,
    }
    if (!(this.#opts.workers >= 1)) throw new RangeError('workers must be at least 1')
    this.#core = this.#opts.workers
    // No hand-off at all without a threshold: then no overflow worker either.
    this.#maxOverflow = this.#opts.longRunMs > 0 ? overflowLimit(options.maxOverflow ?? -1, this.#core) : 0
    this.#lane = this.#opts.longRunMs > 0 ? this.#core + this.#maxOverflow : -1
    this.#bell = new Doorbell(() => this.#drainAll(), this.#opts.wake === 'message')
    this.#slots = new Array(this.#core + this.#maxOverflow + (this.#lane < 0 ? 0 : 1)).fill(undefined)
    this.#backoff = new RestartBackoff(this.#opts.workers)
    // Also re-pumps: a ring can be momentarily full of requests stolen back (which the worker
    // skips without answering, so no result triggers a pump), and queued tasks must not wait on
    // a result that never comes.
    this.#watchdog = setInterval(() => {
      this.#drainAll()
      if (this.#queue.size > 0) this.#pump()
    }, 250)
    this.#watchdog.unref()
    this.#bell.start()
    if (options.start !== false) this.start()
  }

  /**
   * Spawns the workers (once; a no-op when they are started or the pool is closing). They start in
   * the background: `run()` queues until one reports ready.
   *
   * @example
   * ```ts
   * const pool = new WorkerPool({ workers: 2, queueLimit: 1024, start: false })
   * Bun.serve({ port: 3000, fetch }) // listen first
   * pool.start()
   * ```
   */
  start(): void {
    if (this.#started || this.#closing) return
    this.#started = true
    for (let i = 0; i < this.#core; i++) this.#spawn(i)
  }

  // ---------------------------------------------------------------- public API

  /** Runs `task` with JSON `input` and resolves with the result's JSON bytes. */
  run(task: string, input: string | Uint8Array, options?: RunOptions): Promise<Uint8Array> {
    if (this.#closing) return Promise.reject(new AppError('pool_closed'))
    // One Map lookup gives the catalog index and the counters (three lookups before: ~3 % of
    // the main thread in the pipelined echo profile, bench/pool "echo/s").
    let meta = this.#meta.get(task)
    if (meta === undefined || meta.idx < 0) {
      meta = this.#metaOf(task)
      if (meta === undefined) return Promise.reject(new AppError('unknown_task', `No task is registered as '${task}'`))
    }
    const signal = options?.signal
    if (signal !== undefined && signal.aborted) return Promise.reject(abortReason(signal))
    // Tasks accepted and not finished, less one running per worker: what waits to start, in the
    // main queue or in a worker's ring. Counting the rings too keeps QUEUE_LIMIT a bound on
    // waiting work whatever the window (the main queue alone let window × workers more in).
    if (this.#outstanding - this.#opts.workers >= this.#opts.queueLimit) {
      return Promise.reject(new AppError('queue_full', 'The worker pool queue is full', { retryAfter: 1 }))
    }
    const t = new Run(this.#nextId, meta, input, options, options?.priority ?? 0)
    this.#nextId = this.#nextId >= 0x3fffffff ? 1 : this.#nextId + 1
    if (this.#outstanding++ === 0) {
      this.#watchdog.ref()
      if (this.#handoffTimer === undefined) this.#armHandoff()
    }
    t.acceptedAt = this.#now()
    const timeoutMs = options?.timeoutMs
    const timed = timeoutMs !== undefined && timeoutMs > 0 && Number.isFinite(timeoutMs)
    if (signal !== undefined || timed) {
      // No abort listener and no setTimeout per task: the task joins the deadline sweep, which
      // polls `signal.aborted` and the deadline every SWEEP_MS and arms a listener and a timer
      // only for tasks that outlive it. A listener plus a timer per task cut pipelined echo with
      // a signal and timeoutMs from 1.65 M/s to 0.42 M/s (bench/pool "echo/s, signal+timeout").
      if (timed) t.deadline = t.acceptedAt + (timeoutMs as number)
      this.#sweep.watch(t)
    }
    if (t.priority !== 0) this.#narrowUntil = t.acceptedAt + NARROW_MS
    if (t.priority > 0) {
      this.#queue.push(t)
      this.#preempt()
    } else if (this.#queue.size > 0) {
      this.#queue.push(t)
      // The queue may hold only background tasks waiting for a core worker: a foreground task
      // goes ahead of them and must not wait for the next result to be dispatched.
      if (t.priority === 0) this.#pump()
    } else if (!this.#dispatch(t)) this.#queue.push(t)
    return t.promise
  }

  /** The tasks the workers reported (empty until the first worker is ready). */
  catalog(): readonly TaskInfo[] {
    return this.#catalog
  }

  /** How workers wake the parked main thread (the `wake` option, `POOL_WAKE`). */
  get wake(): 'message' | 'waitAsync' {
    return this.#opts.wake
  }

  /** Core workers (of `workers`) that are up and taking tasks; overflow workers are in `stats().overflow`. */
  get alive(): number {
    let n = 0
    for (let i = 0; i < this.#core; i++) {
      const s = this.#slots[i]
      if (s && s.ready && !s.dead) n++
    }
    return n
  }

  /** A snapshot for `GET /pool` and `/metrics`. */
  stats(): PoolStats {
    const now = performance.now()
    // A worker runs one task at a time: the rest of what it holds waits in its ring (or finished
    // with the result not read yet), and counts as queued.
    let running = 0
    let inRings = 0
    let overflow = 0
    let longRuns = 0
    const utilization: number[] = []
    const slots = this.#slots
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]
      if (s !== undefined && s.count > 0) {
        running++
        inRings += s.count - 1
      }
      if (s !== undefined && !s.dead) {
        if (i >= this.#core && s.ready) overflow++
        if (s.long) longRuns++
      }
      // Per core worker: overflow workers come and go, their series would too.
      if (i < this.#core) utilization.push(s ? s.utilization(now) : 0)
    }
    const tasks: PoolStats['tasks'] = {}
    for (const [name, m] of this.#meta) tasks[name] = m.counters.snapshot()
    return {
      workers: this.#opts.workers,
      alive: this.alive,
      queued: this.#queue.size + inRings,
      running,
      queueLimit: this.#opts.queueLimit,
      utilization,
      restarts: this.#restarts,
      overflow,
      longRuns,
      tasks,
    }
  }

  /**
   * Drains and stops: new runs fail with `pool_closed`; queued and running tasks may finish
   * within `timeoutMs`, after which they fail with `pool_closed`; then every worker exits.
   */
  close(timeoutMs = 5000): Promise<void> {
    this.#closed ??= this.#shutdown(timeoutMs)
    return this.#closed
  }

  // ---------------------------------------------------------------- workers

  #spawn(index: number): void {
    const slot = WorkerHandle.spawn<Run>(index, {
      ringBytes: this.#opts.ringBytes,
      spinMax: this.#opts.spinMax,
      bell: this.#bell.sab,
      ...(this.#bell.viaMessage ? { onBell: this.#ring } : {}),
      nice: this.#opts.nice,
      ...(this.#opts.extraTasks ? { extraTasks: String(this.#opts.extraTasks) } : {}),
    })
    const worker = slot.worker
    this.#slots[index] = slot
    worker.on('message', (m: WorkerEvent) => {
      // Bun 1.4.5 re-refs a worker when one of its messages arrives: unref again, or a pool
      // left open would keep the process alive (tested in pool.test.ts).
      worker.unref()
      if (m.t !== 'ready' || slot.dead) return
      if (this.#index === undefined) {
        this.#catalog = m.catalog
        this.#index = new Map(m.catalog.map((t, i) => [t.name, i]))
        for (const [name, meta] of this.#meta) meta.idx = this.#index.get(name) ?? -1
        this.#rejectUnknownQueued()
      }
      slot.ready = true
      slot.startedAt = performance.now()
      slot.frontSince = slot.startedAt
      this.#pump()
      this.#balance()
    })
    worker.on('error', (err) => this.#lost(slot, err))
    worker.on('exit', (code) => this.#lost(slot, new Error(`worker exited with code ${code}`)))
  }

  /** A worker died (crash, exit, or we terminated it): recover its tasks and replace it. */
  #lost(slot: WorkerHandle<Run>, err: unknown): void {
    if (slot.dead) return
    const wasReady = slot.ready
    slot.dead = true
    slot.ready = false
    void slot.worker.terminate()
    // Results it published before dying are valid: read them first.
    this.#drainSlot(slot)
    const requeue = slot.stealUnstarted()
    for (const t of slot.takeAll()) {
      if (t.state === DONE) {
        clearTimeout(t.watch?.killTimer)
        continue
      }
      t.meta.counters.failed++
      this.#settle(t, new AppError('worker_crashed', `The worker running task '${t.name}' crashed`, { cause: err }))
    }
    for (let i = requeue.length - 1; i >= 0; i--) {
      const t = requeue[i] as Run
      t.state = QUEUED
      t.handle = undefined
      this.#queue.unshift(t) // it keeps its turn: back at the front of its priority
    }
    slot.closePorts()
    if (this.#closing) {
      this.#slots[slot.index] = undefined
      this.#checkIdle()
      return
    }
    this.#restarts++
    if (slot.index >= this.#core) {
      // An overflow worker is not replaced: the next hand-off tick starts one if still needed,
      // not before a backoff if it died before it was ready (no spawn loop every tick).
      this.#overflowNotBefore = performance.now() + this.#overflowBackoff.next(wasReady)
      this.#opts.log?.warn({ worker: slot.index, err: String(err) }, 'pool overflow worker lost')
      this.#slots[slot.index] = undefined
      this.#pump()
      return
    }
    this.#opts.log?.warn({ worker: slot.index, err: String(err) }, 'pool worker lost; replacing it')
    if (!wasReady && this.alive === 0) {
      // A worker that dies before it is ready (a broken entrypoint or task module) would make
      // queued tasks wait forever: fail them now; later ones wait for the retried workers.
      for (const t of this.#queue.drain()) {
        t.meta.counters.failed++
        this.#settle(t, new AppError('worker_crashed', `No pool worker could start: ${String(err)}`))
      }
    }
    const delay = this.#backoff.next(wasReady)
    if (delay === 0) this.#spawn(slot.index)
    else {
      this.#slots[slot.index] = undefined
      const timer = setTimeout(() => { if (!this.#closing) this.#spawn(slot.index) }, delay)
      timer.unref()
    }
    this.#pump()
  }

  // ---------------------------------------------------------------- dispatch

  /** Writes a task into the least-loaded ready worker's ring; false when none has room. */
  #dispatch(t: Run): boolean {
    const meta = t.meta
    if (meta.idx < 0) {
      const index = this.#index
      if (index === undefined) return false
      const idx = index.get(meta.name)
      if (idx === undefined) {
        this.#settle(t, new AppError('unknown_task', `No task is registered as '${meta.name}'`))
        return true
      }
      meta.idx = idx
    }
    // Indexed loop, no iterator: this runs once per task (bench/pool "echo/s").
    const slots = this.#slots
    const window = this.#narrowUntil === 0 ? this.#opts.window : this.#window()
    let best: WorkerHandle<Run> | undefined
    if (t.priority < 0) {
      // Background (jobs): core workers only; the overflow workers stand in for them.
      for (let i = 0; i < this.#core; i++) {
        const s = slots[i]
        if (s !== undefined && s.ready && !s.dead && !s.long && s.count < window && (best === undefined || s.count < best.count)) best = s
      }
    } else {
      const lane = this.#lane
      const n = lane < 0 ? slots.length : lane
      for (let i = 0; i < n; i++) {
        const s = slots[i]
        if (s !== undefined && s.ready && !s.dead && !s.long && s.count < window && (best === undefined || s.count < best.count)) best = s
      }
      // The short lane (handoff.ts): only when no other worker is idle, only for short tasks.
      if (lane >= 0 && (best === undefined || best.count > 0)) {
        const s = slots[lane]
        if (s !== undefined && s.ready && !s.dead && !s.long && s.count < window && (best === undefined || s.count < best.count) && isShort(t)) best = s
      }
      // Background tasks behind the running one (the front)? Then go ahead of them.
      if (best !== undefined && best.background > 0 && best.background > ((best.front() as Run).priority < 0 ? 1 : 0)) return this.#ahead(best, t)
    }
    return best !== undefined && this.#sendTo(best, t)
  }

  /**
   * A foreground task never waits in a ring behind background tasks (jobs) that have not
   * started: so a request waits behind at most the one job running (docs/jobs.md). The worker's
   * unstarted tasks are taken back; the foreground ones are written back in their order, then
   * `t`; the background ones return to the queue, where every foreground task comes first (the
   * next result pumps them back in). Jobs still pipeline in the rings while no request comes.
   * False when a write fails: `t` is not written, and the foreground tasks that were not either
   * go back to the queue ahead of it (a caller in #pump leaves `t` queued, behind them).
   */
  #ahead(slot: WorkerHandle<Run>, t: Run): boolean {
    const stolen = slot.stealUnstarted()
    const back: Run[] = []
    let ok = true
    for (const s of stolen) {
      if (s.priority < 0 || !ok) back.push(s)
      else if (!this.#sendTo(slot, s)) {
        ok = false
        back.push(s)
      }
    }
    if (ok) ok = this.#sendTo(slot, t)
    for (let i = back.length - 1; i >= 0; i--) {
      const b = back[i] as Run
      b.state = QUEUED
      b.handle = undefined
      this.#queue.unshift(b) // they keep their turn
    }
    return ok
  }

  /** Writes a task into one worker's ring. False only when that ring is momentarily full of large messages. */
  #sendTo(slot: WorkerHandle<Run>, t: Run): boolean {
    const ok = typeof t.input === 'string'
      ? slot.req.writeString(REQ_QUEUED, t.id, t.meta.idx, t.input)
      : slot.req.writeBytes(REQ_QUEUED, t.id, t.meta.idx, t.input)
    if (!ok) return false
    t.pos = slot.req.lastPos
    t.handle = slot
    t.state = IN_WORKER
    // An idle worker starts this task about now (the batch clock: no clock read of its own).
    if (slot.count === 0) slot.frontSince = this.#now()
    slot.push(t)
    return true
  }

  /**
   * The window while priorities are in use: at most NARROW_WINDOW, so a preempt steals back and
   * rewrites a few dozen tasks per worker, not a thousand (a stream mixing priorities would
   * otherwise pay ~1000 CAS + rewrites per prioritised task). Back to the full window once no
   * task with a priority came for NARROW_MS.
   */
  #window(): number {
    if (this.#now() < this.#narrowUntil) return Math.min(this.#opts.window, NARROW_WINDOW)
    this.#narrowUntil = 0
    return this.#opts.window
  }

  /** A worker rang the doorbell (message mode). */
  readonly #ring = (): void => this.#bell.ring()

  /** The batch clock (see #clock). */
  #now(): number {
    if (this.#clock !== 0) return this.#clock
    this.#clock = performance.now()
    if (!this.#flushQueued) {
      this.#flushQueued = true
      queueMicrotask(this.#flush)
    }
    return this.#clock
  }

  /** End of a microtask batch: forget the batch clock. */
  readonly #flush = (): void => {
    this.#flushQueued = false
    this.#clock = 0
  }

  /** Moves queued tasks into workers while they have room. */
  #pump(): void {
    const q = this.#queue
    while (q.size > 0) {
      const t = q.peek() as Run
      const signal = t.options?.signal
      if (signal !== undefined && signal.aborted) {
        // Aborted while queued and not swept yet: it must never start.
        this.#abort(t, abortReason(signal), WHY_CANCELED)
        continue
      }
      if (!this.#dispatch(t)) {
        if (this.#lane >= 0 && this.#slots[this.#lane] !== undefined) this.#pumpLane()
        return
      }
      q.pop()
    }
  }

  /**
   * The head of the queue can go nowhere (every worker is long, or full): short tasks queued
   * behind it may still go to the short lane, so they must not wait for the head. A bounded
   * scan: only while the lane worker is up, which is rare.
   */
  #pumpLane(): void {
    const lane = this.#slots[this.#lane] as WorkerHandle<Run>
    while (lane.ready && !lane.dead && !lane.long && lane.count < LANE_WINDOW) {
      const t = this.#queue.takeFirst(isShort, LANE_SCAN)
      if (t === undefined) return
      const signal = t.options?.signal
      if (signal !== undefined && signal.aborted) {
        t.meta.counters.canceled++
        this.#settle(t, abortReason(signal))
      } else if (!this.#sendTo(lane, t)) {
        this.#queue.unshift(t)
        return
      }
    }
  }

  /** Gives idle workers the unstarted tasks of busy ones (no head-of-line blocking). */
  #balance(): void {
    if (this.#queue.size > 0) return
    for (const idle of this.#slots) {
      if (!idle || !idle.ready || idle.dead || idle.long || idle.count > 0) continue
      let victim: WorkerHandle<Run> | undefined
      for (const s of this.#slots) {
        if (s && s !== idle && !s.dead && s.count > 1 && (!victim || s.count > victim.count)) victim = s
      }
      if (!victim) return
      // Straight to the idle worker (least-loaded dispatch could hand some back to the victim,
      // behind its long task); what does not fit goes to the front of the queue.
      // Half of what it holds, newest first: all of it would make the two workers hand the
      // backlog back and forth each time one runs dry (with deep windows, ~1000 CASes a time).
      const stolen = victim.stealUnstarted(victim.count >> 1)
      let i = 0
      for (; i < stolen.length && idle.count < this.#opts.window; i++) {
        const t = stolen[i] as Run
        // A background task goes back through the queue unless the idle worker is a core one,
        // and the short lane takes short tasks only.
        if ((t.priority < 0 && idle.index >= this.#core) || (idle.index === this.#lane && !isShort(t)) || !this.#sendTo(idle, t)) break
      }
      for (let k = stolen.length - 1; k >= i; k--) {
        const t = stolen[k] as Run
        t.state = QUEUED
        t.handle = undefined
        this.#queue.unshift(t)
      }
      if (i < stolen.length) this.#pump()
    }
  }

  /**
   * A prioritised task arrived: take the unstarted tasks back from every worker's ring (CAS
   * steal) and refill the rings from the queue, highest priority first, so a priority holds even
   * with deep per-worker windows. O(tasks in rings), and only for tasks with priority > 0; tasks
   * of equal priority keep their order (they go back to the front of their FIFO).
   */
  #preempt(): void {
    for (const s of this.#slots) {
      if (!s || !s.ready || s.dead || s.count < 2) continue
      const stolen = s.stealUnstarted()
      for (let i = stolen.length - 1; i >= 0; i--) {
        const t = stolen[i] as Run
        t.state = QUEUED
        t.handle = undefined
        this.#queue.unshift(t)
      }
    }
    this.#pump()
  }

  #rejectUnknownQueued(): void {
    const index = this.#index
    if (!index) return
    for (const t of this.#queue.drain()) {
      if (index.has(t.name)) this.#queue.push(t)
      else this.#settle(t, new AppError('unknown_task', `No task is registered as '${t.name}'`))
    }
  }

  // ---------------------------------------------------------------- responses

  /** Reads every response ring; returns how many messages it handled. */
  #drainAll(): number {
    let n = 0
    for (const s of this.#slots) if (s && !s.dead) n += this.#drainSlot(s)
    if (n > 0) {
      this.#pump()
      this.#balance()
    }
    return n
  }

  #drainSlot(slot: WorkerHandle<Run>): number {
    const res = slot.res
    let n = 0
    let now = 0 // read once per drain, when the first result arrives
    while (res.poll()) {
      // Free the worker's response space once per 64 messages, not per message (releaseDeferred).
      if ((++n & 63) === 0) res.publishHead()
      const kind = res.kind
      if (kind === RES_PROGRESS) {
        const t = slot.front()
        const cb = t && t.id === res.id && t.state !== DONE ? t.options?.onProgress : undefined
        if (cb) {
          const pct = res.aux
          let msg = ''
          try { msg = res.text() } catch { /* lost side message: report the percentage alone */ }
          res.release()
          try { cb(pct, msg) } catch { /* a progress callback must not break the pool */ }
        } else skipSafely(res)
        continue
      }
      const t = slot.shift(res.id)
      slot.busyUs += res.aux
      // The run ended: the next task (or idleness) starts now, and the worker is no longer long.
      if (now === 0) now = performance.now()
      slot.frontSince = now
      slot.long = false
      if (!t || t.state === DONE) {
        if (t) clearTimeout(t.watch?.killTimer)
        skipSafely(res)
        continue
      }
      const counters = t.meta.counters
      const runUs = res.aux
      counters.run.record(runUs)
      // Queue wait: from run() to the result, less the run: the main queue and the worker's ring,
      // plus the result's trip back (microseconds). Measured here, the dispatch path reads no clock.
      counters.wait.record((now - t.acceptedAt) * 1000 - runUs)
      let payload: Uint8Array | string
      try {
        payload = kind === RES_OK ? res.bytes() : res.text() // the one copy out of shared memory
      } catch (e) {
        // Only a lost side-channel message can get here; never let it stop the drain loop.
        res.release()
        counters.failed++
        this.#settle(t, new AppError('task_failed', 'The task result was lost in transit', { cause: e }))
        continue
      }
      res.releaseDeferred()
      if (t.deadline !== 0 && now >= t.deadline) {
        // Finished past its deadline before the sweep noticed: a deadline is a hard limit.
        counters.timedOut++
        this.#settle(t, timeoutError(t))
      } else if (typeof payload !== 'string') {
        counters.ok++
        this.#settle(t, payload)
      } else {
        const err = decodeError(payload)
        if (err.code === 'task_timeout') counters.timedOut++
        else if (err.code === 'client_closed') counters.canceled++
        else counters.failed++
        this.#settle(t, err)
      }
    }
    res.publishHead()
    return n
  }

  /** Resolves or rejects a task exactly once and drops its timers and listeners. */
  #settle(t: Run, outcome: Uint8Array | AppError): void {
    if (t.state === DONE) return
    t.state = DONE
    DeadlineSweep.release(t)
    if (--this.#outstanding === 0) {
      this.#watchdog.unref()
      this.#checkIdle()
    }
    if (outcome instanceof AppError) t.reject(outcome)
    else t.resolve(outcome)
  }

  // ---------------------------------------------------------------- cancel, timeout

  #abort(t: Run, err: AppError, why: number): void {
    if (t.state === DONE) return
    const counted = err.code === 'task_timeout' ? 'timedOut' : 'canceled'
    if (t.state === QUEUED) {
      this.#queue.cancel(t)
      t.meta.counters[counted]++
      this.#settle(t, err)
      return
    }
    const slot = t.handle as WorkerHandle<Run>
    if (slot.req.steal(t.pos, t.id)) {
      slot.remove(t) // never started
      t.meta.counters[counted]++
      this.#settle(t, err)
      this.#pump()
      return
    }
    // Running (or finished, result not read yet): tell the task, answer the caller now, and
    // replace the worker if the task ignores its signal past the grace period.
    Atomics.store(slot.ctl, CTL_CANCEL_WHY, why)
    Atomics.store(slot.ctl, CTL_CANCEL, t.id)
    try {
      slot.worker.postMessage({ t: 'cancel', id: t.id, why })
      slot.worker.unref()
    } catch { /* a dead worker is handled by #lost */ }
    t.meta.counters[counted]++
    this.#settle(t, err)
    const killTimer = setTimeout(() => {
      this.#drainSlot(slot)
      if (!slot.dead && slot.front() === t) this.#lost(slot, new Error(`task '${t.name}' ignored its cancellation`))
    }, this.#opts.graceMs)
    killTimer.unref()
    ;(t.watch ??= { swept: 2, timer: undefined, killTimer: undefined, onAbort: undefined }).killTimer = killTimer
  }

  // ---------------------------------------------------------------- long runs (handoff.ts)

  /** Starts the hand-off timer chain (the caller checked none is pending). */
  #armHandoff(): void {
    if (this.#opts.longRunMs <= 0 || this.#closing) return
    this.#handoffTimer = setTimeout(this.#handoff, tickMs(this.#opts.longRunMs))
    // Outstanding tasks keep the process alive through the watchdog, not through this timer.
    this.#handoffTimer.unref()
  }

  /** One hand-off tick: find long runs, move the tasks waiting behind them, start or stop overflow workers. */
  readonly #handoff = (): void => {
    this.#handoffTimer = undefined
    if (this.#closing) return
    try {
      this.#planHandoff()
    } finally {
      // Re-armed whatever happened: run() arms only when the pool goes from idle to busy, so a
      // chain that stopped while tasks are outstanding would never restart.
      let overflow = false
      for (let i = this.#core; i < this.#slots.length; i++) if (this.#slots[i] !== undefined) overflow = true
      if (this.#outstanding > 0 || overflow) this.#armHandoff()
    }
  }

  #planHandoff(): void {
    if (!this.#started) return
    // A run whose result is already waiting is not long: read the results first.
    this.#drainAll()
    const slots = this.#slots
    const plan = planHandoff(slots, { core: this.#core, maxOverflow: this.#maxOverflow, longRunMs: this.#opts.longRunMs, lingerMs: this.#opts.lingerMs, lane: this.#lane >= 0 }, performance.now())
    for (const s of plan.long) {
      s.long = true
      const stolen = s.stealUnstarted()
      for (let i = stolen.length - 1; i >= 0; i--) {
        const t = stolen[i] as Run
        t.state = QUEUED
        t.handle = undefined
        this.#queue.unshift(t) // they keep their turn
      }
    }
    for (const s of plan.retire) {
      // Idle (count 0) and taking nothing: nothing is lost by terminating it; its exit event
      // finds it dead and does nothing.
      s.dead = true
      s.ready = false
      slots[s.index] = undefined
      void s.worker.terminate()
      s.closePorts()
    }
    if (plan.spawn.length > 0 && performance.now() >= this.#overflowNotBefore) {
      for (const i of plan.spawn) {
        try {
          this.#spawn(i)
        } catch (err) {
          // Out of threads or memory: short work waits as it would without a hand-off.
          this.#overflowNotBefore = performance.now() + this.#overflowBackoff.next(false)
          this.#opts.log?.warn({ worker: i, err: String(err) }, 'pool overflow worker could not start')
          break
        }
      }
    }
    if (plan.long.length > 0) this.#pump()
  }

  // ---------------------------------------------------------------- shutdown

  #checkIdle(): void {
    if (this.#onIdle && this.#outstanding === 0) this.#onIdle()
  }

  async #shutdown(timeoutMs: number): Promise<void> {
    this.#closing = true
    clearTimeout(this.#handoffTimer)
    if (this.#outstanding > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await new Promise<void>((resolve) => {
        this.#onIdle = resolve
        timer = setTimeout(resolve, timeoutMs)
      })
      clearTimeout(timer)
      this.#onIdle = undefined
    }
    const closed = new AppError('pool_closed', 'The worker pool closed before the task finished')
    for (const t of this.#queue.drain()) this.#settle(t, closed)
    const exits: Array<Promise<unknown>> = []
    for (const s of this.#slots) {
      if (!s) continue
      const busy = s.takeAll()
      for (const t of busy) this.#settle(t, closed)
      if (s.dead) continue
      if (busy.length > 0) {
        // Past the drain bound and still running: do not wait for the task to notice.
        s.dead = true
        exits.push(s.worker.terminate())
        continue
      }
      exits.push(new Promise((resolve) => s.worker.once('exit', resolve)))
      Atomics.store(s.ctl, CTL_STOP, 1)
      s.req.wake()
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([Promise.all(exits), new Promise((r) => { timer = setTimeout(r, 1000) })])
    clearTimeout(timer)
    for (const s of this.#slots) if (s && !s.dead) { s.dead = true; await s.worker.terminate() }
    for (const s of this.#slots) s?.closePorts()
    clearInterval(this.#watchdog)
    this.#bell.stop()
  }

  /**
   * The slow path of run()'s lookup: a name seen for the first time, or one not resolved against
   * the catalog yet. Undefined when the catalog is known and lacks it.
   */
  #metaOf(name: string): TaskMeta | undefined {
    const index = this.#index
    const idx = index === undefined ? -1 : index.get(name)
    if (idx === undefined) return undefined
    let meta = this.#meta.get(name)
    if (meta === undefined) {
      meta = { name, idx, counters: new TaskCounters() }
      // Once the catalog is known only its names get here; before that, cap the map.
      if (this.#meta.size < 1000) this.#meta.set(name, meta)
    }
    meta.idx = idx
    return meta
  }
}

/** The window while tasks with priorities are coming (see WorkerPool's #window). */
const NARROW_WINDOW = 32
/** How long after the last task with a priority the window stays narrow. */
const NARROW_MS = 1000

/** Most tasks the short lane's worker holds at once when they are picked from behind a blocked head. */
const LANE_WINDOW = 8
/** Queued tasks a lane pass looks at, at most (short ones behind more than this wait their turn). */
const LANE_SCAN = 256

/**
 * A task the short lane takes: one whose `timeoutMs` is at most SHORT_DEADLINE_MS (handoff.ts).
 * Read from the options, not as `deadline - acceptedAt`: that difference of two floats can come
 * out a hair above the timeout it was made from.
 */
function isShort(t: Run): boolean {
  const ms = t.options?.timeoutMs
  return ms !== undefined && ms > 0 && ms <= SHORT_DEADLINE_MS
}

function skipSafely(res: Ring): void {
  try {
    res.skip()
  } catch {
    res.release() // a lost side message must not stop the drain loop
  }
}
