/**
 * The registry lines: one `export { task } from './file.ts'` per task. Adding a task is writing
 * `src/tasks/<name>.ts` (a `defineTask({...})`) and adding its line here; `registry.ts` collects
 * every export of this file, so nothing else changes. The export names are only identifiers; a
 * task is known by its `name` field.
 *
 * @example
 * ```ts
 * export { upper } from './upper.ts'
 * ```
 */
export { echo } from './echo.ts'
export { hash } from './hash.ts'
export { compress, decompress } from './compress.ts'
export { primes } from './primes.ts'
export { jsonStatsTask } from './json-stats.ts'
export { sleep } from './sleep.ts'
export { carsLookup } from './cars-lookup.ts'
