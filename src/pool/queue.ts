/**
 * The main-side task queue: a binary heap ordered by priority (higher first), FIFO among equal
 * priorities (by a sequence number). Canceled entries are removed lazily: `cancel` marks them and
 * `pop` drops them, so cancel is O(1) and `size` counts live entries only.
 *
 * @example
 * ```ts
 * const q = new TaskQueue<{ priority: number; seq: number; dead: boolean }>()
 * q.push({ priority: 1, seq: 1, dead: false })
 * q.pop()
 * ```
 */

/** What the queue needs of an entry. */
export interface Queued {
  priority: number
  seq: number
  /** Set by the owner when the entry was canceled while queued. */
  dead: boolean
}

/** A priority queue of {@link Queued} entries. */
export class TaskQueue<T extends Queued> {
  readonly #heap: T[] = []
  #live = 0

  /** Live (not canceled) entries. */
  get size(): number {
    return this.#live
  }

  push(item: T): void {
    const h = this.#heap
    h.push(item)
    this.#live++
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(item, h[p] as T)) break
      h[i] = h[p] as T
      i = p
    }
    h[i] = item
  }

  /** Highest-priority live entry, removed; undefined when empty. */
  pop(): T | undefined {
    for (;;) {
      const top = this.#popRaw()
      if (top === undefined) return undefined
      if (!top.dead) {
        this.#live--
        return top
      }
    }
  }

  /** Highest-priority live entry without removing it. */
  peek(): T | undefined {
    const h = this.#heap
    while (h.length > 0 && (h[0] as T).dead) this.#popRaw()
    return h[0]
  }

  /** Marks a queued entry dead (the caller guarantees it is in this queue and live). */
  cancel(item: T): void {
    item.dead = true
    this.#live--
  }

  /** Removes and returns every live entry (for shutdown). */
  drain(): T[] {
    const out = this.#heap.filter((t) => !t.dead)
    this.#heap.length = 0
    this.#live = 0
    return out
  }

  #popRaw(): T | undefined {
    const h = this.#heap
    const n = h.length
    if (n === 0) return undefined
    const top = h[0] as T
    const last = h.pop() as T
    if (n > 1) {
      let i = 0
      const m = n - 1
      for (;;) {
        const l = 2 * i + 1
        if (l >= m) break
        const r = l + 1
        const c = r < m && before(h[r] as T, h[l] as T) ? r : l
        if (!before(h[c] as T, last)) break
        h[i] = h[c] as T
        i = c
      }
      h[i] = last
    }
    return top
  }
}

function before(a: Queued, b: Queued): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq)
}
