/**
 * `POST /batch`: fan-out/fan-in over the pool. The body is `{"items": [{"task", "input"}, ...]}`
 * (an object, not a bare array, so options can be added later without breaking clients); the
 * answer is `{"results": [...]}` in input order, one `{"ok": true, "result": …}` or
 * `{"ok": false, "error": {"code", "message", "details"?}}` per item. A failing item is normal,
 * not an error of the batch: the batch answers 200.
 *
 * Time: `?timeoutMs=` (default TASK_TIMEOUT) is the request's deadline; an item gets what is left
 * of it when it starts, minus a small reserve, so a slow item fails in its slot (`task_timeout`)
 * while the batch still answers; an item whose turn comes inside the reserve is not started and
 * fails with `deadline_exceeded`. The batch thus answers 200 just before its deadline.
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
import { ErrGroup } from '../sync/err-group.ts'
import { ErrorSchema } from './schemas.ts'
import { jsonBody } from '../http/json-body/index.ts'
import { remainingMs } from '../http/request-state.ts'
import { policyOption } from '../http/route-policy.ts'
import { TASK } from './policy.ts'
import { JSON_HEADERS, runOptions, timeoutQuery } from './tasks.ts'

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

/** One failed item's JSON: the error's code, message and details, never a stack. */
function itemError(err: unknown): string {
  if (err instanceof AppError) {
    const error = err.details === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, details: err.details }
    return JSON.stringify({ ok: false, error })
  }
  return '{"ok":false,"error":{"code":"internal","message":"Internal error"}}'
}

/**
 * Runs `items` on the pool with at most `limit` in flight and returns the body parts in input
 * order. `timeoutMs()` is asked as each item starts; below 1 the item is not run and fails with
 * `deadline_exceeded`. Rejects with the signal's reason when it aborts (the client is gone: nobody reads a
 * partial answer).
 *
 * @example
 * ```ts
 * const parts = await runBatch(pool, [{ task: 'echo', input: 1 }], 4, { signal, timeoutMs: () => 1000 })
 * ```
 */
export async function runBatch(
  pool: TaskRunner,
  items: ReadonlyArray<{ task: string; input?: unknown }>,
  limit: number,
  options: { signal: AbortSignal | undefined; timeoutMs: (() => number) | undefined },
): Promise<Array<string | Uint8Array>> {
  // Three parts per item (head, result bytes, "}"; a failed item: its error JSON and two empty
  // strings), so every item owns fixed slots and finishing out of order needs no reordering.
  const parts: Array<string | Uint8Array> = new Array(items.length * 3 + 1)
  parts[0] = OPEN
  const group = new ErrGroup({ limit: Math.max(1, limit), ...(options.signal ? { signal: options.signal } : {}) })
  items.forEach((item, i) => {
    const at = 1 + i * 3
    parts[at] = i === 0 ? OK_HEAD : `,${OK_HEAD}`
    group.go(async (signal) => {
      const input = item.input === undefined ? '' : JSON.stringify(item.input)
      try {
        const timeoutMs = options.timeoutMs?.()
        if (timeoutMs !== undefined && timeoutMs < 1) throw new AppError('deadline_exceeded', 'The batch deadline passed before this item started')
        parts[at + 1] = await pool.run(item.task, input, timeoutMs === undefined ? { signal } : { signal, timeoutMs })
        parts[at + 2] = CLOSE_ITEM
      } catch (err) {
        // The group's signal aborts only when the request does: then the whole batch is abandoned.
        if (signal.aborted) throw err
        parts[at] = i === 0 ? itemError(err) : `,${itemError(err)}`
        parts[at + 1] = ''
        parts[at + 2] = ''
      }
    })
  })
  await group.wait()
  parts.push(CLOSE)
  return parts
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
      // Each item gets what is left of the request's time, minus a reserve (10 %, at most 100 ms)
      // so that items timing out end before the request's deadline and the batch can still answer
      // 200 with `task_timeout` in their slots instead of a bare 504 for everything.
      const reserve = Math.min(100, Math.ceil(total * 0.1))
      const timeoutMs = () => Math.floor(Math.min(total, remainingMs(request)) - reserve)
      const parts = await runBatch(pool, body.items, inFlight, { signal, timeoutMs })
      return new Response(new Blob(parts as Array<string | Uint8Array<ArrayBuffer>>), { headers: JSON_HEADERS })
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
