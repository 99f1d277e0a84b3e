/**
 * A single-producer/single-consumer ring of variable-length messages in a SharedArrayBuffer.
 *
 * Every worker has two: a request ring (main thread writes, worker reads) and a response ring
 * (worker writes, main thread reads). A message is a 16-byte header of four Int32 words
 * `[kind, length, id, aux]` (what `aux` means for each kind: protocol.ts) followed by its payload
 * (UTF-8 JSON written with `TextEncoder.encodeInto` straight into shared memory), padded to a
 * multiple of 16 bytes.
 *
 * Memory layout (bytes):
 * ```
 *   0  HEAD   written only by the reader (position of the next unread byte)
 *  64  TAIL   written only by the writer (position after the last published message)
 * 128  SLEEP  set by the reader while it parks in Atomics.wait on TAIL
 * 192  (spare line)
 * 256  data   `capacity` bytes, a power of two
 * ```
 * Each control word has its own 64-byte cache line, so the writer bumping TAIL never invalidates
 * the line the reader keeps writing HEAD to (false sharing would cost a cache miss per message).
 * Positions are free-running Int32 byte counters; `pos & (capacity - 1)` is the offset and
 * `(tail - head) | 0` the bytes in use, correct across the 2^32 wrap while capacity < 2^30.
 *
 * Memory-ordering argument. JS Atomics are sequentially consistent; plain typed-array accesses
 * are not ordered by themselves but are ordered by the Atomics around them (the JS memory model
 * gives "happens-before" through an Atomics.store/Atomics.load pair on the same word).
 * - The writer fills header and payload with plain stores, then publishes with
 *   `Atomics.store(TAIL)`. The reader `Atomics.load(TAIL)`s before it touches the bytes, so every
 *   byte of every message below TAIL is visible to it (release/acquire through TAIL).
 * - The reader copies or decodes what it needs, then frees the space with `Atomics.store(HEAD)`.
 *   The writer `Atomics.load(HEAD)`s before reusing space, so it never overwrites unread bytes.
 * - Word 0 of a request (its state) is the one word both sides write after publication, and only
 *   with `Atomics.compareExchange`: the worker claims QUEUED→TAKEN, the main thread steals
 *   QUEUED→STOLEN (to move work off a busy worker or cancel it before it starts). Exactly one CAS
 *   wins. The main thread only steals a message whose position is still at or above HEAD, and it
 *   is the only writer, so the slot cannot have been reused between its check and its CAS.
 * - Sleeping: the reader stores SLEEP=1, re-loads TAIL and only then `Atomics.wait(TAIL, seen)`;
 *   the writer stores TAIL and then exchanges SLEEP with 0, notifying if it was set (so a burst
 *   pays for one notify). Sequential consistency makes this a Dekker pair: at least one side sees
 *   the other's store, so a wake-up is never lost, and `Atomics.wait` itself re-checks TAIL
 *   atomically (a notify that comes before the reader parks makes its wait return at once).
 *
 * Messages too big for the ring (payload above `capacity / 4`) take the side path: the payload
 * goes through a `MessagePort` (`sideSend`, posted BEFORE the marker is published) and a marker
 * header with {@link FLAG_SIDE} takes its place in the ring, so order is kept and a huge payload
 * never errors and never waits for space it can never get. The reader takes it back with
 * `receiveMessageOnPort` (`sideRecv`), synchronously, in ring order.
 *
 * @example
 * ```ts
 * const sab = Ring.allocate(1 << 16)
 * const w = new Ring(sab), r = new Ring(sab)
 * w.writeString(REQ_QUEUED, 1, 0, '{"a":1}')
 * if (r.poll()) { console.log(r.text()); r.release() }
 * ```
 */
import { AUX_MASK, FLAG_SIDE, HEADER_BYTES, KIND_PAD, REQ_QUEUED, REQ_STOLEN, REQ_TAKEN, WORDS_PER_LINE } from './protocol.ts'

const HEAD = 0
const TAIL = WORDS_PER_LINE
const SLEEP = WORDS_PER_LINE * 2
/** Bytes before the data area: four cache lines of control words. */
export const RING_DATA_OFFSET = 256

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const align16 = (n: number): number => (n + 15) & ~15
/** Longest payload {@link Ring.bytes} copies byte by byte instead of with slice(). */
const SMALL_COPY_MAX = 64
/** Longest string tried with the char-by-char ASCII copy. */
const ASCII_FAST_MAX = 256

/** Node's Buffer with its (untyped, long-standing) `latin1Slice`, which Bun implements natively. */
type LatinBuffer = Buffer & { latin1Slice(start: number, end: number): string }

/** Moves a side-path payload: the writer's `send` and the reader's `recv`, in the same order. */
export interface SideChannel {
  send(bytes: Uint8Array): void
  recv(): Uint8Array
}

/** One end (or both, in tests) of a ring over a shared buffer made by {@link Ring.allocate}. */
export class Ring {
  readonly i32: Int32Array
  readonly u8: Uint8Array
  readonly capacity: number
  /** Largest payload that travels inline; bigger ones take the side path. */
  readonly maxInline: number
  readonly #mask: number
  #side: SideChannel | undefined

  // Writer state: only the writer's thread touches these.
  #tail: number
  /**
   * The reader's HEAD as last loaded. HEAD only grows, so a stale value only underestimates the
   * free space: #alloc re-loads it only when the cached value says the message does not fit.
   * Loading HEAD per write pulled the cache line the reader dirties on every message across
   * cores once per task (bench/pool "echo/s", pool row; classic SPSC head caching).
   */
  #headSeen: number
  /** Position of the last message written (to steal it back later). */
  lastPos = 0

  // Reader state and the current message, filled by poll(): fields rather than a returned object,
  // so reading a message allocates nothing (bench/pool "pool echo pipelined").
  #head: number
  #seenTail: number
  #next = 0
  #word = 0
  kind = 0
  id = 0
  /** Word 3 of the current message, its flag bit masked off: what it means depends on the kind (protocol.ts HEADER_BYTES). */
  aux = 0
  length = 0
  pos = 0
  /** Byte offset of the current payload in `u8`. */
  payloadOffset = 0

  /** A Buffer view of the whole ring (no copy), for {@link text}. */
  readonly #buf: LatinBuffer
  // The encode-buffer pool: one scratch buffer reused for strings whose size is unknown until encoded.
  #scratch = new Uint8Array(4096)

  /** Makes the shared memory of a ring with `capacity` data bytes (a power of two ≥ 256). */
  static allocate(capacity: number): SharedArrayBuffer {
    if (capacity < 256 || capacity > 1 << 29 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity must be a power of two from 256 to 2^29, got ${capacity}`)
    }
    return new SharedArrayBuffer(RING_DATA_OFFSET + capacity)
  }

  constructor(sab: SharedArrayBuffer, side?: SideChannel) {
    this.i32 = new Int32Array(sab)
    this.u8 = new Uint8Array(sab)
    this.#buf = Buffer.from(sab) as LatinBuffer
    this.capacity = sab.byteLength - RING_DATA_OFFSET
    this.#mask = this.capacity - 1
    this.maxInline = this.capacity / 4
    this.#side = side
    this.#tail = Atomics.load(this.i32, TAIL)
    this.#head = Atomics.load(this.i32, HEAD)
    this.#headSeen = this.#head
    this.#seenTail = this.#head
  }

  /** Sets the side channel (once both ends of its port exist). */
  setSide(side: SideChannel): void {
    this.#side = side
  }

  // ---------------------------------------------------------------- writer

  /** Bytes in use as the writer sees them. */
  used(): number {
    return (this.#tail - Atomics.load(this.i32, HEAD)) | 0
  }

  /** True when the reader has consumed everything published (a writer-side check). */
  drained(): boolean {
    return this.#tail === Atomics.load(this.i32, HEAD)
  }

  /**
   * Writes a message whose payload is `text` encoded as UTF-8, straight into the ring when the
   * worst case (3 bytes per UTF-16 unit) fits. Returns false when the ring is too full right now;
   * never false for a ring with nothing in flight.
   */
  writeString(kind: number, id: number, aux: number, text: string): boolean {
    const n = text.length
    if (n <= ASCII_FAST_MAX) {
      // Short strings are copied char by char while they are ASCII (JSON usually is): no
      // subarray view to allocate and no native call, which were ~12 % of the main thread in the
      // pipelined echo profile (bench/pool, `bun --cpu-prof`). Non-ASCII falls through.
      const off = this.#alloc(align16(HEADER_BYTES + n))
      if (off < 0) return false
      const u8 = this.u8
      const start = RING_DATA_OFFSET + off + HEADER_BYTES
      let i = 0
      for (; i < n; i++) {
        const c = text.charCodeAt(i)
        if (c >= 0x80) break
        u8[start + i] = c
      }
      if (i === n) {
        this.#commit(off, kind, id, aux, n, n)
        return true
      }
      // Not ASCII: abandon the space. If #alloc padded to the end, the pad stays before the
      // tail and is published with the next message (the reader skips pads), so nothing leaks.
    }
    const worst = n * 3
    if (worst <= this.maxInline) {
      const off = this.#alloc(align16(HEADER_BYTES + worst))
      if (off >= 0) {
        const start = RING_DATA_OFFSET + off + HEADER_BYTES
        const { written } = encoder.encodeInto(text, this.u8.subarray(start, start + worst))
        this.#commit(off, kind, id, aux, written, written)
        return true
      }
    }
    // Unknown exact size: encode once into the reused scratch buffer, then copy or side-send.
    // Reusing it (instead of TextEncoder.encode per message) saves one allocation per large message.
    if (this.#scratch.length < worst) this.#scratch = new Uint8Array(Math.max(worst, this.#scratch.length * 2))
    const { written } = encoder.encodeInto(text, this.#scratch)
    const ok = this.writeBytes(kind, id, aux, this.#scratch.subarray(0, written))
    if (this.#scratch.length > 1 << 20) this.#scratch = new Uint8Array(4096)
    return ok
  }

  /** Writes a message with `bytes` as payload (copied). Returns false when the ring is too full now. */
  writeBytes(kind: number, id: number, aux: number, bytes: Uint8Array): boolean {
    const n = bytes.length
    if (n > this.maxInline) {
      const side = this.#side
      if (!side) throw new Error('ring: payload larger than capacity/4 and no side channel')
      const off = this.#alloc(HEADER_BYTES)
      if (off < 0) return false
      side.send(bytes.slice())
      this.#commit(off, kind, id, aux | FLAG_SIDE, n, 0)
      return true
    }
    const off = this.#alloc(align16(HEADER_BYTES + n))
    if (off < 0) return false
    this.u8.set(bytes, RING_DATA_OFFSET + off + HEADER_BYTES)
    this.#commit(off, kind, id, aux, n, n)
    return true
  }

  /**
   * Takes back a request still waiting in the ring (CAS QUEUED→STOLEN); the reader will skip it.
   * False when the reader already claimed it (or consumed it).
   */
  steal(pos: number, id: number): boolean {
    if (((Atomics.load(this.i32, HEAD) - pos) | 0) > 0) return false
    const w = (RING_DATA_OFFSET + (pos & this.#mask)) >> 2
    if (this.i32[w + 2] !== id) return false
    return Atomics.compareExchange(this.i32, w, REQ_QUEUED, REQ_STOLEN) === REQ_QUEUED
  }

  /** Finds room for `need` bytes at the tail, padding to the end first if needed; -1 when full. */
  #alloc(need: number): number {
    const off = this.#tail & this.#mask
    const toEnd = this.capacity - off
    const total = need <= toEnd ? need : toEnd + need
    if ((((this.#tail - this.#headSeen) | 0) + total) > this.capacity) {
      this.#headSeen = Atomics.load(this.i32, HEAD)
      if ((((this.#tail - this.#headSeen) | 0) + total) > this.capacity) return -1
    }
    if (need <= toEnd) return off
    // The pad header is published together with the message that follows it.
    this.i32[(RING_DATA_OFFSET + off) >> 2] = KIND_PAD
    this.#tail = (this.#tail + toEnd) | 0
    return 0
  }

  #commit(off: number, kind: number, id: number, aux: number, length: number, inline: number): void {
    const i32 = this.i32
    const w = (RING_DATA_OFFSET + off) >> 2
    i32[w + 1] = length
    i32[w + 2] = id
    i32[w + 3] = aux
    i32[w] = kind
    this.lastPos = this.#tail
    this.#tail = (this.#tail + align16(HEADER_BYTES + inline)) | 0
    Atomics.store(i32, TAIL, this.#tail) // publishes header and payload
    // exchange, not load: only the first message after the reader parked pays for the notify
    // (a futex wake); the rest of a burst sees 0 (bench/pool "pipelined", profiled).
    if (Atomics.load(i32, SLEEP) !== 0 && Atomics.exchange(i32, SLEEP, 0) !== 0) Atomics.notify(i32, TAIL, 1)
  }

  /** Wakes a reader parked in {@link waitForData} (e.g. after setting a stop flag). */
  wake(): void {
    Atomics.notify(this.i32, TAIL)
  }

  // ---------------------------------------------------------------- reader

  /**
   * Loads the next message into `kind`, `id`, `aux`, `length`, `pos`; false when empty.
   * Padding is skipped here. Call {@link release} (or {@link skip}) before the next poll.
   */
  poll(): boolean {
    const i32 = this.i32
    for (;;) {
      if (this.#head === this.#seenTail) {
        this.#seenTail = Atomics.load(i32, TAIL)
        if (this.#head === this.#seenTail) return false
      }
      const off = this.#head & this.#mask
      const w = (RING_DATA_OFFSET + off) >> 2
      const kind = Atomics.load(i32, w)
      if (kind === KIND_PAD) {
        this.#head = (this.#head + (this.capacity - off)) | 0
        continue
      }
      this.#word = w
      this.kind = kind
      this.length = i32[w + 1] as number
      this.id = i32[w + 2] as number
      const aux = i32[w + 3] as number
      this.aux = aux & AUX_MASK
      this.pos = this.#head
      this.payloadOffset = RING_DATA_OFFSET + off + HEADER_BYTES
      const inline = (aux & FLAG_SIDE) !== 0 ? 0 : this.length
      this.#next = (this.#head + align16(HEADER_BYTES + inline)) | 0
      return true
    }
  }

  /** True when the current message's payload took the side path. */
  get isSide(): boolean {
    return ((this.i32[this.#word + 3] as number) & FLAG_SIDE) !== 0
  }

  /** Claims the current request (CAS QUEUED→TAKEN); false if the main thread stole it first. */
  claim(): boolean {
    return Atomics.compareExchange(this.i32, this.#word, REQ_QUEUED, REQ_TAKEN) === REQ_QUEUED
  }

  /** The current payload as a fresh copy (the one copy out of shared memory). */
  bytes(): Uint8Array {
    if (this.isSide) return this.#recvSide()
    const n = this.length
    if (n <= SMALL_COPY_MAX) {
      // A short payload is copied byte by byte into a fresh array: ~10 ns against ~45 ns for
      // slice(), which gives every copy its own malloc'd ArrayBuffer (slice was ~7 % of the main
      // thread in the pipelined echo profile, bench/pool "echo/s").
      const out = new Uint8Array(n)
      const u8 = this.u8
      const start = this.payloadOffset
      for (let i = 0; i < n; i++) out[i] = u8[start + i] as number
      return out
    }
    return this.u8.slice(this.payloadOffset, this.payloadOffset + n)
  }

  /** The current payload decoded as UTF-8, read straight from shared memory. */
  text(): string {
    if (this.isSide) return decoder.decode(this.#recvSide())
    const u8 = this.u8
    const start = this.payloadOffset
    const end = start + this.length
    if (this.length <= ASCII_FAST_MAX) {
      // A short ASCII payload (JSON usually is) decodes as Latin-1: the same string, made by a
      // one-byte-per-char copy with no UTF-8 state machine, and an 8-bit string, which
      // JSON.parse reads fastest. Decode + JSON.parse of a 7-byte input: 127 → 92 ns
      // (micro-benchmark; bench/pool "echo/s"). The check loop costs a few ns; a non-ASCII byte
      // (a BOM included) falls through to the UTF-8 decoder.
      let i = start
      while (i < end && (u8[i] as number) < 0x80) i++
      if (i === end) return this.#buf.latin1Slice(start, end)
    }
    // A leading BOM: TextDecoder drops it (JSON.parse would reject it); keep that behaviour.
    if (this.length >= 3 && u8[start] === 0xef && u8[start + 1] === 0xbb && u8[start + 2] === 0xbf) {
      return decoder.decode(u8.subarray(start, end))
    }
    // Buffer#toString over one Buffer view of the whole ring: no subarray per message. A worker
    // decodes every task input here: ~55 ns less per message than TextDecoder on a fresh
    // subarray (decode + JSON.parse of a 7-byte input, 188 → 132–145 ns; bench/pool "echo/s").
    return this.#buf.toString('utf8', start, end)
  }

  /** Frees the current message's space for the writer. */
  release(): void {
    this.#head = this.#next
    Atomics.store(this.i32, HEAD, this.#head)
  }

  /**
   * Moves past the current message without publishing HEAD yet: the space is freed for the
   * writer at the next {@link publishHead} (or {@link release}). A reader draining a batch
   * publishes once per batch instead of once per message: an Atomics.store is a full fence and
   * dirties the line the writer reads (bench/pool "echo/s", pool row).
   */
  releaseDeferred(): void {
    this.#head = this.#next
  }

  /** Publishes HEAD after {@link releaseDeferred} calls (a no-op when nothing changed). */
  publishHead(): void {
    if (this.i32[HEAD] !== this.#head) Atomics.store(this.i32, HEAD, this.#head)
  }

  /** Drops the current message unread (its side payload too, to keep the side channel in step). */
  skip(): void {
    if (this.isSide) this.#recvSide()
    this.release()
  }

  /**
   * Worker side: waits until a message may be available. Spins `spin` loads first (cheap when
   * work arrives within microseconds), then parks in Atomics.wait for at most `timeoutMs`.
   * Returns true if data arrived during the spin (the caller adapts its spin budget on that).
   */
  waitForData(spin: number, timeoutMs: number): boolean {
    const i32 = this.i32
    for (let i = 0; i < spin; i++) {
      if (Atomics.load(i32, TAIL) !== this.#head) return true
    }
    Atomics.store(i32, SLEEP, 1)
    const seen = Atomics.load(i32, TAIL)
    if (seen === this.#head) Atomics.wait(i32, TAIL, seen, timeoutMs)
    Atomics.store(i32, SLEEP, 0)
    return false
  }

  /**
   * Writer side, when the ring is full: parks until the reader frees space or `timeoutMs` passes.
   * Only workers call it (the main thread never blocks).
   */
  waitForSpace(timeoutMs: number): void {
    const head = Atomics.load(this.i32, HEAD)
    if (((this.#tail - head) | 0) !== 0) Atomics.wait(this.i32, HEAD, head, timeoutMs)
  }

  #recvSide(): Uint8Array {
    const side = this.#side
    if (!side) throw new Error('ring: side message but no side channel')
    return side.recv()
  }
}
