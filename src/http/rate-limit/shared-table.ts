/**
 * A table of fixed-size slots in a file mapped by every server process of one host (`Bun.mmap`,
 * MAP_SHARED): the storage behind {@link SharedRateLimiter} (shared-limiter.ts). The cluster
 * primary creates the file zero-filled (under /dev/shm) before it forks and passes its path in
 * `HIGHPERF_CLUSTER_RATE_TABLE`; every process maps the same pages, so an `Atomics` operation on
 * them is one hardware atomic that all processes see (the mapping is a plain ArrayBuffer, not a
 * SharedArrayBuffer, but Atomics on it compile to the same locked instructions: 2 processes x
 * 2 000 000 `Atomics.add` on one word gave exactly 4 000 000).
 *
 * Layout, derived from the file's size alone (any zero-filled multiple of 4096 bytes):
 *
 * ```
 * bytes 0..63     header: int32 words [magic+version, seed A, seed B, slot count, reserved…]
 * bytes 64..      slots of 32 bytes: int32 [lock, key hash A, key hash B, unused], float64 [tokens, last ms]
 * ```
 *
 * Nothing needs a separate initialisation step: each header word is set with one
 * `compareExchange(word, 0, value)`, so whichever process maps the file first sets it up and the
 * others read what it wrote (or set the same words themselves; only the first CAS wins). A slot
 * whose two key words are 0 is empty: key hashes never have hash B = 0.
 *
 * A key is its 64-bit hash (two seeded 32-bit hashes: xxHash32 and murmur32v3, both native, no
 * allocation; the seeds are random per table, so nobody outside can aim a key at another's slot).
 * Two keys with one 64-bit hash would share a bucket: about one pair in 2^64 / 8.
 *
 * Each slot has its own lock word for the tiny critical section (read, refill, take, write: no
 * allocation, no await, well under a microsecond). See {@link SharedTable.lock} for what happens
 * when the holder was SIGKILLed inside it.
 *
 * @example
 * ```ts
 * const table = SharedTable.open('/dev/shm/highperf-rate-1234')
 * const slot = table.find('203.0.113.9', Date.now(), (s) => table.fill(s, now))
 * ```
 */

/** `magic` word: "HPRL" with the layout version in the low byte (bump it when the layout changes). */
export const TABLE_MAGIC = 0x48505201

/** Bytes of the header at the start of the file. */
export const HEADER_BYTES = 64
/** Bytes per slot. */
export const SLOT_BYTES = 32
/** Slots a key may live in: its home slot and the next ones, wrapping (bounded probing). */
export const PROBE = 8
/**
 * A lock word unchanged this long (ms) is taken to be held by a dead process and is stolen. The
 * critical section takes under a microsecond; only a holder that was killed, stopped or
 * descheduled by the OS keeps it for milliseconds.
 */
export const STALE_LOCK_MS = 5

const H_MAGIC = 0
const H_SEED_A = 1
const H_SEED_B = 2
const H_SLOTS = 3
// Per slot, in int32 words from the slot's start, and in float64 words.
const S_LOCK = 0
const S_KEY_A = 1
const S_KEY_B = 2
const S_TOKENS = 2
const S_LAST = 3

/** Why a table file cannot be used (the path and the fix are in the message). */
export class SharedTableError extends Error {
  override name = 'SharedTableError'
}

/**
 * One process's view of the mapped table; see the module comment. Slot numbers are plain indexes;
 * the int32 index of a slot's first word is `slot * 8 + 16`, its first float64 index `slot * 4 + 8`.
 *
 * @example
 * ```ts
 * const table = SharedTable.open(path)
 * table.slots // (size - 64) / 32
 * ```
 */
export class SharedTable {
  readonly slots: number
  /** Two seeded 32-bit hashes of the last key given to {@link SharedTable.hash}. */
  hashA = 0
  hashB = 0
  readonly #bytes: Uint8Array
  readonly #i32: Int32Array
  readonly #f64: Float64Array
  readonly #seedA: number
  readonly #seedB: number
  // Lock stamps: this process's id in the high bits, a counter in the low ones, never 0, so a
  // waiter can tell a lock held all along from one released and taken again.
  readonly #stampBase: number
  #stampCount = 0

  private constructor(bytes: Uint8Array, path: string) {
    this.#bytes = bytes
    this.#i32 = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2)
    this.#f64 = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 3)
    this.slots = (bytes.byteLength - HEADER_BYTES) / SLOT_BYTES
    const i32 = this.#i32
    const magic = Atomics.compareExchange(i32, H_MAGIC, 0, TABLE_MAGIC)
    if (magic !== 0 && magic !== TABLE_MAGIC) {
      throw new SharedTableError(`rate-limit table ${path} holds something else (magic 0x${(magic >>> 0).toString(16)}, expected 0x${TABLE_MAGIC.toString(16)}): give a zero-filled file`)
    }
    Atomics.compareExchange(i32, H_SEED_A, 0, randomNonZero())
    Atomics.compareExchange(i32, H_SEED_B, 0, randomNonZero())
    const slots = Atomics.compareExchange(i32, H_SLOTS, 0, this.slots)
    if (slots !== 0 && slots !== this.slots) throw new SharedTableError(`rate-limit table ${path} was laid out for ${slots} slots, this file has room for ${this.slots}`)
    this.#seedA = Atomics.load(i32, H_SEED_A)
    this.#seedB = Atomics.load(i32, H_SEED_B)
    this.#stampBase = (process.pid & 0x3ff) << 20
  }

  /**
   * Maps `path` (MAP_SHARED) and sets the header up if no process has. Throws a
   * {@link SharedTableError} when the file is missing, its size is not a positive multiple of
   * 4096, or it holds another layout.
   *
   * @example const table = SharedTable.open('/dev/shm/highperf-rate-1234')
   */
  static open(path: string): SharedTable {
    let bytes: Uint8Array
    try {
      bytes = Bun.mmap(path, { shared: true })
    } catch (err) {
      throw new SharedTableError(`cannot map the rate-limit table ${path}: ${(err as Error).message}`)
    }
    if (bytes.byteLength < 4096 || bytes.byteLength % 4096 !== 0) {
      throw new SharedTableError(`rate-limit table ${path} is ${bytes.byteLength} bytes: it must be a zero-filled multiple of 4096`)
    }
    return new SharedTable(bytes, path)
  }

  /** Hashes `key` into {@link SharedTable.hashA}/{@link SharedTable.hashB} (hash B never 0). */
  hash(key: string): void {
    this.hashA = Bun.hash.xxHash32(key, this.#seedA) | 0
    this.hashB = Bun.hash.murmur32v3(key, this.#seedB) | 1
  }

  /** The slot holding the hashed key (after {@link SharedTable.hash}), or -1; reads without locking. */
  lookup(): number {
    const home = (this.hashA >>> 0) % this.slots
    for (let p = 0; p < PROBE; p++) {
      const s = (home + p) % this.slots
      if (this.#keyIs(s, this.hashA, this.hashB)) return s
    }
    return -1
  }

  /**
   * The slot to use for the hashed key: the one that holds it; else the first empty one of its
   * probe window; else the one whose `fill(slot)` is highest (the bucket closest to full, i.e.
   * the client that would lose least by being forgotten). Reads without locking: the caller
   * locks the slot and checks {@link SharedTable.owner} again.
   */
  candidate(fill: (slot: number) => number): number {
    const home = (this.hashA >>> 0) % this.slots
    let empty = -1
    let victim = -1
    let best = -Infinity
    for (let p = 0; p < PROBE; p++) {
      const s = (home + p) % this.slots
      const a = Atomics.load(this.#i32, 16 + s * 8 + S_KEY_A)
      const b = Atomics.load(this.#i32, 16 + s * 8 + S_KEY_B)
      if (a === this.hashA && b === this.hashB) return s
      if (b === 0) {
        if (empty < 0) empty = s
      } else if (empty < 0) {
        const f = fill(s)
        if (f > best) { best = f; victim = s }
      }
    }
    // No victim only if every fill was NaN (garbage in a file someone else wrote): the home slot.
    return empty >= 0 ? empty : victim >= 0 ? victim : home
  }

  /** 0 when the slot is empty, 1 when it holds the hashed key, 2 when it holds another. */
  owner(slot: number): 0 | 1 | 2 {
    const b = Atomics.load(this.#i32, 16 + slot * 8 + S_KEY_B)
    if (b === 0) return 0
    return this.#keyIs(slot, this.hashA, this.hashB) ? 1 : 2
  }

  /** Gives the slot (locked by the caller) to the hashed key. */
  claim(slot: number): void {
    Atomics.store(this.#i32, 16 + slot * 8 + S_KEY_A, this.hashA)
    Atomics.store(this.#i32, 16 + slot * 8 + S_KEY_B, this.hashB)
  }

  tokens(slot: number): number {
    return this.#f64[8 + slot * 4 + S_TOKENS] as number
  }

  last(slot: number): number {
    return this.#f64[8 + slot * 4 + S_LAST] as number
  }

  /** Writes a slot's bucket (the caller holds its lock). */
  write(slot: number, tokens: number, last: number): void {
    this.#f64[8 + slot * 4 + S_TOKENS] = tokens
    this.#f64[8 + slot * 4 + S_LAST] = last
  }

  /**
   * Takes the slot's lock and returns the stamp to give back to {@link SharedTable.unlock}.
   *
   * A process SIGKILLed (or stopped) inside the critical section leaves the word locked for
   * ever. A waiter therefore watches the word: while it changes, others are making progress and
   * it keeps waiting; once the SAME stamp has stayed there {@link STALE_LOCK_MS}, it takes the
   * lock over with one `compareExchange(word, thatStamp, ownStamp)`, so of several waiters
   * exactly one steals it. Why that is safe: the section holds no resource but the slot's own
   * numbers, so the worst a steal from a holder that was merely descheduled for 5 ms can do is
   * interleave two updates of one bucket: one request's token is lost or counted twice (its
   * writes are whole, aligned float64 stores, and readers clamp what they read to [0, burst]).
   * That is one token, inside the "within one burst" the limiter promises, against a key that
   * would otherwise be wedged until the table file is recreated. The old holder's unlock is a
   * `compareExchange` from its own stamp, so it never releases the lock its thief now holds.
   *
   * @example
   * ```ts
   * const stamp = table.lock(slot)
   * try { ... } finally { table.unlock(slot, stamp) }
   * ```
   */
  lock(slot: number): number {
    const word = 16 + slot * 8 + S_LOCK
    const count = (this.#stampCount + 1) & 0xfffff || 1
    this.#stampCount = count
    const stamp = this.#stampBase | count
    let seen = Atomics.compareExchange(this.#i32, word, 0, stamp)
    if (seen === 0) return stamp
    let since = performance.now()
    for (let spins = 1; ; spins++) {
      const now = Atomics.load(this.#i32, word)
      if (now === 0) {
        if (Atomics.compareExchange(this.#i32, word, 0, stamp) === 0) return stamp
      } else if (now !== seen) {
        seen = now
        since = performance.now()
      } else if ((spins & 63) === 0 && performance.now() - since > STALE_LOCK_MS) {
        if (Atomics.compareExchange(this.#i32, word, seen, stamp) === seen) return stamp
      }
    }
  }

  /** Releases the lock if this caller still holds it (see {@link SharedTable.lock}). */
  unlock(slot: number, stamp: number): void {
    Atomics.compareExchange(this.#i32, 16 + slot * 8 + S_LOCK, stamp, 0)
  }

  /**
   * Sets the slot's lock word as a process would that then died (tests of the recovery only).
   *
   * @example table.wedge(table.lookup()) // the next lock() of that slot waits STALE_LOCK_MS, then steals
   */
  wedge(slot: number): void {
    Atomics.store(this.#i32, 16 + slot * 8 + S_LOCK, this.#stampBase | 0xfffff)
  }

  /** Bytes mapped (the file's size). */
  get byteLength(): number {
    return this.#bytes.byteLength
  }

  #keyIs(slot: number, a: number, b: number): boolean {
    return Atomics.load(this.#i32, 16 + slot * 8 + S_KEY_A) === a && Atomics.load(this.#i32, 16 + slot * 8 + S_KEY_B) === b
  }
}

function randomNonZero(): number {
  return (crypto.getRandomValues(new Int32Array(1))[0] as number) | 1
}
