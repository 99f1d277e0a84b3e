/**
 * The store seam's one helper: a store call answers a value (bun:sqlite, synchronous) or a
 * promise of it (PostgreSQL, over the network), and a route continues with {@link andThen}.
 *
 * Why not `async` everywhere: an `async` handler allocates a promise and resumes through a
 * microtask on every request, so the synchronous bun:sqlite path (a point read in about 1 µs)
 * would pay for a network backend it does not use. `andThen` costs that path one `instanceof`
 * check and one call (bench/storage/seam.ts measures it).
 *
 * @example
 * ```ts
 * return andThen(users.get(id), (user) => user ?? notFound())
 * ```
 */

/** A value now, or later: what a store method answers. */
export type MaybeAsync<T> = T | Promise<T>

/**
 * `next(value)` at once when `value` is already there, else once the promise fulfils.
 *
 * @example andThen(users.count(), (n) => n + 1) // 2, or a Promise of 2
 */
export function andThen<T, R>(value: MaybeAsync<T>, next: (value: T) => R): R | Promise<Awaited<R>> {
  return value instanceof Promise ? (value.then(next) as Promise<Awaited<R>>) : next(value)
}
