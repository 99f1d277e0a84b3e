/**
 * `POST /batch`: fan-out/fan-in over the pool. The body is `{"items": [{"task", "input"}, ...]}`
 * (an object, not a bare array, so options can be added later without breaking clients); the
 * answer is `{"results": [...]}` in input order, one `{"ok": true, "result": …}` or
 * `{"ok": false, "error": {"code", "message", "details"?}}` per item. A failing item is normal,
 * not an error of the batch: the batch answers 200.
 *
 * Time: `?timeoutMs=` (default TASK_TIMEOUT) is the request's deadline; an item gets what is left
 * of it when it starts, minus the fan-out's reserve (10 %, at most 250 ms: src/routes/fan-out.ts),
 * so a slow item fails in its slot (`task_timeout`) while the batch still answers; an item whose
 * turn comes inside the reserve is not started and fails with `deadline_exceeded`. The batch thus
 * answers 200 just before its deadline.
 *
 * Bounds: at most BATCH_LIMIT items (413 `payload_too_large` above, so a client knows to split);
 * at most 2 × WORKERS items in flight per batch (an `ErrGroup` with a limit), which keeps every
 * worker busy with one task queued behind it without letting one batch fill the pool's queue
 * ahead of everyone else. When the client disconnects or the deadline passes, items not started
 * are dropped and running ones see their signal abort.
 *
 * Results are not re-serialised: each result's JSON bytes are spliced between small string parts
 * and the parts become the body through one `Blob`. Inputs must be re-encoded (`JSON.stringify`),
 * because the batch body is one JSON document the main thread had to parse to split it.
 *
 * @example
 * ```ts
 * app.use(batchRoutes({ pool, config }))
 * // POST /batch {"items":[{"task":"primes","input":{"n":100}},{"task":"nope","input":{}}]}
 * // -> 200 {"results":[{"ok":true,"result":{"n":100,"count":25}},
 * //                    {"ok":false,"error":{"code":"unknown_task","message":"..."}}]}
 * ```
 */
import { Elysia, t } from 'elysia'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { TaskRunner } from '../pool/types.ts'
import { ErrorSchema } from './schemas.ts'
import { jsonBody } from '../http/json-body/index.ts'
import { remainingMs } from '../http/request-state.ts'
import { policyOption } from '../http/route-policy.ts'
import { TASK } from './policy.ts'
import { JSON_HEADERS, runOptions, timeoutQuery } from './pool-call.ts'
import { batchReserveMs, runBatch, type BatchOptions, type ItemOutcome } from './fan-out.ts'

/** What the batch route needs. */
export interface BatchRouteDeps {
  pool: TaskRunner
  config: Pick<Config, 'taskTimeout' | 'batchLimit' | 'workers'>
}

const BatchItem = t.Object({
  task: t.String({ minLength: 1, maxLength: 128, examples: ['primes'] }),
  input: t.Optional(t.Unknown({ description: "The task's input (omitted: no input)", examples: [{ n: 1000 }] })),
})

const ItemResult = t.Union([
  t.Object({ ok: t.Literal(true), result: t.Unknown() }),
  t.Object({
    ok: t.Literal(false),
    error: t.Object({ code: t.String({ examples: ['invalid_input'] }), message: t.String(), details: t.Optional(t.Unknown()) }),
  }),
])

const OPEN = '{"results":['
const OK_HEAD = '{"ok":true,"result":'
const CLOSE_ITEM = '}'
const CLOSE = ']}'

/**
 * The answer's body parts: each result's JSON bytes between small string parts, in input order,
 * so the results are never re-serialised (the parts become one `Blob`).
 */
function bodyParts(outcomes: ReadonlyArray<ItemOutcome<Uint8Array>>): Array<string | Uint8Array> {
  const parts: Array<string | Uint8Array> = [OPEN]
  outcomes.forEach((o, i) => {
    const comma = i === 0 ? '' : ','
    if (o.ok) parts.push(comma + OK_HEAD, o.value, CLOSE_ITEM)
    else parts.push(comma + JSON.stringify({ ok: false, error: o.error }))
  })
  parts.push(CLOSE)
  return parts
}

/**
 * Runs `items` on the pool through the batch fan-out (src/routes/fan-out.ts): one outcome per
 * item, the result's bytes as the worker wrote them. An item's input is re-encoded once here,
 * as its turn comes.
 *
 * @example
 * ```ts
 * const outcomes = await runTasks(pool, [{ task: 'echo', input: 1 }], { limit: 4, signal, remainingMs: () => 1000, reserveMs: 100 })
 * ```
 */
export function runTasks(pool: TaskRunner, items: ReadonlyArray<{ task: string; input?: unknown }>, options: BatchOptions): Promise<Array<ItemOutcome<Uint8Array>>> {
  return runBatch(items, (item, { signal, timeoutMs }) => {
    const input = item.input === undefined ? '' : JSON.stringify(item.input)
    return pool.run(item.task, input, timeoutMs === undefined ? { signal } : { signal, timeoutMs })
  }, options)
}

/** Elysia plugin with `POST /batch`. */
export function batchRoutes({ pool, config }: BatchRouteDeps) {
  const inFlight = Math.max(1, config.workers * 2)
  return new Elysia({ name: 'highperf/routes/batch' }).use(policyOption).post(
    '/batch',
    async ({ body, query, request }) => {
      if (body.items.length > config.batchLimit) {
        throw new AppError('payload_too_large', `A batch holds at most ${config.batchLimit} items (BATCH_LIMIT); this one has ${body.items.length}: split it`)
      }
      const { signal, timeoutMs: total = config.taskTimeout } = runOptions(request, query.timeoutMs, config)
      // Each item gets what is left of the request's time (?timeoutMs= or TASK_TIMEOUT) minus the
      // fan-out's reserve, so items timing out end in their slots before the request's deadline.
      const outcomes = await runTasks(pool, body.items, {
        limit: inFlight,
        signal,
        remainingMs: () => Math.min(total, remainingMs(request)),
        reserveMs: batchReserveMs(total),
      })
      return new Response(new Blob(bodyParts(outcomes) as Array<string | Uint8Array<ArrayBuffer>>), { headers: JSON_HEADERS })
    },
    {
      policy: TASK,
      ...jsonBody(t.Object(
        { items: t.Array(BatchItem, { description: `At most BATCH_LIMIT (${config.batchLimit}) items; more is a 413` }) },
        { examples: [{ items: [{ task: 'primes', input: { n: 100 } }, { task: 'hash', input: { text: 'hello' } }] }] },
      )),
      query: timeoutQuery(config),
      detail: {
        summary: 'Runs a list of tasks on the pool; one result per item, in input order',
        description:
          `At most ${inFlight} items run at once per batch (2 × WORKERS). A failing item is reported in its slot ` +
          '(ok: false) and does not fail the batch. timeoutMs bounds each item and the whole request.',
        tags: ['tasks'],
      },
      response: {
        200: t.Object(
          { results: t.Array(ItemResult) },
          { examples: [{ results: [{ ok: true, result: { n: 100, count: 25 } }, { ok: false, error: { code: 'unknown_task', message: "No task is registered as 'nope'" } }] }] },
        ),
        400: ErrorSchema,
        413: ErrorSchema,
        422: ErrorSchema,
        504: ErrorSchema,
      },
    },
  )
}
