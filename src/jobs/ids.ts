/**
 * Job ids: UUIDv7 from `Bun.randomUUIDv7()`. The first 48 bits are the creation time in ms and
 * Bun keeps them monotonic within a process, so ids sort by creation and serve as the keyset
 * cursor of `GET /jobs` without a second index.
 *
 * @example
 * ```ts
 * newJobId() // '019a9f1c-7c3e-7d2a-8b41-5f0e2a9c1d33'
 * ```
 */
export function newJobId(): string {
  return Bun.randomUUIDv7()
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** True when `id` has the shape of a job id (lower-case UUID). @example isJobId('x') // false */
export function isJobId(id: string): boolean {
  return UUID.test(id)
}
