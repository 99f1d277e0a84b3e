/**
 * One worker as the pool sees it, its handle: its thread, its two rings, its control block, and
 * the runs it holds in dispatch order (the ones still in its request ring, the running one, and
 * finished ones whose result the main thread has not read yet).
 *
 * Responses come back in dispatch order (a worker runs one task at a time, in ring order, and
 * skips stolen ones, which are removed here when stolen), so matching a response to its run is a
 * look at the front of a deque rather than a Map lookup per message.
 *
 * @example
 * ```ts
 * handle.push(run)              // after writing it into handle.req
 * const done = handle.shift(id) // when its response arrives
 * ```
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads'
import { AppError } from '../errors.ts'
import { CTL_WORDS } from './protocol.ts'
import { Ring, type SideChannel } from './ring.ts'
import type { WorkerInit } from './protocol.ts'

/** Where the worker entrypoint is, under `bun run`/`bun test` and inside a compiled binary. */
function workerUrl(): URL {
  // In a `bun build --compile` binary every module is bundled into the entry, whose URL is
  // file:///$bunfs/root/<name>; the worker entrypoint is embedded as $bunfs/root/pool/worker.ts
  // (paths relative to src/, the common root of ./src/main.ts and ./src/pool/worker.ts).
  return import.meta.url.includes('$bunfs')
    ? new URL('./pool/worker.ts', import.meta.url)
    : new URL('./worker.ts', import.meta.url)
}

/** What {@link WorkerHandle.spawn} needs. */
export interface SpawnOptions {
  ringBytes: number
  spinMax: number
  /** The pool's doorbell words. */
  bell: SharedArrayBuffer
  extraTasks?: string
  /**
   * Message mode of the doorbell: called on the main thread when this worker rings it, through a
   * port of its own (not the worker's parentPort: a Worker 'message' event costs more, and Bun
   * re-refs the worker on each one; round trip p50 ~10 % lower in an A/B). Absent: the worker
   * rings with Atomics.notify (waitAsync mode).
   */
  onBell?: () => void
  /** Nice value each worker thread sets for itself (0: unchanged). */
  nice?: number
}

/** What a handle needs of a run it holds. */
export interface HeldRun {
  id: number
  /** Position of its request in the ring (for stealing it back). */
  pos: number
  /** Below 0: a background run (a job's), counted in {@link WorkerHandle.background}. */
  priority: number
}

/**
 * A worker thread and its shared memory. `index` is its place in the pool's handle array: core
 * workers first, then overflow workers, then the short lane (handoff.ts).
 */
export class WorkerHandle<T extends HeldRun> {
  ready = false
  dead = false
  /** Microseconds spent running tasks (reported by the worker per result). */
  busyUs = 0
  startedAt = performance.now()
  /**
   * When the task at the front became the front (its run started then at the latest), or when
   * the worker went idle: written per result with the drain's clock (handoff.ts reads it).
   */
  frontSince = performance.now()
  /** Its current run passed POOL_LONG_RUN: it takes no new task until that run ends (handoff.ts). */
  long = false
  /** Background runs (priority < 0) it holds: none on an overflow worker (scheduler.ts). */
  background = 0
  #items: T[] = []
  #head = 0

  constructor(
    readonly index: number,
    readonly worker: Worker,
    readonly req: Ring,
    readonly res: Ring,
    readonly ctl: Int32Array,
    readonly port: MessagePort,
    /** The doorbell's port in message mode (see SpawnOptions.onBell). */
    readonly bellPort: MessagePort | undefined,
  ) {}

  /**
   * Starts a worker with fresh rings, control block and side-channel port. Returns at once; the
   * worker reports `ready` by message when its tasks are loaded.
   */
  static spawn<T extends HeldRun>(index: number, o: SpawnOptions): WorkerHandle<T> {
    const reqSab = Ring.allocate(o.ringBytes)
    const resSab = Ring.allocate(o.ringBytes)
    const ctlSab = new SharedArrayBuffer(CTL_WORDS * 4)
    const { port1, port2 } = new MessageChannel()
    const side: SideChannel = {
      send: (bytes) => port1.postMessage(bytes, [bytes.buffer as ArrayBuffer]),
      recv: () => {
        // The worker posts before it publishes the marker, so the message is already queued.
        const m = receiveMessageOnPort(port1)
        if (!m) throw new AppError('internal', 'side-channel payload missing')
        return m.message as Uint8Array
      },
    }
    const init: WorkerInit = { req: reqSab, res: resSab, ctl: ctlSab, bell: o.bell, port: port2, spinMax: o.spinMax }
    const transfer: MessagePort[] = [port2]
    let bellPort: MessagePort | undefined
    if (o.onBell) {
      const bell = new MessageChannel()
      bellPort = bell.port1
      bellPort.on('message', o.onBell)
      bellPort.unref()
      init.bellPort = bell.port2
      transfer.push(bell.port2)
    }
    if (o.extraTasks) init.extraTasks = o.extraTasks
    if (o.nice) init.nice = o.nice
    const worker = new Worker(workerUrl(), { workerData: init, transferList: transfer })
    // Workers never keep the process alive by themselves; outstanding tasks do (the pool's watchdog).
    worker.unref()
    port1.unref()
    return new WorkerHandle<T>(index, worker, new Ring(reqSab, side), new Ring(resSab, side), new Int32Array(ctlSab), port1, bellPort)
  }

  /** Closes the main thread's ends of the side-channel and doorbell ports (the worker is gone). */
  closePorts(): void {
    this.port.close()
    this.bellPort?.close()
  }

  /** Runs held by this worker. */
  get count(): number {
    return this.#items.length - this.#head
  }

  push(task: T): void {
    this.#items.push(task)
    if (task.priority < 0) this.background++
  }

  /** The oldest run (the running one, if any). */
  front(): T | undefined {
    return this.#items[this.#head]
  }

  /** Removes and returns the run whose response arrived (normally the front). */
  shift(id: number): T | undefined {
    const front = this.#items[this.#head]
    if (front !== undefined && front.id === id) {
      if (front.priority < 0) this.background--
      this.#items[this.#head++] = undefined as unknown as T
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head)
        this.#head = 0
      }
      if (this.#head === this.#items.length) {
        this.#items.length = 0
        this.#head = 0
      }
      return front
    }
    for (let i = this.#head + 1; i < this.#items.length; i++) {
      const t = this.#items[i] as T
      if (t.id === id) {
        if (t.priority < 0) this.background--
        return this.#items.splice(i, 1)[0]
      }
    }
    return undefined
  }

  /** Removes a run wherever it is (a canceled one that was stolen back). */
  remove(task: T): void {
    const i = this.#items.indexOf(task, this.#head)
    if (i < 0) return
    this.#items.splice(i, 1)
    if (task.priority < 0) this.background--
  }

  /**
   * Steals back the runs the worker has not claimed yet (at most `max`), newest first, stopping
   * at the first one it already took (everything older is taken too: it claims in order).
   * Returns them oldest first.
   */
  stealUnstarted(max = Infinity): T[] {
    const out: T[] = []
    while (this.count > 0 && out.length < max) {
      const last = this.#items[this.#items.length - 1] as T
      if (!this.req.steal(last.pos, last.id)) break
      this.#items.pop()
      if (last.priority < 0) this.background--
      out.push(last)
    }
    return out.reverse()
  }

  /** Removes and returns every run still held (when the worker died). */
  takeAll(): T[] {
    const out = this.#items.slice(this.#head)
    this.#items = []
    this.#head = 0
    this.background = 0
    return out
  }

  /** Fraction of wall time spent running tasks since start. */
  utilization(now: number): number {
    const wall = (now - this.startedAt) * 1000
    return wall > 0 ? Math.min(1, Math.round((this.busyUs / wall) * 1000) / 1000) : 0
  }
}
