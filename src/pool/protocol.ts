/**
 * The wire layout shared by the main thread and the workers: control-word indices, message kinds,
 * the flags packed into message headers, and the two messages that go by postMessage (what a
 * worker gets at start, what it reports back). Both sides import this file, so it is the whole
 * protocol and the main side never imports the worker entrypoint, not even for types; see ring.ts
 * for the ring itself and docs/pool.md for the picture.
 *
 * @example
 * ```ts
 * if (ring.kind === REQ_QUEUED && ring.claim()) runTask(ring.id, ring.aux) // aux: catalogue index
 * ```
 */
import type { MessagePort } from 'node:worker_threads'
import type { TaskInfo } from '../tasks/types.ts'

/** Bytes per cache line; every control word sits alone on one so writers never false-share. */
export const CACHE_LINE = 64
/** Int32 slots per cache line. */
export const WORDS_PER_LINE = CACHE_LINE / 4

/**
 * Message header: 4 Int32 words = 16 bytes `[kind, length, id, aux]`; messages are padded to
 * multiples of it.
 *
 * Word 3, `aux` (ring.ts `Ring#aux`), is a number whose meaning depends on the kind:
 * - a request (REQ_*): the task's index in the workers' catalogue (the worker runs it by index,
 *   no name lookup);
 * - a result (RES_OK, RES_ERR): how long the run took, in microseconds (the pool's `runMs` and
 *   utilisation);
 * - progress (RES_PROGRESS): the percentage the task reported, 0..100.
 * Its top bit {@link FLAG_SIDE} is a flag of any kind; the value is `aux & AUX_MASK`.
 */
export const HEADER_BYTES = 16

// Word 0 of a message: its kind. Request messages use it as a state the two sides CAS on.
/** Filler from here to the end of the ring; the reader skips to offset 0. */
export const KIND_PAD = 1
/** A request waiting in the ring: the worker may claim it, the main thread may steal it. */
export const REQ_QUEUED = 2
/** A request the worker claimed (CAS QUEUED→TAKEN): it runs or ran. */
export const REQ_TAKEN = 3
/** A request the main thread took back (CAS QUEUED→STOLEN): the worker skips it. */
export const REQ_STOLEN = 4
/** A task's result: the payload is its JSON bytes. */
export const RES_OK = 5
/** A task's failure: the payload is `{"code","message","details"?}` JSON. */
export const RES_ERR = 6
/** Progress of the running task: aux = percent, payload = UTF-8 message. */
export const RES_PROGRESS = 7

/** Bit of word 3 (aux): the payload travels through the side channel (too big for the ring). */
export const FLAG_SIDE = 1 << 30
/** Mask of the value part of word 3 (aux): a run time is capped at this many µs (~18 min). */
export const AUX_MASK = FLAG_SIDE - 1

// Words of the per-worker control block (an Int32Array over its own SharedArrayBuffer).
/** Main sets it to ask the worker to leave its loop. */
export const CTL_STOP = 0
/** Id of the running task the main thread wants canceled (0: none). */
export const CTL_CANCEL = WORDS_PER_LINE
/** Why: 1 = timeout, 2 = canceled by the caller. */
export const CTL_CANCEL_WHY = WORDS_PER_LINE + 1
/** Int32 words of the control block. */
export const CTL_WORDS = WORDS_PER_LINE * 2

// Words of the pool-wide doorbell block.
/** waitAsync mode: bumped (Atomics.add + notify) by a worker that publishes a response while the main thread sleeps. */
export const BELL_RING = 0
/** 1 while the main thread is (about to be) parked in Atomics.waitAsync. */
export const BELL_SLEEPING = WORDS_PER_LINE
/** Int32 words of the doorbell block. */
export const BELL_WORDS = WORDS_PER_LINE * 2

/** Cancel reasons written to {@link CTL_CANCEL_WHY}. */
export const WHY_TIMEOUT = 1
export const WHY_CANCELED = 2

/** What the pool hands a worker at start (workerData). */
export interface WorkerInit {
  req: SharedArrayBuffer
  res: SharedArrayBuffer
  ctl: SharedArrayBuffer
  bell: SharedArrayBuffer
  port: MessagePort
  /** Module URL exporting `TASKS` to load besides the registry (tests). */
  extraTasks?: string
  /** Upper bound of the adaptive spin (Atomics.load iterations before parking). */
  spinMax: number
  /** Where to ring the doorbell with a postMessage (message mode); absent: Atomics.notify. */
  bellPort?: MessagePort
  /** Nice value this thread sets for itself (0: leave it); see nice.ts. */
  nice?: number
}

/** What a worker posts on parentPort: `ready` once (results use the ring, the doorbell its own port). */
export type WorkerEvent = { t: 'ready'; catalog: TaskInfo[] }
