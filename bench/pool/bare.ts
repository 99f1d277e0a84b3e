/**
 * The bare ring baseline: the smallest pool that uses the same wake-up protocol as highperf's
 * (worker Atomics.wait with adaptive spin; main thread Atomics.waitAsync on a doorbell), with
 * fixed 16-byte slots carrying one integer, round-robin dispatch, no JSON, no queue, no stats.
 * It is the ceiling the full pool is measured against ("≥ 80 % of a bare ring").
 *
 * @example
 * ```ts
 * const bare = new BareRing(2)
 * await bare.ready()
 * await bare.run(0) // echo 0
 * ```
 */
import { Worker } from 'node:worker_threads'

const SLOTS = 4096
const H = 0, T = 16, SLEEP = 32, STOP = 48, BASE = 64

interface W { worker: Worker; rq: Int32Array; rs: Int32Array; tail: number; head: number; pending: number }

export class BareRing {
  readonly #ws: W[] = []
  readonly #bell = new Int32Array(new SharedArrayBuffer(128))
  readonly #waiting = new Map<number, (v: number) => void>()
  #next = 1
  #rr = 0

  constructor(workers: number) {
    for (let i = 0; i < workers; i++) {
      const req = new SharedArrayBuffer((BASE + SLOTS * 4) * 4)
      const res = new SharedArrayBuffer((BASE + SLOTS * 4) * 4)
      const worker = new Worker(new URL('./bare-worker.ts', import.meta.url), { workerData: { req, res, bell: this.#bell.buffer } })
      this.#ws.push({ worker, rq: new Int32Array(req), rs: new Int32Array(res), tail: 0, head: 0, pending: 0 })
    }
    this.#sleep()
  }

  /** Resolves once every worker answered one request. */
  async ready(): Promise<void> {
    await Promise.all(this.#ws.map((_, i) => this.#send(i, -1)))
  }

  /** Echo for arg <= 0, else cpuWork(arg). */
  run(arg: number): Promise<number> {
    const i = this.#rr
    this.#rr = (this.#rr + 1) % this.#ws.length
    return this.#send(i, arg)
  }

  #send(i: number, arg: number): Promise<number> {
    const w = this.#ws[i] as W
    const id = this.#next++
    const s = BASE + (w.tail & (SLOTS - 1)) * 4
    w.rq[s] = id
    w.rq[s + 1] = arg
    w.tail = (w.tail + 1) | 0
    Atomics.store(w.rq, T, w.tail)
    if (Atomics.load(w.rq, SLEEP) !== 0) Atomics.notify(w.rq, T, 1)
    return new Promise((resolve) => this.#waiting.set(id, resolve))
  }

  #drain(): number {
    let n = 0
    for (const w of this.#ws) {
      const tail = Atomics.load(w.rs, T)
      while (w.head !== tail) {
        const o = BASE + (w.head & (SLOTS - 1)) * 4
        const id = w.rs[o] as number
        const v = w.rs[o + 1] as number
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

  async close(): Promise<void> {
    for (const w of this.#ws) { Atomics.store(w.rq, STOP, 1); Atomics.notify(w.rq, T) }
    await Promise.all(this.#ws.map((w) => w.worker.terminate()))
    Atomics.add(this.#bell, 0, 1)
    Atomics.notify(this.#bell, 0)
  }
}
