/**
 * Tasks over HTTP: `GET /tasks` lists what the workers can run; `POST /tasks/:name` runs one on the
 * pool and answers with its result.
 *
 * Zero re-serialisation: the main thread never parses a task's input or result. The body's raw
 * bytes go to `pool.run` (the worker parses and validates them), and the result's JSON bytes become
 * the response body as they came off the ring. `parse: 'none'` keeps Elysia's body parser out of
 * the way; a JSON round trip here would cost a parse and a stringify per request on the one
 * thread that must stay free (bench/tasks-http measures the route).
 *
 * Cancellation: the request's signal (client disconnect, request deadline) is the task's signal,
 * and `?timeoutMs=` (1 … TASK_TIMEOUT) bounds the task; the pool fails it with `task_timeout` (504).
 * `?priority=` (-1000 … 1000, default 0) is the task's place in the pool's queue.
 *
 * @example
 * ```ts
 * app.use(taskRoutes({ pool, config }))
 * // POST /tasks/primes {"n":1000000} -> 200 {"n":1000000,"count":78498}
 * // POST /tasks/nope {}               -> 404 {"error":{"code":"unknown_task",...}}
 * ```
 */
import { Elysia, t } from 'elysia'
import type { Config } from '../config.ts'
import type { TaskInfo } from '../tasks/types.ts'
import type { TaskRunner } from '../pool/types.ts'
import { requestSignal } from '../http/request-state.ts'
import { policyOption } from '../http/route-policy.ts'
import { TASK } from './policy.ts'
import { ErrorSchema, named } from './schemas.ts'
import { clientSchema } from '../tasks/client-limits.ts'
import { catalogOf, jsonBytes, runOptions, timeoutQuery } from './pool-call.ts'

/** What the task routes need. */
export interface TaskRouteDeps {
  pool: TaskRunner
  config: Pick<Config, 'taskTimeout' | 'maxBodySize'>
}

const TaskInfoSchema = named('TaskInfo', t.Object({
  name: t.String({ examples: ['primes'] }),
  summary: t.String({ examples: ['Counts the primes below n (segmented sieve; the CPU benchmark task)'] }),
  input: t.Unknown({ description: 'JSON Schema of the input' }),
  example: t.Optional(t.Unknown({ description: 'An example input' })),
}))

const TaskListSchema = named('TaskList', t.Object(
  { tasks: t.Array(TaskInfoSchema) },
  { examples: [{ tasks: [{ name: 'primes', summary: 'Counts the primes below n', input: { type: 'object' }, example: { n: 1000000 } }] }] },
))

/**
 * `?priority=`: -1000 … 1000, a whole number written plainly (a digit pattern, not t.Numeric,
 * which lets `1e3` and `0x10` through). Higher runs first among queued tasks; below 0 is
 * background work that never takes an overflow worker (docs/pool.md).
 */
const PRIORITY = t.String({
  pattern: '^(?:0|-?[1-9][0-9]{0,2}|-?1000)$',
  description: 'Queue priority, -1000 … 1000 (default 0): higher runs first; below 0 is background work that never starts an overflow worker',
  examples: ['1'],
})

const TaskParams = t.Object({ name: t.String({ minLength: 1, maxLength: 128, description: 'Task name, see GET /tasks', examples: ['primes'] }) })

/**
 * The request body in the OpenAPI document: any JSON, with one example per registered task. The
 * examples are read when the document is generated (a getter), not when the plugin is built: the
 * workers report their catalogue only once they have started.
 */
function requestBodyDoc(pool: TaskRunner) {
  return {
    description: "The task's input as JSON (its schema is in GET /tasks); validated in the worker, 422 with details if it does not match",
    required: false,
    content: {
      'application/json': {
        schema: {},
        get examples(): Record<string, { summary: string; value: unknown }> | undefined {
          const out: Record<string, { summary: string; value: unknown }> = {}
          for (const task of pool.catalog()) if (task.example !== undefined) out[task.name] = { summary: task.summary, value: task.example }
          return Object.keys(out).length ? out : undefined
        },
      },
    },
  }
}

/**
 * The catalogue as clients see it: each input schema's size bounds clamped to what a request body
 * can hold (src/tasks/client-limits.ts). Computed once per catalogue the pool reports.
 */
function clientCatalog(maxBodySize: number): (catalog: readonly TaskInfo[]) => TaskInfo[] {
  let from: readonly TaskInfo[] | undefined
  let view: TaskInfo[] = []
  return (catalog) => {
    if (catalog !== from) {
      from = catalog
      view = catalog.map((task) => ({ ...task, input: clientSchema(task.input, maxBodySize) }))
    }
    return view
  }
}

/** Elysia plugin with `GET /tasks` and `POST /tasks/:name`. */
export function taskRoutes({ pool, config }: TaskRouteDeps) {
  const forClients = clientCatalog(config.maxBodySize)
  return new Elysia({ name: 'highperf/routes/tasks' })
    .use(policyOption)
    .get('/tasks', async ({ request }) => ({ tasks: forClients(await catalogOf(pool, requestSignal(request))) }), {
      policy: TASK,
      detail: {
        summary: 'Lists the registered tasks with their input schemas and examples',
        description: 'Size bounds (maxLength, maxItems) are those a request body of MAX_BODY_SIZE can hold: a task may accept more from a pipeline stage, never from a client.',
        tags: ['tasks'],
      },
      response: { 200: TaskListSchema, 503: ErrorSchema },
    })
    .post(
      '/tasks/:name',
      async ({ params, query, request }) => {
        const body = await request.bytes()
        const options = runOptions(request, query.timeoutMs, config)
        if (query.priority !== undefined) options.priority = Number(query.priority)
        return jsonBytes(await pool.run(params.name, body, options))
      },
      {
        policy: TASK,
        parse: 'none',
        params: TaskParams,
        query: t.Object({ ...timeoutQuery(config).properties, priority: t.Optional(PRIORITY) }),
        detail: {
          summary: 'Runs a task on the worker pool and answers with its result',
          description:
            'The body is passed to the worker untouched and the result comes back as the worker wrote it. ' +
            '404 unknown task, 400 malformed JSON, 422 input not matching the schema (details list the paths), ' +
            '503 + Retry-After when the queue is full, 504 past timeoutMs.',
          tags: ['tasks'],
          requestBody: requestBodyDoc(pool),
        },
        response: {
          200: t.Unknown({ description: "The task's result (JSON)", examples: [{ n: 1000000, count: 78498 }] }),
          400: ErrorSchema,
          404: ErrorSchema,
          422: ErrorSchema,
          500: ErrorSchema,
          503: ErrorSchema,
          504: ErrorSchema,
        },
      },
    )
}
