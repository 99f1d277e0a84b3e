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
import { abortReason, decodeError, DONE, IN_WORKER, QUEUED, Task, type TaskMeta } from './task.ts'
import { TaskQueue } from './queue.ts'
import { RestartBackoff } from './restarts.ts'
import type { Ring } from './ring.ts'
import { Slot } from './slot.ts'
import { TaskCounters } from './stats.ts'
import { autoNice } from './nice.ts'
import type { PoolOptions, PoolStats, RunOptions, TaskRunner } from './types.ts'
import type { WorkerEvent } from './worker.ts'

/** The worker pool; see the file comment. */
export class WorkerPool implements TaskRunner {
  readonly #opts: Required<Omit<PoolOptions, 'extraTasks' | 'log' | 'start'>> & Pick<PoolOptions, 'extraTasks' | 'log'>
  readonly #slots: Array<Slot<Task> | undefined>
  readonly #queue = new TaskQueue<Task>()
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

  constructor(options: PoolOptions) {
    this.#opts = {
      window: 1024,
      ringBytes: 1 << 18,
      graceMs: 1000,
      spinMax: 16_384,
      wake: 'message',
      ...options,
      nice: options.nice === undefined || options.nice < 0 ? autoNice(options.workers) : options.nice,
    }
    if (!(this.#opts.workers >= 1)) throw new RangeError('workers must be at least 1')
    this.#bell = new Doorbell(() => this.#drainAll(), this.#opts.wake === 'message')
    this.#slots = new Array(this.#opts.workers).fill(undefined)
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
    for (let i = 0; i < this.#opts.workers; i++) this.#spawn(i)
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
    const t = new Task(this.#nextId, meta, input, options, options?.priority ?? 0)
    this.#nextId = this.#nextId >= 0x3fffffff ? 1 : this.#nextId + 1
    if (this.#outstanding++ === 0) this.#watchdog.ref()
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
    } else if (this.#queue.size > 0 || !this.#dispatch(t)) this.#queue.push(t)
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

  /** Workers that are up and taking tasks. */
  get alive(): number {
    let n = 0
    for (const s of this.#slots) if (s && s.ready && !s.dead) n++
    return n
  }

  /** A snapshot for `GET /pool` and `/metrics`. */
  stats(): PoolStats {
    const now = performance.now()
    // A worker runs one task at a time: the rest of what it holds waits in its ring (or finished
    // with the result not read yet), and counts as queued.
    let running = 0
    let inRings = 0
    const utilization: number[] = []
    for (const s of this.#slots) {
      if (s !== undefined && s.count > 0) {
        running++
        inRings += s.count - 1
      }
      utilization.push(s ? s.utilization(now) : 0)
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
    const slot = Slot.spawn<Task>(index, {
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
      this.#pump()
      this.#balance()
    })
    worker.on('error', (err) => this.#lost(slot, err))
    worker.on('exit', (code) => this.#lost(slot, new Error(`worker exited with code ${code}`)))
  }

  /** A worker died (crash, exit, or we terminated it): recover its tasks and replace it. */
  #lost(slot: Slot<Task>, err: unknown): void {
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
      const t = requeue[i] as Task
      t.state = QUEUED
      t.slot = undefined
      this.#queue.unshift(t) // it keeps its turn: back at the front of its priority
    }
    slot.closePorts()
    if (this.#closing) {
      this.#slots[slot.index] = undefined
      this.#checkIdle()
      return
    }
    this.#restarts++
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
  #dispatch(t: Task): boolean {
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
    let best: Slot<Task> | undefined
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]
      if (s !== undefined && s.ready && !s.dead && s.count < window && (best === undefined || s.count < best.count)) best = s
    }
    return best !== undefined && this.#sendTo(best, t)
  }

  /** Writes a task into one worker's ring. False only when that ring is momentarily full of large messages. */
  #sendTo(slot: Slot<Task>, t: Task): boolean {
    const ok = typeof t.input === 'string'
      ? slot.req.writeString(REQ_QUEUED, t.id, t.meta.idx, t.input)
      : slot.req.writeBytes(REQ_QUEUED, t.id, t.meta.idx, t.input)
    if (!ok) return false
    t.pos = slot.req.lastPos
    t.slot = slot
    t.state = IN_WORKER
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
      const t = q.peek() as Task
      const signal = t.options?.signal
      if (signal !== undefined && signal.aborted) {
        // Aborted while queued and not swept yet: it must never start.
        this.#abort(t, abortReason(signal), WHY_CANCELED)
        continue
      }
      if (!this.#dispatch(t)) return
      q.pop()
    }
  }

  /** Gives idle workers the unstarted tasks of busy ones (no head-of-line blocking). */
  #balance(): void {
    if (this.#queue.size > 0) return
    for (const idle of this.#slots) {
      if (!idle || !idle.ready || idle.dead || idle.count > 0) continue
      let victim: Slot<Task> | undefined
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
        if (!this.#sendTo(idle, stolen[i] as Task)) break
      }
      for (let k = stolen.length - 1; k >= i; k--) {
        const t = stolen[k] as Task
        t.state = QUEUED
        t.slot = undefined
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
        const t = stolen[i] as Task
        t.state = QUEUED
        t.slot = undefined
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

  #drainSlot(slot: Slot<Task>): number {
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
          const pct = res.extra
          let msg = ''
          try { msg = res.text() } catch { /* lost side message: report the percentage alone */ }
          res.release()
          try { cb(pct, msg) } catch { /* a progress callback must not break the pool */ }
        } else skipSafely(res)
        continue
      }
      const t = slot.shift(res.id)
      slot.busyUs += res.extra
      if (!t || t.state === DONE) {
        if (t) clearTimeout(t.watch?.killTimer)
        skipSafely(res)
        continue
      }
      const counters = t.meta.counters
      const runUs = res.extra
      counters.run.record(runUs)
      if (now === 0) now = performance.now()
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
  #settle(t: Task, outcome: Uint8Array | AppError): void {
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

  #abort(t: Task, err: AppError, why: number): void {
    if (t.state === DONE) return
    const counted = err.code === 'task_timeout' ? 'timedOut' : 'canceled'
    if (t.state === QUEUED) {
      this.#queue.cancel(t)
      t.meta.counters[counted]++
      this.#settle(t, err)
      return
    }
    const slot = t.slot as Slot<Task>
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

  // ---------------------------------------------------------------- shutdown

  #checkIdle(): void {
    if (this.#onIdle && this.#outstanding === 0) this.#onIdle()
  }

  async #shutdown(timeoutMs: number): Promise<void> {
    this.#closing = true
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

function skipSafely(res: Ring): void {
  try {
    res.skip()
  } catch {
    res.release() // a lost side message must not stop the drain loop
  }
}
