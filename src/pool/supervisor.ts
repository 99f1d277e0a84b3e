/**
 * Worker supervision: starting workers, noticing when one is ready or lost, replacing lost ones
 * (with the backoff of restarts.ts), killing one that ignores a cancel, the hand-off of long runs
 * to overflow workers (handoff.ts decides, this applies), and the final shutdown.
 *
 * A lost worker's published results are read first (they are valid), its unstarted runs go back
 * to the front of the queue, and only the run it was running fails with `worker_crashed`.
 *
 * @example
 * ```ts
 * const supervisor = new Supervisor(handles, options, bell, scheduler, results, onCatalog)
 * supervisor.start()               // core workers, in the background
 * await supervisor.shutdown(5000)  // drain, then stop every worker
 * ```
 */
import { AppError } from '../errors.ts'
import type { TaskInfo } from '../tasks/types.ts'
import type { Doorbell } from './doorbell.ts'
import { planHandoff, tickMs } from './handoff.ts'
import { CTL_CANCEL, CTL_CANCEL_WHY, CTL_STOP, type WorkerEvent } from './protocol.ts'
import { RestartBackoff } from './restarts.ts'
import type { Results } from './results.ts'
import { DONE, type Run } from './run.ts'
import type { Scheduler } from './scheduler.ts'
import type { PoolOptions } from './types.ts'
import { WorkerHandle } from './worker-handle.ts'

/** What the supervisor needs to know: PoolOptions as the pool resolved them, and where each kind of worker goes. */
export type SupervisorOptions = Required<Pick<PoolOptions, 'ringBytes' | 'spinMax' | 'nice' | 'graceMs' | 'longRunMs' | 'lingerMs'>>
  & Pick<PoolOptions, 'extraTasks' | 'log'> & {
    /** Core workers: handles 0 … core-1. */
    core: number
    /** Most overflow workers at once (`maxOverflow` resolved): handles core … core+maxOverflow-1. */
    maxOverflow: number
    /** The short lane's handle index (core + maxOverflow), -1 without hand-off. */
    lane: number
  }

/** Starts, watches, replaces and stops the pool's workers; see the file comment. */
export class Supervisor {
  /** Workers lost and replaced (or left to the hand-off) since start: `stats().restarts`. */
  restarts = 0
  started = false
  closing = false
  readonly #handles: Array<WorkerHandle<Run> | undefined>
  readonly #o: SupervisorOptions
  readonly #bell: Doorbell
  readonly #scheduler: Scheduler
  readonly #results: Results
  readonly #onCatalog: (catalog: TaskInfo[]) => void
  readonly #backoff: RestartBackoff
  /** Overflow workers that die before they are ready back off like core ones (restarts.ts). */
  readonly #overflowBackoff = new RestartBackoff(1)
  /** No overflow worker is started before this time (ms, performance.now). */
  #overflowNotBefore = 0
  /** The hand-off timer, pending while the pool has work or overflow workers (undefined: none). */
  #handoffTimer: ReturnType<typeof setTimeout> | undefined
  /** Set by shutdown() while it waits for outstanding runs. */
  #onIdle: (() => void) | undefined

  /** `onCatalog` gets the first ready worker's catalogue (before that worker takes runs). */
  constructor(
    handles: Array<WorkerHandle<Run> | undefined>, o: SupervisorOptions, bell: Doorbell,
    scheduler: Scheduler, results: Results, onCatalog: (catalog: TaskInfo[]) => void,
  ) {
    this.#handles = handles
    this.#o = o
    this.#bell = bell
    this.#scheduler = scheduler
    this.#results = results
    this.#onCatalog = onCatalog
    this.#backoff = new RestartBackoff(o.core)
  }

  /** Spawns the core workers, once (a no-op when started or closing). */
  start(): void {
    if (this.started || this.closing) return
    this.started = true
    for (let i = 0; i < this.#o.core; i++) this.#spawn(i)
  }

  /** Core workers that are up and taking runs. */
  get alive(): number {
    let n = 0
    for (let i = 0; i < this.#o.core; i++) {
      const h = this.#handles[i]
      if (h && h.ready && !h.dead) n++
    }
    return n
  }

  /**
   * A running run was canceled (`why`: protocol.ts WHY_*): tell it through its worker's cancel
   * word and a message, and replace the worker if the run is still its front `graceMs` later.
   */
  cancelRunning(handle: WorkerHandle<Run>, run: Run, why: number): void {
    Atomics.store(handle.ctl, CTL_CANCEL_WHY, why)
    Atomics.store(handle.ctl, CTL_CANCEL, run.id)
    try {
      handle.worker.postMessage({ t: 'cancel', id: run.id, why })
      handle.worker.unref()
    } catch { /* a dead worker is handled by #lost */ }
    const killTimer = setTimeout(() => {
      this.#results.drainWorker(handle)
      if (!handle.dead && handle.front() === run) this.#lost(handle, new Error(`task '${run.name}' ignored its cancellation`))
    }, this.#o.graceMs)
    killTimer.unref()
    ;(run.watch ??= { swept: 2, timer: undefined, killTimer: undefined, onAbort: undefined }).killTimer = killTimer
  }

  /** Starts the hand-off timer chain unless it is pending (the pool went from idle to busy). */
  armHandoff(): void {
    if (this.#handoffTimer !== undefined || this.#o.longRunMs <= 0 || this.closing) return
    this.#handoffTimer = setTimeout(this.#handoff, tickMs(this.#o.longRunMs))
    // Outstanding runs keep the process alive through the pool's watchdog, not through this timer.
    this.#handoffTimer.unref()
  }

  /** Calls shutdown's waiter once no run is outstanding. */
  checkIdle(): void {
    if (this.#onIdle && this.#results.outstanding === 0) this.#onIdle()
  }

  /**
   * Stops taking runs, lets outstanding ones finish within `timeoutMs`, fails the rest with
   * `pool_closed`, then asks every worker to stop (terminating one still busy, or any that has not
   * exited 1 s later).
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.closing = true
    clearTimeout(this.#handoffTimer)
    if (this.#results.outstanding > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await new Promise<void>((resolve) => {
        this.#onIdle = resolve
        timer = setTimeout(resolve, timeoutMs)
      })
      clearTimeout(timer)
      this.#onIdle = undefined
    }
    const closed = new AppError('pool_closed', 'The worker pool closed before the task finished')
    for (const run of this.#scheduler.queue.drain()) this.#results.settle(run, closed)
    const exits: Array<Promise<unknown>> = []
    for (const h of this.#handles) {
      if (!h) continue
      const busy = h.takeAll()
      for (const run of busy) this.#results.settle(run, closed)
      if (h.dead) continue
      if (busy.length > 0) {
        // Past the drain bound and still running: do not wait for the run to notice.
        h.dead = true
        exits.push(h.worker.terminate())
        continue
      }
      exits.push(new Promise((resolve) => h.worker.once('exit', resolve)))
      Atomics.store(h.ctl, CTL_STOP, 1)
      h.req.wake()
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([Promise.all(exits), new Promise((r) => { timer = setTimeout(r, 1000) })])
    clearTimeout(timer)
    for (const h of this.#handles) if (h && !h.dead) { h.dead = true; await h.worker.terminate() }
    for (const h of this.#handles) h?.closePorts()
  }

  #spawn(index: number): void {
    const o = this.#o
    const handle = WorkerHandle.spawn<Run>(index, {
      ringBytes: o.ringBytes,
      spinMax: o.spinMax,
      bell: this.#bell.sab,
      ...(this.#bell.viaMessage ? { onBell: this.#ringBell } : {}),
      nice: o.nice,
      ...(o.extraTasks ? { extraTasks: String(o.extraTasks) } : {}),
    })
    const worker = handle.worker
    this.#handles[index] = handle
    worker.on('message', (m: WorkerEvent) => {
      // Bun 1.4.5 re-refs a worker when one of its messages arrives: unref again, or a pool
      // left open would keep the process alive (tested in pool.test.ts).
      worker.unref()
      if (m.t !== 'ready' || handle.dead) return
      if (this.#scheduler.index === undefined) this.#onCatalog(m.catalog)
      handle.ready = true
      handle.startedAt = performance.now()
      handle.frontSince = handle.startedAt
      this.#scheduler.pump()
      this.#scheduler.balance()
    })
    worker.on('error', (err) => this.#lost(handle, err))
    worker.on('exit', (code) => this.#lost(handle, new Error(`worker exited with code ${code}`)))
  }

  /** A worker rang the doorbell (message mode). */
  readonly #ringBell = (): void => this.#bell.ring()

  /** A worker died (crash, exit, or we terminated it): recover its runs and replace it. */
  #lost(handle: WorkerHandle<Run>, err: unknown): void {
    if (handle.dead) return
    const wasReady = handle.ready
    handle.dead = true
    handle.ready = false
    void handle.worker.terminate()
    // Results it published before dying are valid: read them first.
    this.#results.drainWorker(handle)
    const unstarted = handle.stealUnstarted()
    for (const run of handle.takeAll()) {
      if (run.state === DONE) {
        clearTimeout(run.watch?.killTimer)
        continue
      }
      run.meta.counters.failed++
      this.#results.settle(run, new AppError('worker_crashed', `The worker running task '${run.name}' crashed`, { cause: err }))
    }
    this.#scheduler.requeueFront(unstarted) // they keep their turn
    handle.closePorts()
    if (this.closing) {
      this.#handles[handle.index] = undefined
      this.checkIdle()
      return
    }
    this.restarts++
    if (handle.index >= this.#o.core) {
      // An overflow worker is not replaced: the next hand-off tick starts one if still needed,
      // not before a backoff if it died before it was ready (no spawn loop every tick).
      this.#overflowNotBefore = performance.now() + this.#overflowBackoff.next(wasReady)
      this.#o.log?.warn({ worker: handle.index, err: String(err) }, 'pool overflow worker lost')
      this.#handles[handle.index] = undefined
      this.#scheduler.pump()
      return
    }
    this.#o.log?.warn({ worker: handle.index, err: String(err) }, 'pool worker lost; replacing it')
    if (!wasReady && this.alive === 0) {
      // A worker that dies before it is ready (a broken entrypoint or task module) would make
      // queued runs wait forever: fail them now; later ones wait for the retried workers.
      for (const run of this.#scheduler.queue.drain()) {
        run.meta.counters.failed++
        this.#results.settle(run, new AppError('worker_crashed', `No pool worker could start: ${String(err)}`))
      }
    }
    const delay = this.#backoff.next(wasReady)
    if (delay === 0) this.#spawn(handle.index)
    else {
      this.#handles[handle.index] = undefined
      const timer = setTimeout(() => { if (!this.closing) this.#spawn(handle.index) }, delay)
      timer.unref()
    }
    this.#scheduler.pump()
  }

  /** One hand-off tick: find long runs, move the runs waiting behind them, start or stop overflow workers. */
  readonly #handoff = (): void => {
    this.#handoffTimer = undefined
    if (this.closing) return
    try {
      this.#applyHandoff()
    } finally {
      // Re-armed whatever happened: run() arms only when the pool goes from idle to busy, so a
      // chain that stopped while runs are outstanding would never restart.
      let overflow = false
      for (let i = this.#o.core; i < this.#handles.length; i++) if (this.#handles[i] !== undefined) overflow = true
      if (this.#results.outstanding > 0 || overflow) this.armHandoff()
    }
  }

  #applyHandoff(): void {
    if (!this.started) return
    // A run whose result is already waiting is not long: read the results first.
    this.#results.drainAll()
    const o = this.#o
    const handles = this.#handles
    const plan = planHandoff(handles, { core: o.core, maxOverflow: o.maxOverflow, longRunMs: o.longRunMs, lingerMs: o.lingerMs, lane: o.lane >= 0 }, performance.now())
    for (const h of plan.long) {
      h.long = true
      this.#scheduler.requeueFront(h.stealUnstarted()) // they keep their turn
      // Everything was stolen back: the thread had started none of it (starved of CPU for
      // longRunMs, not running a long task), so no result will come to clear `long`. Left long,
      // the worker would take nothing again, and background runs (jobs), which only core
      // workers take, would wait for ever (seen under BullMQ load: pool queued 32, running 0).
      if (h.count === 0) h.long = false
    }
    for (const h of plan.retire) {
      // Idle (count 0) and taking nothing: nothing is lost by terminating it; its exit event
      // finds it dead and does nothing.
      h.dead = true
      h.ready = false
      handles[h.index] = undefined
      void h.worker.terminate()
      h.closePorts()
    }
    if (plan.spawn.length > 0 && performance.now() >= this.#overflowNotBefore) {
      for (const i of plan.spawn) {
        try {
          this.#spawn(i)
        } catch (err) {
          // Out of threads or memory: short work waits as it would without a hand-off.
          this.#overflowNotBefore = performance.now() + this.#overflowBackoff.next(false)
          o.log?.warn({ worker: i, err: String(err) }, 'pool overflow worker could not start')
          break
        }
      }
    }
    if (plan.long.length > 0) this.#scheduler.pump()
  }
}
