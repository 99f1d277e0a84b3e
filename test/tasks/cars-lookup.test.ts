import { describe, expect, test } from 'bun:test'
import { createExecutor } from '../../src/tasks/execute.ts'
import { carsLookup } from '../../src/tasks/cars-lookup.ts'
import { CARS, findCar } from '../../src/store/cars.ts'
import type { TaskDefinition } from '../../src/tasks/types.ts'
import { AppError } from '../../src/errors.ts'
import { testContext } from './support.ts'

const exec = createExecutor([carsLookup as TaskDefinition])
const codeOf = (input: string) => {
  try { exec.run('cars.lookup', input, testContext()); return 'ok' } catch (e) { return (e as AppError).code }
}

describe('cars.lookup task and the catalogue', () => {
  test('ids are dense from 1, so findCar is an index', () => {
    CARS.forEach((car, i) => expect(car.id).toBe(i + 1))
    expect(findCar(1)?.model).toBe('A4')
    expect(findCar(0)).toBeUndefined()
    expect(findCar(CARS.length + 1)).toBeUndefined()
    expect(findCar(1.5)).toBeUndefined()
  })

  test('every car is found by id through the task', () => {
    for (const car of CARS) expect(exec.run('cars.lookup', JSON.stringify({ id: car.id }), testContext())).toEqual(car)
  })

  test('an unknown id is not_found; a bad id is invalid_input', () => {
    expect(codeOf(`{"id":${CARS.length + 1}}`)).toBe('not_found')
    expect(codeOf('{"id":0}')).toBe('invalid_input')
    expect(codeOf('{"id":"1"}')).toBe('invalid_input')
  })

  test('the catalogue is frozen: a task cannot corrupt it for the next request', () => {
    expect(Object.isFrozen(CARS)).toBe(true)
    expect(Object.isFrozen(CARS[0])).toBe(true)
  })
})
