import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApp } from '../../src/app.ts'
import { CARS, findCar } from '../../src/store/cars.ts'
import { testDeps, type TestDeps } from '../support/deps.ts'

type Envelope = { error: { code: string; message: string } }

let t: TestDeps
let app: ReturnType<typeof createApp>
const get = (path: string) => app.handle(new Request(`http://localhost${path}`))

beforeAll(async () => {
  // A generous REQUEST_TIMEOUT: these tests are about answers, not the 80 ms hot-read deadline,
  // which a burst of 200 on a loaded 2-core machine may graze.
  t = await testDeps({ workers: 2, rateLimitRps: 0, requestTimeout: 2000 })
  app = createApp(t.deps)
})
afterAll(() => t.close())

describe('cars routes (seed 002)', () => {
  test('GET /api/cars lists the whole catalogue', async () => {
    const res = await get('/api/cars')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('application/json')
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(CARS)))
  })

  test('GET /api/cars/:id answers every car through the pool', async () => {
    const before = t.deps.pool.stats().tasks['cars.lookup']?.ok ?? 0
    for (const car of CARS) {
      const res = await get(`/api/cars/${car.id}`)
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ ...findCar(car.id) })
    }
    // Answered by workers, not the main thread.
    expect((t.deps.pool.stats().tasks['cars.lookup']?.ok ?? 0) - before).toBe(CARS.length)
  })

  test('concurrent lookups each get their own car', async () => {
    const ids = Array.from({ length: 200 }, () => 1 + Math.floor(Math.random() * CARS.length))
    const cars = await Promise.all(ids.map(async (id) => (await get(`/api/cars/${id}`)).json() as Promise<{ id: number }>))
    cars.forEach((c, i) => expect(c.id).toBe(ids[i] as number))
  })

  test('an unknown id is 404 not_found; a non-numeric or non-positive id is 422', async () => {
    const missing = await get(`/api/cars/${CARS.length + 1}`)
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as Envelope).error.code).toBe('not_found')
    for (const bad of ['abc', '0', '-1', '1.5e400']) {
      const res = await get(`/api/cars/${bad}`)
      expect(res.status).toBe(422)
      expect(((await res.json()) as Envelope).error.code).toBe('validation_failed')
    }
  })

  test('the id is the shared positive-integer id: other spellings of a number are 422 naming /id, ids past the safe integers 404', async () => {
    for (const bad of ['01', '0x1', '1e0', '1.0', '+1', '12345678901234567']) {
      const res = await get(`/api/cars/${bad}`)
      expect(res.status).toBe(422)
      const body = (await res.json()) as Envelope & { error: { details?: Array<{ path: string }> } }
      expect(body.error.code).toBe('validation_failed')
      expect(body.error.details?.[0]?.path).toBe('/id')
    }
    const unsafe = await get('/api/cars/9999999999999999')
    expect(unsafe.status).toBe(404)
    expect(((await unsafe.json()) as Envelope).error.code).toBe('not_found')
  })
})
