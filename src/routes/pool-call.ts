/**
 * What every route that runs work on the pool shares: how a request becomes the pool's run
 * options (its signal, `?timeoutMs=` bounded by TASK_TIMEOUT and the request's deadline), how a
 * result's JSON bytes become the answer untouched, and how the task catalogue is read while the
 * workers are still starting. `/tasks`, `/batch` and `/api/cars/:id` use it; none of them imports
 * another route file.
 *
 * @example
 * ```ts
 * app.post('/x', async ({ query, request }) => jsonBytes(await pool.run('echo', '1', runOptions(request, query.timeoutMs, config))), {
 *   query: timeoutQuery(config),
 * })
 * ```
 */
import { t } from 'elysia'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { TaskInfo } from '../tasks/types.ts'
import type { RunOptions, TaskRunner } from '../pool/types.ts'
import { requestSignal, remainingMs } from '../http/request-state.ts'

/**
 * Headers of an answer whose body is JSON bytes already (a task's result, spliced JSON).
 *
 * @example new Response(bytes, { headers: JSON_HEADERS })
 */
export const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const

/**
 * `?timeoutMs=`: the task's own bound, at most TASK_TIMEOUT (a bad value is a 422).
 *
 * @example app.post('/x', handler, { query: timeoutQuery(config) })
 */
export function timeoutQuery(config: Pick<Config, 'taskTimeout'>) {
  return t.Object({
    timeoutMs: t.Optional(
      t.Numeric({
        minimum: 1,
        maximum: config.taskTimeout,
        description: `Milliseconds the task may run (1 … ${config.taskTimeout}, the TASK_TIMEOUT); 504 after it`,
        examples: [1000],
      }),
    ),
  })
}

/**
 * The pool options of a request: its signal (client gone or deadline passed) and the smaller of
 * `?timeoutMs=` / TASK_TIMEOUT and the request's remaining deadline.
 *
 * @example
 * ```ts
 * await pool.run('primes', body, runOptions(request, query.timeoutMs, config))
 * ```
 */
export function runOptions(request: Request, timeoutMs: number | undefined, config: Pick<Config, 'taskTimeout'>): RunOptions {
  const left = remainingMs(request)
  const bound = Math.min(timeoutMs ?? config.taskTimeout, left)
  return { signal: requestSignal(request), timeoutMs: Math.max(1, Math.floor(bound)) }
}

/**
 * The pool's catalogue, waiting (up to `maxWaitMs`) while it is still empty: workers report it
 * when they have started, ~60-100 ms after the pool is built, and an empty list would tell a
 * client that just connected that no task exists. Past the wait: 503 with Retry-After.
 *
 * @example
 * ```ts
 * const tasks = await catalogOf(pool, requestSignal(request))
 * ```
 */
export async function catalogOf(pool: TaskRunner, signal: AbortSignal, maxWaitMs = 5000): Promise<readonly TaskInfo[]> {
  let catalog = pool.catalog()
  for (let waited = 0; catalog.length === 0 && waited < maxWaitMs && !signal.aborted; waited += 10) {
    await Bun.sleep(10)
    catalog = pool.catalog()
  }
  if (catalog.length === 0) throw new AppError('overloaded', 'The pool workers have not started yet; retry shortly', { retryAfter: 1 })
  return catalog
}

/**
 * A result's JSON bytes as a 200 response, untouched.
 *
 * @example return jsonBytes(await pool.run('echo', body))
 */
export function jsonBytes(bytes: Uint8Array): Response {
  return new Response(bytes, { headers: JSON_HEADERS })
}
