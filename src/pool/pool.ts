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
  REQ_QUEUED, RES_OK, RES_PROGRESS, WHY_CANCELED, WHY_TIMEOUT,
} from './protocol.ts'
import { Doorbell } from './doorbell.ts'
import { abortReason, decodeError, DONE, IN_WORKER, QUEUED, Task } from './task.ts'
import { TaskQueue } from './queue.ts'
import type { Ring } from './ring.ts'
import { Slot } from './slot.ts'
import { TaskCounters } from './stats.ts'
import type { PoolStats, RunOptions, TaskRunner } from './types.ts'
import type { WorkerEvent } from './worker.ts'

/** Settings of a {@link WorkerPool}. */
export interface PoolOptions {
  /** Worker threads (config.workers). */
  workers: number
  /** Tasks waiting in the main queue before `run` rejects with `queue_full` (config.queueLimit). */
  queueLimit: number
  /** Most tasks one worker holds at once (in its ring plus the running one). Default 128. */
  window?: number
  /** Bytes of each request and response ring (a power of two). Default 256 KiB. */
  ringBytes?: number
  /** How long a canceled or timed-out task may keep running before its worker is replaced. Default 1000 ms. */
  graceMs?: number
  /**
   * Most Atomics.load iterations an idle worker spins before it parks (the spin adapts between
   * 64 and this). Spinning saves the main thread a futex wake per batch; past a point it only
   * burns a core. Default 16 384.
   */
  spinMax?: number
  /**
   * How a worker wakes the parked main thread: a one-number `postMessage` (default; p50 round
   * trip ~10 µs here) or `Atomics.notify` on a word the main thread awaits with
   * `Atomics.waitAsync` (~19 µs: its wake-up goes a slower way through Bun's event loop).
   * Both keep one notification per sleep (see doorbell.ts).
   */
  wake?: 'message' | 'waitAsync'
  /** Module URL exporting `TASKS`, loaded into workers besides the registry (tests only). */
  extraTasks?: URL | string
  /** Where restarts and crashes are reported. */
  log?: { warn(obj: object, msg: string): void }
  /**
   * `false`: no worker starts until {@link WorkerPool.start} is called (tasks queue meanwhile).
   * The server spawns its workers only once it listens, so their start-up does not compete with
   * its own for the CPU (docs/operations.md#startup). Default `true`: workers start at once.
   */
  start?: boolean
}


/** The worker pool; see the file comment. */
export class WorkerPool implements TaskRunner {
  readonly #opts: Required<Omit<PoolOptions, 'extraTasks' | 'log' | 'start'>> & Pick<PoolOptions, 'extraTasks' | 'log'>
  readonly #slots: Array<Slot<Task> | undefined>
  readonly #queue = new TaskQueue<Task>()
  readonly #bell: Doorbell
  readonly #counters = new Map<string, TaskCounters>()
  #catalog: TaskInfo[] = []
  #index: Map<string, number> | undefined
  #nextId = 1
  #outstanding = 0
  #restarts = 0
  #closing = false
  #closed: Promise<void> | undefined
  #onIdle: (() => void) | undefined
  readonly #watchdog: ReturnType<typeof setInterval>
  readonly #crashes: number[] = []
  #startFailures = 0
  #started = false

  constructor(options: PoolOptions) {
    this.#opts = {
      window: 128,
      ringBytes: 1 << 18,
      graceMs: 1000,
      spinMax: 16_384,
      wake: 'message',
      ...options,
    }
    if (!(this.#opts.workers >= 1)) throw new RangeError('workers must be at least 1')
    this.#bell = new Doorbell(() => this.#drainAll(), this.#opts.wake === 'message')
    this.#slots = new Array(this.#opts.workers).fill(undefined)
    this.#watchdog = setInterval(() => this.#drainAll(), 250)
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
    if (this.#index !== undefined && !this.#index.has(task)) {
      return Promise.reject(new AppError('unknown_task', `No task is registered as '${task}'`))
    }
    const signal = options?.signal
    if (signal?.aborted) return Promise.reject(abortReason(signal))
    if (this.#queue.size >= this.#opts.queueLimit) {
      return Promise.reject(new AppError('queue_full', 'The worker pool queue is full', { retryAfter: 1 }))
    }
    const t = new Task(this.#nextId, task, input, options, this.#countersOf(task), performance.now())
    this.#nextId = this.#nextId >= 0x3fffffff ? 1 : this.#nextId + 1
    if (this.#outstanding++ === 0) this.#watchdog.ref()
    if (signal) {
      t.onAbort = () => this.#abort(t, abortReason(signal), WHY_CANCELED)
      signal.addEventListener('abort', t.onAbort, { once: true })
    }
    const timeoutMs = options?.timeoutMs
    if (timeoutMs !== undefined && timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      t.timer = setTimeout(() => {
        this.#abort(t, new AppError('task_timeout', `Task '${task}' did not finish within ${timeoutMs} ms`), WHY_TIMEOUT)
      }, timeoutMs)
    }
    // Fast path: straight into a worker's ring when nothing is queued ahead of it.
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

  /** Workers that are up and taking tasks. */
  get alive(): number {
    let n = 0
    for (const s of this.#slots) if (s && s.ready && !s.dead) n++
    return n
  }

  /** A snapshot for `GET /pool` and `/metrics`. */
  stats(): PoolStats {
    const now = performance.now()
    let running = 0
    const utilization: number[] = []
    for (const s of this.#slots) {
      running += s ? s.count : 0
      utilization.push(s ? s.utilization(now) : 0)
    }
    const tasks: PoolStats['tasks'] = {}
    for (const [name, c] of this.#counters) tasks[name] = c.snapshot()
    return {
      workers: this.#opts.workers,
      alive: this.alive,
      queued: this.#queue.size,
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
      bellMessage: this.#bell.viaMessage,
      ...(this.#opts.extraTasks ? { extraTasks: String(this.#opts.extraTasks) } : {}),
    })
    const worker = slot.worker
    this.#slots[index] = slot
    worker.on('message', (m: WorkerEvent) => {
      // Bun 1.4.5 re-refs a worker when one of its messages arrives: unref again, or a pool
      // left open would keep the process alive (tested in pool.test.ts).
      worker.unref()
      if (m === 0) {
        this.#bell.ring()
        return
      }
      if (m.t !== 'ready' || slot.dead) return
      if (this.#index === undefined) {
        this.#catalog = m.catalog
        this.#index = new Map(m.catalog.map((t, i) => [t.name, i]))
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
        clearTimeout(t.killTimer)
        continue
      }
      t.counters.failed++
      this.#settle(t, new AppError('worker_crashed', `The worker running task '${t.name}' crashed`, { cause: err }))
    }
    for (let i = requeue.length - 1; i >= 0; i--) {
      const t = requeue[i] as Task
      t.state = QUEUED
      t.slot = undefined
      this.#queue.unshift(t) // it keeps its turn: back at the front of its priority
    }
    slot.port.close()
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
        t.counters.failed++
        this.#settle(t, new AppError('worker_crashed', `No pool worker could start: ${String(err)}`))
      }
    }
    // A crash loop must not become a CPU loop: back off when crashes come fast.
    const now = performance.now()
    this.#crashes.push(now)
    while (this.#crashes.length > 0 && (this.#crashes[0] as number) < now - 1000) this.#crashes.shift()
    // Workers that die before they are even ready (a broken module) back off up to 30 s.
    this.#startFailures = wasReady ? 0 : this.#startFailures + 1
    const delay = this.#startFailures > 0
      ? Math.min(30_000, 50 * 2 ** Math.min(this.#startFailures, 10))
      : this.#crashes.length > 2 * this.#opts.workers ? Math.min(1000, 25 * this.#crashes.length) : 0
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
    const index = this.#index
    if (index === undefined) return false
    const taskIdx = index.get(t.name)
    if (taskIdx === undefined) {
      this.#settle(t, new AppError('unknown_task', `No task is registered as '${t.name}'`))
      return true
    }
    let best: Slot<Task> | undefined
    for (const s of this.#slots) {
      if (s && s.ready && !s.dead && s.count < this.#opts.window && (best === undefined || s.count < best.count)) best = s
    }
    return best !== undefined && this.#sendTo(best, t, taskIdx)
  }

  /** Writes a task into one worker's ring. False only when that ring is momentarily full of large messages. */
  #sendTo(slot: Slot<Task>, t: Task, taskIdx: number): boolean {
    const ok = typeof t.input === 'string'
      ? slot.req.writeString(REQ_QUEUED, t.id, taskIdx, t.input)
      : slot.req.writeBytes(REQ_QUEUED, t.id, taskIdx, t.input)
    if (!ok) return false
    t.pos = slot.req.lastPos
    t.slot = slot
    t.state = IN_WORKER
    slot.push(t)
    t.counters.wait.record((performance.now() - t.enqueuedAt) * 1000)
    return true
  }

  /** Moves queued tasks into workers while they have room. */
  #pump(): void {
    const q = this.#queue
    while (q.size > 0) {
      const t = q.peek() as Task
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
      const stolen = victim.stealUnstarted()
      const index = this.#index as Map<string, number>
      let i = 0
      for (; i < stolen.length && idle.count < this.#opts.window; i++) {
        const t = stolen[i] as Task
        if (!this.#sendTo(idle, t, index.get(t.name) as number)) break
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
    while (res.poll()) {
      n++
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
        if (t) clearTimeout(t.killTimer)
        skipSafely(res)
        continue
      }
      t.counters.run.record(res.extra)
      let payload: Uint8Array | string
      try {
        payload = kind === RES_OK ? res.bytes() : res.text() // the one copy out of shared memory
      } catch (e) {
        // Only a lost side-channel message can get here; never let it stop the drain loop.
        res.release()
        t.counters.failed++
        this.#settle(t, new AppError('task_failed', 'The task result was lost in transit', { cause: e }))
        continue
      }
      res.release()
      if (typeof payload !== 'string') {
        t.counters.ok++
        this.#settle(t, payload)
      } else {
        const err = decodeError(payload)
        if (err.code === 'task_timeout') t.counters.timedOut++
        else if (err.code === 'client_closed') t.counters.canceled++
        else t.counters.failed++
        this.#settle(t, err)
      }
    }
    return n
  }

  /** Resolves or rejects a task exactly once and drops its timers and listeners. */
  #settle(t: Task, outcome: Uint8Array | AppError): void {
    if (t.state === DONE) return
    t.state = DONE
    if (t.timer !== undefined) clearTimeout(t.timer)
    if (t.onAbort) t.options?.signal?.removeEventListener('abort', t.onAbort)
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
      t.counters[counted]++
      this.#settle(t, err)
      return
    }
    const slot = t.slot as Slot<Task>
    if (slot.req.steal(t.pos, t.id)) {
      slot.remove(t) // never started
      t.counters[counted]++
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
    t.counters[counted]++
    this.#settle(t, err)
    t.killTimer = setTimeout(() => {
      this.#drainSlot(slot)
      if (!slot.dead && slot.front() === t) this.#lost(slot, new Error(`task '${t.name}' ignored its cancellation`))
    }, this.#opts.graceMs)
    t.killTimer.unref()
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
    clearInterval(this.#watchdog)
    this.#bell.stop()
  }

  #countersOf(name: string): TaskCounters {
    let c = this.#counters.get(name)
    if (!c) {
      c = new TaskCounters()
      // Unknown names are rejected before this, once the catalog is known; before that, cap the map.
      if (this.#counters.size < 1000) this.#counters.set(name, c)
    }
    return c
  }
}

function skipSafely(res: Ring): void {
  try {
    res.skip()
  } catch {
    res.release() // a lost side message must not stop the drain loop
  }
}
