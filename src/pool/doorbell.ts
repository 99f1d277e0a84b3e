/**
 * The main thread's side of the doorbell: how it learns that workers published responses without
 * ever blocking or spinning. Workers ring it (see `ringBell` in worker.ts) only while the main
 * thread is parked; this class parks and calls `drain` when it rings.
 *
 * Parking: the main thread stores SLEEPING=1, loads RING (`seen`), drains every response ring
 * once more, checks SLEEPING is still 1, and then goes idle: in `message` mode it simply returns
 * to the event loop (a worker's `postMessage(0)` wakes it: `ring()`); in `waitAsync` mode it
 * awaits `Atomics.waitAsync(RING, seen)` (a worker's `Atomics.add(RING)` + notify wakes it).
 * `message` is the default: on Bun 1.4.5 it wakes the main thread about twice as fast
 * (round trip p50 ~10 µs against ~19 µs in an in-process A/B, same pipelined throughput).
 *
 * Ordering argument. A worker publishes its response (Atomics.store of the ring's TAIL), then
 * `Atomics.exchange(SLEEPING, 0)`, and rings only if that returned 1. With sequentially
 * consistent Atomics: if the worker's exchange came before the main thread's store, its publish
 * did too, so the final drain sees it; if it came after and returned 1, the main thread either
 * has parked (the ring wakes it; in waitAsync mode a bump before `seen` was loaded means the
 * publish preceded the drain, a bump after makes waitAsync resolve) or is between its store
 * and its check, and the check sees SLEEPING=0 and goes round; if it came after and returned
 * 0, another worker cleared SLEEPING after the store, which the check also sees. So no response
 * is left unread, and there is one notification per sleep however many responses follow. A ring
 * that arrives while the main thread is not parked is ignored: it is already going round.
 *
 * Neither a pending waitAsync nor an unref'd worker keeps the process alive (the pool's
 * watchdog interval does, while tasks are outstanding).
 *
 * @example
 * ```ts
 * const bell = new Doorbell(() => drainAllRings(), true)
 * worker.on('message', (m) => { if (m === 0) bell.ring() })
 * bell.start()
 * ```
 */
import { BELL_RING, BELL_SLEEPING, BELL_WORDS } from './protocol.ts'

/** Rounds of microtask re-checks before one yields to I/O and timers with setImmediate. */
const MICROTASK_ROUNDS = 16

/** Parks the main thread on a shared word until a worker rings. */
export class Doorbell {
  /** The shared words, handed to every worker. */
  readonly sab = new SharedArrayBuffer(BELL_WORDS * 4)
  readonly #i32 = new Int32Array(this.sab)
  #armed = false
  #stopped = false
  #rounds = 0

  /**
   * `drain` reads every response ring and returns how many messages it handled; `viaMessage`
   * picks `message` mode (workers post to wake it) over `waitAsync` mode.
   */
  constructor(private readonly drain: () => number, readonly viaMessage = true) {}

  /** A worker's doorbell message arrived (message mode). */
  ring(): void {
    if (this.#armed) this.#onBell()
  }

  /** Starts listening (drains once, then parks). */
  start(): void {
    this.#sleep()
  }

  /** Stops for good and releases the pending waitAsync. */
  stop(): void {
    this.#stopped = true
    Atomics.add(this.#i32, BELL_RING, 1)
    Atomics.notify(this.#i32, BELL_RING)
  }

  #sleep(): void {
    if (this.#armed || this.#stopped) return
    const bell = this.#i32
    Atomics.store(bell, BELL_SLEEPING, 1)
    const seen = Atomics.load(bell, BELL_RING)
    if (this.drain() > 0 || Atomics.load(bell, BELL_SLEEPING) === 0) {
      Atomics.store(bell, BELL_SLEEPING, 0)
      this.#again()
      return
    }
    if (this.viaMessage) {
      this.#armed = true
      this.#rounds = 0
      return
    }
    const r = Atomics.waitAsync(bell, BELL_RING, seen)
    if (!r.async) {
      Atomics.store(bell, BELL_SLEEPING, 0)
      this.#again()
      return
    }
    this.#armed = true
    this.#rounds = 0
    void r.value.then(this.#onBell)
  }

  /** More responses may be coming: look again soon, letting resolved callers run first. */
  #again(): void {
    // Microtasks keep a busy pipeline tight; every 16th round yields to I/O and timers so the
    // HTTP server is never starved by a stream of results.
    if (++this.#rounds < MICROTASK_ROUNDS) queueMicrotask(this.#onBell)
    else {
      this.#rounds = 0
      setImmediate(this.#onBell)
    }
  }

  /**
   * One round: drain, then either go round again (something was there, so more is likely
   * coming) or park. A busy round never touches SLEEPING: it stays 0, so workers skip the bell,
   * and the word's cache line is not pulled back and forth between the main thread and every
   * worker (three stores per round before, each a full fence that had to win the line back).
   */
  readonly #onBell = (): void => {
    if (this.#armed) {
      this.#armed = false
      Atomics.store(this.#i32, BELL_SLEEPING, 0)
    }
    let n = 0
    try {
      n = this.drain()
    } finally {
      // whatever happened, the doorbell is re-armed
      if (n > 0 && !this.#stopped) this.#again()
      else this.#sleep()
    }
  }
}
