/**
 * An intrusive doubly linked FIFO of waiters, shared by the primitives in `src/sync`.
 *
 * Why not an array: an aborted waiter must leave the middle of the queue, and `Array#splice` is
 * O(n) per abort. With the links stored in the waiter itself, push, shift and remove are O(1)
 * and allocate nothing beyond the waiter object the caller already made.
 *
 * @example
 * ```ts
 * interface W extends WaitNode<W> { resolve(): void }
 * const q = new WaitList<W>()
 * const w: W = { prev: null, next: null, linked: false, resolve: () => {} }
 * q.push(w); q.remove(w) // true; a second remove is a no-op and returns false
 * ```
 */
export interface WaitNode<N> {
  prev: N | null
  next: N | null
  /** True while the node sits in a list: makes `remove` idempotent. */
  linked: boolean
}

/** FIFO of {@link WaitNode}s with O(1) removal from anywhere. */
export class WaitList<N extends WaitNode<N>> {
  head: N | null = null
  tail: N | null = null
  size = 0

  /** Appends `n` at the tail. */
  push(n: N): void {
    n.prev = this.tail
    n.next = null
    n.linked = true
    if (this.tail === null) this.head = n
    else this.tail.next = n
    this.tail = n
    this.size++
  }

  /** Removes and returns the head, or null when empty. */
  shift(): N | null {
    const n = this.head
    if (n !== null) this.remove(n)
    return n
  }

  /** Unlinks `n`; false when it was not in the list (already woken or removed). */
  remove(n: N): boolean {
    if (!n.linked) return false
    if (n.prev === null) this.head = n.next
    else n.prev.next = n.next
    if (n.next === null) this.tail = n.prev
    else n.next.prev = n.prev
    n.prev = null
    n.next = null
    n.linked = false
    this.size--
    return true
  }
}

/** A settled promise shared by every fast path, so an uncontended acquire or send allocates no promise (bench/sync: uncontended acquire+release at 0.5-0.93x the cost of a new Promise per acquire). */
export const RESOLVED: Promise<void> = Promise.resolve()

/** The reason an aborted signal carries, or a standard AbortError when it carries none. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError')
}

/** Longest delay `setTimeout` honours; a longer one (or Infinity) fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * `setTimeout` that treats Infinity as "never" and clamps the rest to {@link MAX_TIMER_MS}
 * (about 24.8 days), where a bare `setTimeout(fn, Infinity)` would fire after 1 ms.
 */
export function startTimer(fn: () => void, ms: number): ReturnType<typeof setTimeout> | undefined {
  if (ms === Infinity) return undefined
  return setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS))
}
