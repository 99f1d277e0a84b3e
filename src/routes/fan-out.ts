/**
 * The one fan-out/fan-in of the batch routes (`POST /batch` over the pool, `POST /messages/batch`
 * over the LLM upstream): run every item with at most `limit` in flight, one outcome per item in
 * input order, a failing item reported in its slot rather than failing the batch.
 *
 * Time. Each item is bounded by what is left of the batch's deadline when it starts, minus a
 * reserve ({@link batchReserveMs}), so an item that runs out of time fails in its slot
 * (`task_timeout`, `upstream_timeout`) while the batch can still answer 200 before its own
 * deadline turns everything into one bare 504. An item whose turn comes inside the reserve is not
 * started and fails with `deadline_exceeded`.
 *
 * Cancellation. The request's signal (client gone, deadline passed) is the group's parent: items
 * not started are dropped, running ones see their signal abort, and {@link runBatch} rejects with
 * the signal's reason, since nobody reads a partial answer.
 *
 * @example
 * ```ts
 * const outcomes = await runBatch(items, (item, { signal, timeoutMs }) => pool.run(item.task, item.input, { signal, timeoutMs }), {
 *   limit: 4, signal: requestSignal(request), remainingMs: () => remainingMs(request), reserveMs: batchReserveMs(total),
 * })
 * // [{ ok: true, value: Uint8Array }, { ok: false, error: { code: 'unknown_task', message: '…' } }]
 * ```
 */
import { AppError, type ErrorDetail } from '../errors.ts'
import { ErrGroup } from '../sync/err-group.ts'

/** A failed item as a batch reports it: the error's code, message and details, never a stack. */
export interface ItemError {
  code: string
  message: string
  details?: readonly ErrorDetail[]
}

/** One item's outcome, in its slot. */
export type ItemOutcome<T> = { ok: true; value: T } | { ok: false; error: ItemError }

/**
 * The most an item's bound ends before the batch's deadline.
 *
 * Why 250 ms: the reserve must cover what happens between an item's timeout and the batch's
 * answer on the one main thread: the timer firing late under load (event-loop lag on a busy
 * 2-core server reaches a few tens of ms, and more during a GC), the item's rejection, the answer
 * being assembled and written. /batch used to keep 100 ms and /messages/batch 250 ms for the same
 * job; the larger one is kept because it is the one that does not turn a loaded server's answer
 * into a 504, and it costs an item at most 250 ms of a deadline of seconds (under 1 % of the
 * default TASK_TIMEOUT and LLM_TIMEOUT). Short deadlines keep 10 % instead, so a 600 ms batch
 * still gives its items 540 ms.
 */
export const MAX_BATCH_RESERVE_MS = 250

/**
 * The reserve of a batch whose deadline is `totalMs` away: 10 % of it, at most
 * {@link MAX_BATCH_RESERVE_MS}; 0 without a deadline (Infinity).
 *
 * @example batchReserveMs(600) // 60; batchReserveMs(30_000) // 250; batchReserveMs(Infinity) // 0
 */
export function batchReserveMs(totalMs: number): number {
  if (!Number.isFinite(totalMs)) return 0
  return Math.min(MAX_BATCH_RESERVE_MS, Math.ceil(totalMs * 0.1))
}

/**
 * An error as an item's slot shows it: an AppError's code, message and details; anything else is
 * `internal` (its message may hold what a client must not see).
 *
 * @example itemError(new AppError('unknown_task', "No task is registered as 'x'")) // { code: 'unknown_task', message: "No task is registered as 'x'" }
 */
export function itemError(err: unknown): ItemError {
  if (err instanceof AppError) {
    return err.details === undefined ? { code: err.code, message: err.message } : { code: err.code, message: err.message, details: err.details }
  }
  return { code: 'internal', message: 'Internal error' }
}

/** Options of {@link runBatch}. */
export interface BatchOptions {
  /** Most items in flight at once (at least 1). */
  limit: number
  /** The request's signal: aborting it abandons the batch (see the module comment). */
  signal: AbortSignal | undefined
  /** Milliseconds left of the batch's deadline, asked as each item starts; Infinity: none. */
  remainingMs: () => number
  /** Milliseconds an item's bound ends before the batch's deadline ({@link batchReserveMs}). */
  reserveMs: number
}

/** What one item's run gets: the group's signal and its bound (undefined: no deadline). */
export interface ItemContext {
  signal: AbortSignal
  timeoutMs: number | undefined
}

/**
 * Runs `run` over `items` with at most `options.limit` in flight; resolves with one outcome per
 * item in input order. Rejects with the signal's reason when `options.signal` aborts.
 *
 * @example
 * ```ts
 * const outcomes = await runBatch(['a', 'b'], (text, { signal, timeoutMs }) => llm.chat({ input: text }, { signal, timeoutMs }), options)
 * ```
 */
export async function runBatch<I, T>(
  items: readonly I[],
  run: (item: I, context: ItemContext) => Promise<T>,
  options: BatchOptions,
): Promise<Array<ItemOutcome<T>>> {
  const outcomes: Array<ItemOutcome<T>> = new Array(items.length)
  const group = new ErrGroup({ limit: Math.max(1, options.limit), ...(options.signal ? { signal: options.signal } : {}) })
  items.forEach((item, i) => {
    group.go(async (signal) => {
      try {
        const left = options.remainingMs()
        const timeoutMs = left === Infinity ? undefined : Math.floor(left - options.reserveMs)
        if (timeoutMs !== undefined && timeoutMs < 1) throw new AppError('deadline_exceeded', 'The batch deadline passed before this item started')
        outcomes[i] = { ok: true, value: await run(item, { signal, timeoutMs }) }
      } catch (err) {
        // The group's signal aborts only when the request does: then the whole batch is abandoned.
        if (signal.aborted) throw err
        outcomes[i] = { ok: false, error: itemError(err) }
      }
    })
  })
  await group.wait()
  return outcomes
}
