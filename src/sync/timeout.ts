/**
 * Deadlines and pauses that honour an `AbortSignal`: Go's `context.WithTimeout` and a
 * cancellable `time.Sleep`.
 *
 * @example
 * ```ts
 * const user = await withTimeout((signal) => fetch(url, { signal }).then((r) => r.json()), 80, { signal: request.signal })
 * await sleep(250, signal)
 * ```
 */
import { AppError } from '../errors.ts'
import { abortReason, startTimer } from './wait-list.ts'

/** Options of {@link withTimeout}. */
export interface WithTimeoutOptions {
  /** Parent cancellation (e.g. the request's signal): aborting it aborts `fn` too. */
  signal?: AbortSignal
  /** The error for an expired deadline (default: `AppError('deadline_exceeded')`, a 504). */
  error?: () => Error
}

/**
 * Runs `fn` with a signal that aborts after `ms` or when `opts.signal` aborts, and rejects at that
 * moment even if `fn` ignores its signal (the late result is dropped). `ms = Infinity` means no
 * deadline (only the parent signal). The timeout error is also
 * the abort reason `fn` sees, so work cancelled by the deadline reports the deadline.
 *
 * @example
 * ```ts
 * const out = await withTimeout((signal) => pool.run('hash', input, { signal }), 100, {
 *   signal: request.signal,
 *   error: () => new AppError('task_timeout'),
 * })
 * ```
 */
export function withTimeout<T>(fn: (signal: AbortSignal) => Promise<T>, ms: number, opts: WithTimeoutOptions = {}): Promise<T> {
  const parent = opts.signal
  if (parent?.aborted) return Promise.reject(abortReason(parent))
  if (!(ms >= 0)) return Promise.reject(new RangeError(`withTimeout needs ms >= 0, got ${ms}`))
  const ctrl = new AbortController()
  return new Promise<T>((resolve, reject) => {
    const onParentAbort = () => {
      cleanup()
      const reason = abortReason(parent as AbortSignal)
      ctrl.abort(reason)
      reject(reason)
    }
    const timer = startTimer(() => {
      cleanup()
      const err = opts.error?.() ?? new AppError('deadline_exceeded', `the deadline of ${ms} ms passed`)
      ctrl.abort(err)
      reject(err)
    }, ms)
    const cleanup = () => {
      if (timer !== undefined) clearTimeout(timer)
      parent?.removeEventListener('abort', onParentAbort)
    }
    parent?.addEventListener('abort', onParentAbort, { once: true })
    let p: Promise<T>
    try {
      p = fn(ctrl.signal)
    } catch (err) {
      p = Promise.reject(err)
    }
    // After a timeout or abort, resolve/reject are no-ops: the first settlement wins.
    Promise.resolve(p).then(
      (v) => {
        cleanup()
        resolve(v)
      },
      (err: unknown) => {
        cleanup()
        reject(err)
      },
    )
  })
}

/**
 * Resolves after `ms` (never for Infinity); an abort rejects at once with `signal.reason` and
 * clears the timer.
 *
 * @example
 * ```ts
 * await sleep(backoffDelay(attempt, 100, 5_000), signal)
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal))
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      if (timer !== undefined) clearTimeout(timer)
      reject(abortReason(signal as AbortSignal))
    }
    const timer = startTimer(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
