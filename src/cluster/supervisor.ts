/**
 * The primary's server processes, one per slot 1..PROCESSES: forking them (node:cluster, the slot
 * in `HIGHPERF_CLUSTER_SLOT`, stable across restarts), restarting one that dies with a backoff
 * (./backoff.ts) while the others serve, giving up when a slot cannot start at all, and stopping
 * them all. The roll (./roll.ts) uses {@link Supervisor.spawnReplacement} and
 * {@link Supervisor.promote} to replace a slot's process without a gap.
 *
 * A process is `starting` until it reports `ready` (listening, a pool worker up), then `ready`, then
 * `retiring` once the primary asked it to stop. Any exit the primary did not ask for (a crash,
 * SIGKILL, a nonzero code, or even code 0 after someone else's SIGTERM) is restarted: the cluster
 * never silently shrinks. A slot whose process has never been ready and exits
 * {@link SupervisorOptions.startAttempts} times in a row is a configuration the primary cannot fix
 * (the port is taken, DATA_DIR unwritable): `onGiveUp` is called instead of restarting.
 *
 * @example
 * ```ts
 * const sup = new Supervisor({ cluster: (await import('node:cluster')).default, processes: 2, log, env: { HIGHPERF_CLUSTER_RATE_TABLE: path }, onGiveUp: (why) => … })
 * sup.startAll()
 * await sup.stop(10_000)
 * ```
 */
import type { Cluster, Worker } from 'node:cluster'
import type { Logger } from '../log.ts'
import { Backoff, type BackoffOptions } from './backoff.ts'
import { asClusterMessage, type ClusterMessage, type TaggedMessage } from './protocol.ts'

/** Where a server process is in its life. */
export type ChildState = 'starting' | 'ready' | 'retiring' | 'exited'

/** How a server process ended: its exit code, or the signal that killed it. */
export interface ChildExit {
  code: number | null
  signal: string | null
}

/** One server process. */
export class Child {
  state: ChildState = 'starting'
  readyAt = 0
  /** Its own one-line reason when it could not start (the `fatal` message). */
  fatal = ''
  /** Resolves true once ready, false if it exited (or was killed) first. */
  readonly ready: Promise<boolean>
  /** Resolves once the process has exited. */
  readonly exited: Promise<ChildExit>
  #readyResolve!: (ok: boolean) => void
  #exitResolve!: (exit: ChildExit) => void

  constructor(readonly slot: number, readonly worker: Worker) {
    this.ready = new Promise((resolve) => { this.#readyResolve = resolve })
    this.exited = new Promise((resolve) => { this.#exitResolve = resolve })
  }

  /** The process id (0 if the fork failed). */
  get pid(): number {
    return this.worker.process.pid ?? 0
  }

  /** Sends a message; false when the pipe is closed. Never throws. */
  send(msg: TaggedMessage): boolean {
    try {
      return this.worker.isConnected() && this.worker.send(msg)
    } catch {
      return false
    }
  }

  /** Sends `signal` to the process unless it has exited. */
  kill(signal: NodeJS.Signals): void {
    if (this.state === 'exited') return
    try { this.worker.process.kill(signal) } catch { /* already gone */ }
  }

  /** @internal */
  markReady(): void {
    if (this.state !== 'starting') return
    this.state = 'ready'
    this.readyAt = performance.now()
    this.#readyResolve(true)
  }

  /** @internal */
  markExited(exit: ChildExit): void {
    this.state = 'exited'
    this.#readyResolve(false)
    this.#exitResolve(exit)
  }
}

/** The settings of a {@link Supervisor}. */
export interface SupervisorOptions {
  /**
   * node:cluster, imported dynamically by the caller (`(await import('node:cluster')).default`): a
   * static import of a built-in is hoisted to the top of the binary's bundle, where a single
   * process would load it too.
   */
  cluster: Cluster
  processes: number
  log: Logger
  /** Added to each process's environment (the slot is added per process). */
  env: Record<string, string>
  /** Called once when a slot could not start `startAttempts` times in a row; the reason is one line. */
  onGiveUp(reason: string): void
  /** Every highperf message from a process (the bus relay). */
  onMessage?(child: Child, msg: ClusterMessage): void
  /** Starts before a slot that has never been ready is given up (default 3). */
  startAttempts?: number
  /** A process not ready this long after its fork is killed and counts as a failed start (default 60 s). */
  readyTimeoutMs?: number
  backoff?: BackoffOptions
  /** The program each process runs, when not this one (test fixtures). */
  exec?: string
}

/** The process that plays a slot, what it did, and its restart state. */
interface SlotState {
  current: Child | undefined
  backoff: Backoff
  everReady: boolean
  failedStarts: number
  restartTimer: ReturnType<typeof setTimeout> | undefined
  restarts: number
}

/** The server processes of the primary; see the module comment. */
export class Supervisor {
  readonly processes: number
  readonly #opts: SupervisorOptions
  readonly #log: Logger
  readonly #slots = new Map<number, SlotState>()
  readonly #live = new Set<Child>()
  #stopping = false
  #gaveUp = false

  constructor(options: SupervisorOptions) {
    this.#opts = options
    this.#log = options.log
    this.processes = options.processes
    if (options.exec !== undefined) options.cluster.setupPrimary({ exec: options.exec, args: [] })
    for (let slot = 1; slot <= options.processes; slot++) {
      this.#slots.set(slot, { current: undefined, backoff: new Backoff(options.backoff), everReady: false, failedStarts: 0, restartTimer: undefined, restarts: 0 })
    }
  }

  /** True once {@link stop} was called. */
  get stopping(): boolean {
    return this.#stopping
  }

  /** Forks every slot's process. */
  startAll(): void {
    for (const slot of this.#slots.keys()) this.#startSlot(slot)
  }

  /** Resolves true once every slot's process is ready, false if the start was given up or stopped. */
  async allReady(): Promise<boolean> {
    for (;;) {
      if (this.#stopping || this.#gaveUp) return false
      const pending = [...this.#slots.values()].map((s) => s.current).filter((c) => c === undefined || c.state !== 'ready')
      if (pending.length === 0) return true
      await Promise.race([...pending.map((c) => c?.ready ?? Bun.sleep(50)), Bun.sleep(200)])
    }
  }

  /** The process serving `slot` (or starting into it). */
  current(slot: number): Child | undefined {
    return this.#slots.get(slot)?.current
  }

  /** The current process of every slot, in slot order. */
  serving(): Child[] {
    return [...this.#slots.values()].map((s) => s.current).filter((c): c is Child => c !== undefined && c.state !== 'exited')
  }

  /** Every process alive: current ones, a roll's replacement, processes retiring. */
  live(): Child[] {
    return [...this.#live]
  }

  /** Restarts of `slot` since the primary started. */
  restarts(slot: number): number {
    return this.#slots.get(slot)?.restarts ?? 0
  }

  /** Forks a new process into `slot` without making it current (a roll's replacement). */
  spawnReplacement(slot: number): Child {
    return this.#fork(slot)
  }

  /**
   * Makes `fresh` its slot's current process; the one it replaces (if alive) is asked to stop with
   * SIGTERM and returned, so the caller can wait for it.
   */
  promote(fresh: Child): Child | undefined {
    const s = this.#slots.get(fresh.slot)
    if (!s) return undefined
    if (s.restartTimer) { clearTimeout(s.restartTimer); s.restartTimer = undefined }
    const old = s.current
    s.current = fresh
    if (old && old !== fresh && old.state !== 'exited') {
      this.retire(old)
      return old
    }
    return undefined
  }

  /** Asks `child` to stop (SIGTERM: it drains); its exit is then expected, never restarted. */
  retire(child: Child): void {
    if (child.state === 'exited') return
    child.state = 'retiring'
    child.kill('SIGTERM')
  }

  /** Waits for `child` to exit; after `timeoutMs` kills it (SIGKILL) and says so. Resolves its exit. */
  async waitExit(child: Child, timeoutMs: number): Promise<ChildExit> {
    const timer = setTimeout(() => {
      this.#log.error({ slot: child.slot, childPid: child.pid, timeoutMs }, `server process ${child.slot} (pid ${child.pid}) still running ${timeoutMs} ms after SIGTERM: killing it (SIGKILL)`)
      child.kill('SIGKILL')
    }, timeoutMs)
    try {
      return await child.exited
    } finally {
      clearTimeout(timer)
    }
  }

  /** Sends `signal` to every live process. */
  signalAll(signal: NodeJS.Signals): void {
    for (const c of this.#live) c.kill(signal)
  }

  /**
   * Stops every process: no more restarts, SIGTERM to each (each drains), waits up to `timeoutMs`,
   * then SIGKILL to the stragglers. Resolves true when every process exited with code 0.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    this.#stopping = true
    for (const s of this.#slots.values()) {
      if (s.restartTimer) { clearTimeout(s.restartTimer); s.restartTimer = undefined }
    }
    const all = this.live()
    for (const c of all) this.retire(c)
    const exits = await Promise.all(all.map((c) => this.waitExit(c, timeoutMs)))
    return exits.every((e) => e.code === 0 && e.signal === null)
  }

  #startSlot(slot: number): void {
    const s = this.#slots.get(slot)
    if (!s || this.#stopping || this.#gaveUp) return
    s.restartTimer = undefined
    s.current = this.#fork(slot)
  }

  #fork(slot: number): Child {
    const worker = this.#opts.cluster.fork({ ...this.#opts.env, HIGHPERF_CLUSTER_SLOT: String(slot) })
    const child = new Child(slot, worker)
    this.#live.add(child)
    const readyTimeoutMs = this.#opts.readyTimeoutMs ?? 60_000
    const readyTimer = setTimeout(() => {
      if (child.state !== 'starting') return
      child.fatal ||= `not ready within ${readyTimeoutMs} ms`
      this.#log.error({ slot, childPid: child.pid, readyTimeoutMs }, `server process ${slot} (pid ${child.pid}) not ready within ${readyTimeoutMs} ms: killing it (SIGKILL)`)
      child.kill('SIGKILL')
    }, readyTimeoutMs)
    worker.on('error', (err: Error) => { this.#log.debug({ slot, err }, 'server process pipe error') })
    worker.on('message', (raw: unknown) => {
      const msg = asClusterMessage(raw)
      if (!msg) return
      if (msg.kind === 'ready') this.#onReady(child)
      else if (msg.kind === 'fatal') child.fatal = msg.message
      else this.#opts.onMessage?.(child, msg)
    })
    worker.on('exit', (code: number | null, signal: string | null) => {
      clearTimeout(readyTimer)
      this.#onExit(child, { code, signal })
    })
    this.#log.debug({ slot, childPid: child.pid }, `server process ${slot} forked (pid ${child.pid})`)
    return child
  }

  #onReady(child: Child): void {
    const s = this.#slots.get(child.slot)
    child.markReady()
    if (!s) return
    s.everReady = true
    s.failedStarts = 0
    this.#log.info({ slot: child.slot, childPid: child.pid }, `server process ${child.slot} ready (pid ${child.pid})`)
  }

  #onExit(child: Child, exit: ChildExit): void {
    const before = child.state
    const readyForMs = before === 'ready' ? performance.now() - child.readyAt : 0
    child.markExited(exit)
    this.#live.delete(child)
    const s = this.#slots.get(child.slot)
    const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`
    const fields = { slot: child.slot, childPid: child.pid, code: exit.code, signal: exit.signal }
    if (!s || s.current !== child || before === 'retiring' || this.#stopping) {
      // Asked to stop (shutdown, a roll), or a roll's replacement that failed (the roll says why).
      const level = exit.code === 0 && !exit.signal ? 'info' : 'warn'
      this.#log[level](fields, `server process ${child.slot} (pid ${child.pid}) ${how}`)
      return
    }
    if (this.#gaveUp) return
    if (!s.everReady) {
      s.failedStarts++
      const why = child.fatal || how
      if (s.failedStarts >= (this.#opts.startAttempts ?? 3)) {
        this.#gaveUp = true
        this.#log.error({ ...fields, attempts: s.failedStarts, reason: why }, `server process ${child.slot} (pid ${child.pid}) ${how} before it was ready, ${s.failedStarts} times in a row: giving up`)
        this.#opts.onGiveUp(`server process ${child.slot} could not start (${s.failedStarts} attempts): ${why}`)
        return
      }
    }
    const delayMs = s.backoff.next(readyForMs)
    s.restarts++
    this.#log.error({ ...fields, delayMs, restarts: s.restarts, reason: child.fatal || undefined }, `server process ${child.slot} (pid ${child.pid}) ${how}${before === 'starting' ? ' before it was ready' : ''}; restarting it in ${delayMs} ms`)
    s.current = undefined
    s.restartTimer = setTimeout(() => this.#startSlot(child.slot), delayMs)
  }
}
