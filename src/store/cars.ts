/**
 * The cars catalogue of seed 002: a small, fixed list of cars. Pure data and one lookup; it imports
 * nothing, so both the main thread (`GET /api/cars` lists it) and the workers (the `cars.lookup`
 * task answers `GET /api/cars/:id`, the seed's background processor) can load it.
 *
 * @example
 * ```ts
 * findCar(1) // { id: 1, make: 'Audi', model: 'A4', year: 2021, ... }
 * findCar(999) // undefined
 * ```
 */

/** One car of the catalogue. */
export interface Car {
  id: number
  make: string
  model: string
  year: number
  /** List price in US dollars. */
  price: number
  color: string
  fuel: 'petrol' | 'diesel' | 'hybrid' | 'electric'
}

/** Every car, ordered by id (ids are 1..N without gaps). */
export const CARS: readonly Car[] = Object.freeze([
  { id: 1, make: 'Audi', model: 'A4', year: 2021, price: 39_900, color: 'silver', fuel: 'petrol' },
  { id: 2, make: 'BMW', model: '320d', year: 2020, price: 41_500, color: 'black', fuel: 'diesel' },
  { id: 3, make: 'Toyota', model: 'Corolla', year: 2022, price: 23_100, color: 'white', fuel: 'hybrid' },
  { id: 4, make: 'Tesla', model: 'Model 3', year: 2023, price: 40_200, color: 'red', fuel: 'electric' },
  { id: 5, make: 'Volkswagen', model: 'Golf', year: 2019, price: 24_800, color: 'blue', fuel: 'petrol' },
  { id: 6, make: 'Honda', model: 'Civic', year: 2022, price: 25_600, color: 'grey', fuel: 'petrol' },
  { id: 7, make: 'Ford', model: 'Mustang', year: 2021, price: 55_300, color: 'yellow', fuel: 'petrol' },
  { id: 8, make: 'Mercedes-Benz', model: 'C 220', year: 2020, price: 45_900, color: 'black', fuel: 'diesel' },
  { id: 9, make: 'Renault', model: 'Zoe', year: 2021, price: 31_200, color: 'white', fuel: 'electric' },
  { id: 10, make: 'Volvo', model: 'XC60', year: 2023, price: 52_700, color: 'green', fuel: 'hybrid' },
  { id: 11, make: 'Kia', model: 'EV6', year: 2023, price: 48_700, color: 'grey', fuel: 'electric' },
  { id: 12, make: 'Peugeot', model: '308', year: 2018, price: 18_900, color: 'blue', fuel: 'diesel' },
].map((c) => Object.freeze(c as Car)))

/**
 * The car with this id, or undefined. Ids are dense, so this is an index, not a scan (the seed's
 * linear scan would do for 12 cars; the index keeps the task's cost flat if the list grows).
 *
 * @example findCar(4)?.model // 'Model 3'
 */
export function findCar(id: number): Car | undefined {
  const car = CARS[id - 1]
  return car !== undefined && car.id === id ? car : undefined
}
