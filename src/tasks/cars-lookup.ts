/**
 * `cars.lookup`: one car of the catalogue by id; the background processor of seed 002 (where a
 * goroutine answered `GET /api/cars/:id` through a channel, a pool worker answers it through the
 * ring). An unknown id fails with `not_found` (404).
 *
 * The seed slept 100 ms per lookup to "simulate processing time"; that sleep is not reproduced:
 * the `sleep` task exists for demos of slow work.
 *
 * @example POST /tasks/cars.lookup {"id": 1} -> {"id":1,"make":"Audi","model":"A4",...}
 */
import { Type } from '@sinclair/typebox'
import { AppError } from '../errors.ts'
import { findCar } from '../store/cars.ts'
import { defineTask } from './types.ts'

export const carsLookup = defineTask({
  name: 'cars.lookup',
  summary: 'One car of the catalogue by id; unknown id -> not_found',
  input: Type.Object(
    { id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, examples: [1] }) },
    { additionalProperties: false },
  ),
  example: { id: 1 },
  handler(input) {
    const car = findCar(input.id)
    if (!car) throw new AppError('not_found', `Car ${input.id} does not exist`)
    return car
  },
})
