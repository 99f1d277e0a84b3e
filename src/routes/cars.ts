/**
 * The cars catalogue of seed 002. `GET /api/cars` lists it from the main thread (static data:
 * serialised once at start, each answer is one `Response` over the same string). `GET
 * /api/cars/:id` is the seed's "background processor": where the Go handler sent the id down a
 * channel to a goroutine and waited on a reply channel, this handler sends it through the pool's
 * ring to a worker running the `cars.lookup` task and awaits the result bytes, which become the
 * body untouched.
 *
 * @example
 * ```ts
 * app.use(carRoutes({ pool, config }))
 * // GET /api/cars/1   -> 200 {"id":1,"make":"Audi","model":"A4",...}
 * // GET /api/cars/99  -> 404 {"error":{"code":"not_found",...}}
 * // GET /api/cars/abc -> 422 {"error":{"code":"validation_failed",...}}
 * ```
 */
import { Elysia, t } from 'elysia'
import type { Config } from '../config.ts'
import type { TaskRunner } from '../pool/types.ts'
import { CARS } from '../store/cars.ts'
import { AppError } from '../errors.ts'
import { ErrorSchema, PositiveIdParams, positiveId } from './schemas.ts'
import { JSON_HEADERS, jsonBytes, runOptions } from './pool-call.ts'
import { policyOption } from '../http/route-policy.ts'
import { HOT_READ } from './policy.ts'

/** What the cars routes need. */
export interface CarRouteDeps {
  pool: TaskRunner
  config: Pick<Config, 'taskTimeout'>
}

const CarSchema = t.Object(
  {
    id: t.Integer({ minimum: 1 }),
    make: t.String(),
    model: t.String(),
    year: t.Integer(),
    price: t.Number({ description: 'List price in US dollars' }),
    color: t.String(),
    fuel: t.Union([t.Literal('petrol'), t.Literal('diesel'), t.Literal('hybrid'), t.Literal('electric')]),
  },
  { examples: [{ id: 1, make: 'Audi', model: 'A4', year: 2021, price: 39900, color: 'silver', fuel: 'petrol' }] },
)

/** Elysia plugin with `GET /api/cars` and `GET /api/cars/:id`. */
export function carRoutes({ pool, config }: CarRouteDeps) {
  // The catalogue never changes while the process runs: serialise it once, not per request.
  const list = JSON.stringify(CARS)
  return new Elysia({ name: 'highperf/routes/cars' })
    .use(policyOption)
    .get('/api/cars', () => new Response(list, { headers: JSON_HEADERS }), {
      policy: HOT_READ,
      detail: { summary: 'Lists the cars catalogue', tags: ['cars'] },
      response: { 200: t.Array(CarSchema) },
    })
    .get(
      '/api/cars/:id',
      async ({ params, request }) => {
        // Past the safe integers an id can name no car (the same rule as /users/:id).
        const id = positiveId(params.id)
        if (id === undefined) throw new AppError('not_found', `Car ${params.id} does not exist`)
        return jsonBytes(await pool.run('cars.lookup', `{"id":${id}}`, runOptions(request, undefined, config)))
      },
      {
        policy: HOT_READ,
        params: PositiveIdParams,
        detail: {
          summary: 'One car by id, looked up by a pool worker',
          description: '404 if unknown; 422 if the id is not a positive integer.',
          tags: ['cars'],
        },
        response: { 200: CarSchema, 404: ErrorSchema, 422: ErrorSchema, 503: ErrorSchema, 504: ErrorSchema },
      },
    )
}
