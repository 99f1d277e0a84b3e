/**
 * Calls to the job backend that fail cleanly: each is bounded in time, and a failure of Redis or
 * PostgreSQL becomes an `AppError` 503 `jobs_unavailable` with `Retry-After` (an `AppError` thrown
 * by the call itself passes unchanged); and the backend's connection errors, logged at most once
 * per source and period while it is away (each connection reports every reconnect attempt).
 *
 * @example
 * ```ts
 * const job = await guarded(() => queue.getJob(id), 5000, backend)
 * queue.on('error', (err) => warn('queue', err))
 * ```
 */
import { AppError } from '../../errors.ts'
import type { Logger } from '../../log.ts'
import type { Backend } from './connection.ts'

/** 503 `jobs_unavailable` naming the backend (its URL without password) and why. */
export function unavailable(cause: unknown, backend: Pick<Backend, 'kind' | 'where'>): AppError {
  const why = cause instanceof Error ? cause.message : String(cause)
  return new AppError('jobs_unavailable', `The job queue (${backend.kind} at ${backend.where}) cannot be reached: ${why}`, { retryAfter: 2, cause })
}

/** Runs `fn`, rejecting after `timeoutMs`; errors other than `AppError`s become {@link unavailable}. */
export async function guarded<T>(fn: () => Promise<T>, timeoutMs: number, backend: Pick<Backend, 'kind' | 'where'>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    return await Promise.race([fn(), timeout])
  } catch (err) {
    if (err instanceof AppError) throw err
    throw unavailable(err, backend)
  } finally {
    clearTimeout(timer)
  }
}

/**
 * `err` without the `client` pg-pool attaches to an idle client's error: logged, that whole
 * `pg.Client` (its connection parameters, parsers, type tables) made each such line ~3 kB.
 */
function withoutClient(err: unknown): unknown {
  if (!(err instanceof Error) || !('client' in err)) return err
  const copy = Object.assign(Object.create(Object.getPrototypeOf(err) as object) as Error, err, { message: err.message, stack: err.stack })
  delete (copy as { client?: unknown }).client
  return copy
}

/** A warn log per source at most every `everyMs`, with how many were skipped since the last. */
export function throttledWarn(log: Logger, everyMs: number): (source: string, err: unknown) => void {
  const last = new Map<string, number>()
  const skipped = new Map<string, number>()
  return (source, err) => {
    const now = Date.now()
    if (now - (last.get(source) ?? 0) < everyMs) {
      skipped.set(source, (skipped.get(source) ?? 0) + 1)
      return
    }
    last.set(source, now)
    log.warn({ err: withoutClient(err), source, repeatsSinceLast: skipped.get(source) ?? 0 }, `job ${source} connection error (logged at most every ${everyMs / 1000} s)`)
    skipped.set(source, 0)
  }
}
