/**
 * The bare ring baselines: the smallest pool that uses the same wake-up protocol as highperf's
 * (worker Atomics.wait with adaptive spin; main thread Atomics.waitAsync on a doorbell), with
 * fixed slots, round-robin dispatch, no queue, no stats, no cancellation.
 *
 * Two modes:
 * - `int` (the bare ring): 16-byte slots carrying one integer; no JSON at all. It is the ceiling
 *   the full pool is measured against ("≥ 80 % of a bare ring").
 * - `json` (the bare ring's floor for a JSON pool): 32-byte slots (two per cache line, like a short message of the pool's ring) carrying the task's JSON text.
 *   The worker does only what any pool that moves JSON through shared memory must do per task:
 *   decode the input from shared memory, `JSON.parse` it (validation needs a value), run the
 *   task, `JSON.stringify` the result into the ring and read the clock once (per-task run-time
 *   stats); the main thread copies the result bytes out into a fresh Uint8Array. It shows how
 *   much of the bare ring's speed is left once that mandatory work is done, with nothing else.
 *
 * @example
 * ```ts
 * const bare = new BareRing(2)
 * await bare.ready()
 * await bare.run(0) // echo 0
 * const json = new BareRing(1, 'json')
 * await json.ready()
 * await json.runJson('{"v":1}') // Uint8Array of '{"v":1}'
 * ```
 */
import { Worker } from 'node:worker_threads'

/** `int`: one integer per task; `json`: JSON text per task (see the file comment). */
export type BareMode = 'int' | 'json'

const SLOTS = 4096
const H = 0, T = 16, SLEEP = 32, STOP = 48, BASE = 64
/** Int32 words per slot: [id, arg] in int mode, [id, length, 6 words of UTF-8] in json mode. */
const WORDS: Record<BareMode, number> = { int: 4, json: 8 }
/** Longest JSON text a json-mode slot carries. */
export const BARE_JSON_MAX = 24

interface W { worker: Worker; rq: Int32Array; rqU8: Uint8Array; rs: Int32Array; rsU8: Uint8Array; tail: number; head: number }

/** A bare ring pool of `workers` threads; see the file comment. */
export class BareRing {
  readonly #ws: W[] = []
  readonly #bell = new Int32Array(new SharedArrayBuffer(128))
  readonly #waiting = new Map<number, (v: number | Uint8Array) => void>()
  readonly #words: number
  #next = 1
  #rr = 0

  constructor(workers: number, readonly mode: BareMode = 'int') {
    this.#words = WORDS[mode]
    for (let i = 0; i < workers; i++) {
      const req = new SharedArrayBuffer((BASE + SLOTS * this.#words) * 4)
      const res = new SharedArrayBuffer((BASE + SLOTS * this.#words) * 4)
      const worker = new Worker(new URL('./bare-worker.ts', import.meta.url), { workerData: { req, res, bell: this.#bell.buffer, mode } })
      this.#ws.push({ worker, rq: new Int32Array(req), rqU8: new Uint8Array(req), rs: new Int32Array(res), rsU8: new Uint8Array(res), tail: 0, head: 0 })
    }
    this.#sleep()
  }

  /** Resolves once every worker answered one request. */
  async ready(): Promise<void> {
    await Promise.all(this.#ws.map((_, i) => this.mode === 'int' ? this.#send(i, -1) : this.#sendJson(i, '0')))
  }

  /** Int mode: echo for arg <= 0, else cpuWork(arg). */
  run(arg: number): Promise<number> {
    const i = this.#rr
    this.#rr = (this.#rr + 1) % this.#ws.length
    return this.#send(i, arg) as Promise<number>
  }

  /** Json mode: echo an ASCII JSON text of at most {@link BARE_JSON_MAX} bytes; resolves with its bytes. */
  runJson(text: string): Promise<Uint8Array> {
    const i = this.#rr
    this.#rr = (this.#rr + 1) % this.#ws.length
    return this.#sendJson(i, text) as Promise<Uint8Array>
  }

  #send(i: number, arg: number): Promise<number | Uint8Array> {
    const w = this.#ws[i] as W
    const id = this.#next++
    const s = BASE + (w.tail & (SLOTS - 1)) * this.#words
    w.rq[s] = id
    w.rq[s + 1] = arg
    return this.#publish(w, id)
  }

  #sendJson(i: number, text: string): Promise<number | Uint8Array> {
    const w = this.#ws[i] as W
    const id = this.#next++
    const s = BASE + (w.tail & (SLOTS - 1)) * this.#words
    w.rq[s] = id
    w.rq[s + 1] = text.length
    const at = (s + 2) * 4
    for (let k = 0; k < text.length; k++) w.rqU8[at + k] = text.charCodeAt(k)
    return this.#publish(w, id)
  }

  #publish(w: W, id: number): Promise<number | Uint8Array> {
    w.tail = (w.tail + 1) | 0
    Atomics.store(w.rq, T, w.tail)
    if (Atomics.load(w.rq, SLEEP) !== 0) Atomics.notify(w.rq, T, 1)
    return new Promise((resolve) => this.#waiting.set(id, resolve))
  }

  #drain(): number {
    let n = 0
    const json = this.mode === 'json'
    for (const w of this.#ws) {
      const tail = Atomics.load(w.rs, T)
      while (w.head !== tail) {
        const o = BASE + (w.head & (SLOTS - 1)) * this.#words
        const id = w.rs[o] as number
        let v: number | Uint8Array
        if (json) {
          // The one copy out of shared memory, as the pool's Ring.bytes() does it.
          const len = w.rs[o + 1] as number
          const at = (o + 2) * 4
          v = new Uint8Array(len)
          for (let k = 0; k < len; k++) v[k] = w.rsU8[at + k] as number
        } else v = w.rs[o + 1] as number
        w.head = (w.head + 1) | 0
        const r = this.#waiting.get(id)
        this.#waiting.delete(id)
        r?.(v)
        n++
      }
      Atomics.store(w.rs, H, w.head)
    }
    return n
  }

  #sleep(): void {
    Atomics.store(this.#bell, 16, 1)
    const seen = Atomics.load(this.#bell, 0)
    if (this.#drain() > 0) { Atomics.store(this.#bell, 16, 0); queueMicrotask(this.#wake); return }
    const r = Atomics.waitAsync(this.#bell, 0, seen)
    if (!r.async) { queueMicrotask(this.#wake); return }
    void r.value.then(this.#wake)
  }

  readonly #wake = (): void => {
    Atomics.store(this.#bell, 16, 0)
    this.#drain()
    this.#sleep()
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    for (const w of this.#ws) { Atomics.store(w.rq, STOP, 1); Atomics.notify(w.rq, T) }
    await Promise.all(this.#ws.map((w) => w.worker.terminate()))
    Atomics.add(this.#bell, 0, 1)
    Atomics.notify(this.#bell, 0)
  }
}
