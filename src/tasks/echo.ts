/**
 * `echo`: returns its input unchanged. The trivial task: it measures the pool's own overhead in
 * bench/pool and is the cheapest way to check that bytes survive a round trip.
 *
 * @example POST /tasks/echo {"value": 1} -> {"value": 1}
 */
import { Type } from '@sinclair/typebox'
import { defineTask } from './types.ts'

export const echo = defineTask({
  name: 'echo',
  summary: 'Returns its input unchanged (measures the pool overhead)',
  input: Type.Unknown(),
  example: { value: 1 },
  handler: (input) => input,
})
