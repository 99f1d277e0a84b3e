/**
 * The worker entrypoint of the pool (a separate entrypoint of `bun build --compile`, see
 * docs/pool.md). It loads the task registry, reports its catalog once, then loops: claim the next
 * request from its request ring, decode the input straight from shared memory, run the task,
 * encode the result straight into the response ring, ring the main thread's doorbell.
 *
 * Idle, it spins a bounded, adaptive number of loads (doubling when work arrived while spinning
 * or right after it parked, halving after a real idle period) and then parks in `Atomics.wait`. One task runs at a time; an async
 * task is awaited, which lets cancel messages arrive on `parentPort`. A synchronous task sees a
 * cancel through `ctx.signal.aborted`, which also polls the shared cancel word.
 *
 * This file imports only src/tasks/* and src/errors.ts: never the server.
 *
 * @example
 * ```ts
 * new Worker(new URL('./worker.ts', import.meta.url), { workerData: init, transferList: [init.port] })
 * ```
 */
// First: keeps this thread's start-up code, module bodies included, out of the JIT.
import { endStartupJit } from '../startup-jit.ts'
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads'
import { AppError } from '../errors.ts'
import { createExecutor } from '../tasks/execute.ts'
import { TASKS } from '../tasks/registry.ts'
import type { TaskContext, TaskDefinition } from '../tasks/types.ts'
import {
  AUX_MASK, BELL_RING, BELL_SLEEPING, CTL_CANCEL, CTL_CANCEL_WHY, CTL_STOP, REQ_QUEUED,
  RES_ERR, RES_OK, RES_PROGRESS, WHY_TIMEOUT, type WorkerEvent, type WorkerInit,
} from './protocol.ts'
import { lowerThreadPriority } from './nice.ts'
import { Ring, type SideChannel } from './ring.ts'

const SPIN_MIN = 64
const IDLE_WAIT_MS = 1000
/** A park shorter than this counts as "work was about to arrive". */
const SHORT_PARK_MS = 0.2
const SIDE_WAIT_TRIES = 5000

const init = workerData as WorkerInit
const bellPort = init.bellPort
// First thing: a CPU-bound task must never hold the CPU against the event loop (nice.ts).
if (init.nice !== undefined && init.nice > 0) lowerThreadPriority(init.nice)
const SPIN_MAX = Math.max(SPIN_MIN, init.spinMax)
const ctl = new Int32Array(init.ctl)
const bell = new Int32Array(init.bell)
const pause = new Int32Array(new SharedArrayBuffer(4))

const side: SideChannel = {
  send(bytes) {
    init.port.postMessage(bytes, [bytes.buffer as ArrayBuffer])
  },
  recv() {
    // The main thread posts before it publishes the marker, so this normally succeeds at once.
    for (let i = 0; i < SIDE_WAIT_TRIES; i++) {
      const m = receiveMessageOnPort(init.port)
      if (m) return m.message as Uint8Array
      Atomics.wait(pause, 0, 0, 1)
    }
    throw new AppError('internal', 'side-channel payload did not arrive')
  },
}
const req = new Ring(init.req, side)
const res = new Ring(init.res, side)

const tasks: TaskDefinition[] = [...TASKS]
if (init.extraTasks) {
  const mod = (await import(init.extraTasks)) as { TASKS: readonly TaskDefinition[] }
  tasks.push(...mod.TASKS)
}
const executor = createExecutor(tasks)
const catalog = executor.catalog()

// ---------------------------------------------------------------- the running task

let current = 0
let controller: AbortController | undefined
const abortedGetter = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')?.get as (this: AbortSignal) => boolean

function reasonFor(why: number): AppError {
  return why === WHY_TIMEOUT
    ? new AppError('task_timeout', 'The task was canceled: its time limit passed')
    : new AppError('client_closed', 'The task was canceled by its caller')
}

function pollCancel(): void {
  if (current !== 0 && controller && Atomics.load(ctl, CTL_CANCEL) === current && !abortedGetter.call(controller.signal)) {
    controller.abort(reasonFor(Atomics.load(ctl, CTL_CANCEL_WHY)))
  }
}

// The signal is made on first use only: most tasks (echo) never look, and an AbortController
// per task would be two allocations per message on the hot path.
function signalFor(): AbortSignal {
  if (!controller) {
    const c = new AbortController()
    const s = c.signal
    // A synchronous task never yields to the event loop, so it could never see a posted cancel:
    // reading `aborted` (or calling throwIfAborted) also polls the shared cancel word.
    Object.defineProperty(s, 'aborted', { get: () => { pollCancel(); return abortedGetter.call(s) } })
    Object.defineProperty(s, 'throwIfAborted', { value: () => { pollCancel(); AbortSignal.prototype.throwIfAborted.call(s) } })
    controller = c
    pollCancel()
  }
  return controller.signal
}

/** One context object reused by every task (tasks run one at a time in a worker). */
const ctx: TaskContext = {
  get signal() { return signalFor() },
  progress(pct: number, message?: string) {
    if (current === 0) return
    const p = Math.max(0, Math.min(100, Math.round(Number(pct) || 0)))
    write(RES_PROGRESS, current, p, message ?? '')
  },
}

parentPort?.on('message', (m: { t: string; id: number; why: number }) => {
  if (m.t === 'cancel' && m.id === current && controller && !abortedGetter.call(controller.signal)) controller.abort(reasonFor(m.why))
})

// ---------------------------------------------------------------- responses

function ringBell(): void {
  // Only a parked main thread needs the doorbell, and only once per sleep: the exchange makes
  // the rest of a burst skip it (see doorbell.ts for the ordering argument and the two modes).
  if (Atomics.load(bell, BELL_SLEEPING) !== 0 && Atomics.exchange(bell, BELL_SLEEPING, 0) !== 0) {
    if (bellPort) bellPort.postMessage(0)
    else {
      Atomics.add(bell, BELL_RING, 1)
      Atomics.notify(bell, BELL_RING)
    }
  }
}

function write(kind: number, id: number, aux: number, text: string): void {
  while (!res.writeString(kind, id, aux, text)) {
    // Ring full: the main thread drains it asynchronously; make sure it is awake, then wait.
    ringBell()
    res.waitForSpace(1)
  }
  ringBell()
}

/**
 * When the last task finished (performance.now()), or 0 once the worker has waited for work since.
 * A task that starts straight after another takes that reading as its start: one clock read per
 * task instead of two (a read costs ~40 ns here, a tenth of an echo task's whole cost in the
 * worker; bench/pool "echo/s"). Its run time then also covers taking its request from the ring
 * and decoding its input, which is part of what it costs anyway.
 */
let lastEnd = 0

function elapsedUs(t0: number): number {
  const now = performance.now()
  lastEnd = now
  return Math.min(AUX_MASK, Math.round((now - t0) * 1000))
}

function finishOk(id: number, value: unknown, t0: number): void {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (e) {
    finishErr(id, e, t0)
    return
  }
  write(RES_OK, id, elapsedUs(t0), json ?? 'null')
}

function finishErr(id: number, e: unknown, t0: number): void {
  let body: string
  const reason = controller && abortedGetter.call(controller.signal) ? controller.signal.reason : undefined
  const err = e === reason && reason instanceof AppError ? reason : e
  if (err instanceof AppError) {
    const code = err.code === 'task_timeout' || err.code === 'client_closed' || err.code === 'unknown_task' ||
      err.code === 'invalid_json' || err.code === 'invalid_input' || err.code === 'too_deep' ||
      // A task may say a resource is missing (cars.lookup of an unknown id -> 404).
      err.code === 'not_found' ? err.code : 'task_failed'
    try {
      body = JSON.stringify({ code, message: err.message, details: err.details })
    } catch {
      body = JSON.stringify({ code, message: err.message })
    }
  } else {
    const message = e instanceof Error ? e.message : String(e)
    body = JSON.stringify({ code: 'task_failed', message: message || 'The task failed' })
  }
  write(RES_ERR, id, elapsedUs(t0), body)
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function'
}

/** Runs one task; returns a promise only when the task is asynchronous. */
function runOne(id: number, index: number, input: string): Promise<void> | undefined {
  current = id
  controller = undefined
  const t0 = lastEnd !== 0 ? lastEnd : performance.now()
  let out: unknown
  try {
    out = executor.runAt(index, input, ctx)
  } catch (e) {
    finishErr(id, e, t0)
    current = 0
    return undefined
  }
  if (isThenable(out)) {
    return Promise.resolve(out).then(
      (v) => { finishOk(id, v, t0); current = 0 },
      (e: unknown) => { finishErr(id, e, t0); current = 0 },
    )
  }
  finishOk(id, out, t0)
  current = 0
  return undefined
}

// ---------------------------------------------------------------- the loop

parentPort?.postMessage({ t: 'ready', catalog } satisfies WorkerEvent)
// Start-up is over: tasks get the normal JIT (startup-jit.ts), and start-up garbage is collected
// once, now (an idle worker parks in Atomics.wait and would otherwise keep it).
endStartupJit()
Bun.gc(true)

let spin = SPIN_MIN
while (Atomics.load(ctl, CTL_STOP) === 0) {
  if (!req.poll()) {
    const t0 = performance.now()
    const hit = req.waitForData(spin, IDLE_WAIT_MS)
    // Adaptive: spin longer when work came during the spin or soon after we parked (a longer
    // spin would have caught it and saved the main thread a futex wake); shorter after a real
    // idle period, so an idle pool decays to ~64 loads per wake-up and costs ~0 % CPU.
    spin = hit || performance.now() - t0 < SHORT_PARK_MS ? Math.min(SPIN_MAX, spin * 2) : Math.max(SPIN_MIN, spin >> 1)
    lastEnd = 0 // the next task's start is not the last one's end
    continue
  }
  if (req.kind !== REQ_QUEUED || !req.claim()) {
    req.skip() // stolen back by the main thread (moved to an idle worker, or canceled)
    continue
  }
  const id = req.id
  const index = req.aux // a request's aux: the task's catalogue index (protocol.ts)
  let input: string
  try {
    input = req.text()
  } catch (e) {
    req.release()
    finishErr(id, e, performance.now())
    continue
  }
  req.release()
  const pending = runOne(id, index, input)
  if (pending) await pending
}
process.exit(0)
