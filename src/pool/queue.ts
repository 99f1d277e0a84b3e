/**
 * The main-side task queue: one FIFO per priority (higher priorities first). Almost every task
 * has priority 0, so push and pop are O(1) array operations; a binary heap cost ~7 % of the main
 * thread in the pipelined bench profile (bench/pool, `bun --cpu-prof`), this costs ~1 %.
 * Canceled entries are removed lazily: `cancel` marks them, `pop` drops them, `size` counts live ones.
 *
 * @example
 * ```ts
 * const q = new RunQueue<{ priority: number; dead: boolean }>()
 * q.push({ priority: 1, dead: false })
 * q.pop()
 * ```
 */

/** What the queue needs of an entry. */
export interface Queued {
  priority: number
  /** Set by the queue's `cancel`: the entry is skipped when it reaches the front. */
  dead: boolean
}

class Fifo<T> {
  items: T[] = []
  head = 0
  get empty(): boolean {
    return this.head === this.items.length
  }
  push(x: T): void {
    this.items.push(x)
  }
  unshift(x: T): void {
    if (this.head > 0) this.items[--this.head] = x
    else this.items.unshift(x)
  }
  peek(): T | undefined {
    return this.items[this.head]
  }
  shift(): T | undefined {
    if (this.head === this.items.length) return undefined
    const x = this.items[this.head] as T
    this.items[this.head++] = undefined as unknown as T
    if (this.head === this.items.length) {
      this.items.length = 0
      this.head = 0
    } else if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return x
  }
}

/** A priority queue of {@link Queued} entries, FIFO within a priority. */
export class RunQueue<T extends Queued> {
  readonly #buckets = new Map<number, Fifo<T>>()
  /** Priorities with a bucket, highest first. */
  #order: number[] = []
  #live = 0
  /**
   * The bucket of priority 0 (nearly every task), reached without a Map lookup, and the bucket
   * the last peek() found its entry in, so the pop() after it does not search again. The pool's
   * pump does peek-dispatch-pop per queued task (bench/pool "echo/s": queue ops were ~6 % of the
   * main thread with 1000 tasks in flight).
   */
  #zero: Fifo<T> | undefined
  #peeked: Fifo<T> | undefined

  /** Live (not canceled) entries. */
  get size(): number {
    return this.#live
  }

  /** Adds at the back of its priority. */
  push(item: T): void {
    this.#bucket(item.priority).push(item)
    this.#live++
  }

  /** Adds at the front of its priority (a task taken back from a worker keeps its turn). */
  unshift(item: T): void {
    this.#bucket(item.priority).unshift(item)
    this.#live++
  }

  /** Highest-priority live entry, removed; undefined when empty. */
  pop(): T | undefined {
    const top = this.peek()
    if (top === undefined) return undefined
    ;(this.#peeked as Fifo<T>).shift()
    this.#live--
    return top
  }

  /** Highest-priority live entry without removing it. */
  peek(): T | undefined {
    if (this.#live === 0) return undefined
    const order = this.#order
    for (let i = 0; i < order.length; i++) {
      const p = order[i] as number
      const b = p === 0 ? (this.#zero as Fifo<T>) : (this.#buckets.get(p) as Fifo<T>)
      let x = b.peek()
      while (x !== undefined && x.dead) {
        b.shift()
        x = b.peek()
      }
      if (x !== undefined) {
        this.#peeked = b
        return x
      }
    }
    return undefined
  }

  /**
   * Removes and returns the first live entry, in pop order, that `match` accepts, looking at
   * `limit` live entries at most; undefined when none of them matches. O(limit) plus a splice:
   * for the rare pass that picks short tasks out from behind long ones (the pool's short lane).
   */
  takeFirst(match: (item: T) => boolean, limit: number): T | undefined {
    let seen = 0
    for (const p of this.#order) {
      const b = p === 0 ? (this.#zero as Fifo<T>) : (this.#buckets.get(p) as Fifo<T>)
      const items = b.items
      for (let i = b.head; i < items.length && seen < limit; i++) {
        const x = items[i] as T
        if (x.dead) continue
        seen++
        if (!match(x)) continue
        if (i === b.head) b.shift()
        else items.splice(i, 1)
        this.#live--
        return x
      }
      if (seen >= limit) return undefined
    }
    return undefined
  }

  /** Marks a queued entry dead (the caller guarantees it is in this queue and live). */
  cancel(item: T): void {
    item.dead = true
    this.#live--
  }

  /** Removes and returns every live entry, in pop order (for shutdown). */
  drain(): T[] {
    const out: T[] = []
    for (let x = this.pop(); x !== undefined; x = this.pop()) out.push(x)
    this.#buckets.clear()
    this.#order = []
    this.#zero = undefined
    this.#peeked = undefined
    return out
  }

  #bucket(priority: number): Fifo<T> {
    if (priority === 0 && this.#zero !== undefined) return this.#zero
    let b = this.#buckets.get(priority)
    if (!b) {
      b = new Fifo<T>()
      this.#buckets.set(priority, b)
      this.#order = [...this.#buckets.keys()].sort((a, c) => c - a)
      if (priority === 0) this.#zero = b
    }
    return b
  }
}
