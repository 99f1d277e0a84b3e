/**
 * Go's `select` over channel operations, typed: the result says which case fired, and narrowing
 * on `index` gives that case's value type.
 *
 * - `recvFrom(ch)` is `case v, ok := <-ch`; `sendTo(ch, v)` is `case ch <- v`.
 * - When several cases are ready, one is chosen at random (as in Go), so no channel starves.
 * - `{ default: true }` is Go's `default:` (never waits); `{ timeoutMs }` is a
 *   `case <-time.After(d)`. Both answer `{ index: -1, reason }`.
 * - `{ signal }` is `case <-ctx.Done()`: abort rejects with `signal.reason` and no case fires.
 * - A send case on a closed channel rejects with `ChannelClosedError` (Go panics).
 *
 * @example
 * ```ts
 * const r = await select([recvFrom(jobs), recvFrom(quit), sendTo(out, pending)], { timeoutMs: 500, signal })
 * switch (r.index) {
 *   case 0: if (r.ok) handle(r.value); break        // r.value: Job
 *   case 1: return                                  // quit
 *   case 2: pending = next(); break                 // out accepted the value
 *   case -1: log.info('idle for 500 ms'); break     // r.reason === 'timeout'
 * }
 * ```
 */
import { Channel, ChannelClosedError, channelInternals, type RecvWaiter, type SelectGroup, type SendWaiter } from './channel.ts'
import { abortReason, startTimer } from './wait-list.ts'

/** A receive case: `case v, ok := <-channel`. */
export interface RecvCase<T> {
  readonly kind: 'recv'
  readonly channel: Channel<T>
}

/** A send case: `case channel <- value`. */
export interface SendCase<T> {
  readonly kind: 'send'
  readonly channel: Channel<T>
  readonly value: T
}

/** One case of a {@link select}. */
export type SelectCase<T> = RecvCase<T> | SendCase<T>

/** Options of {@link select}. */
export interface SelectOptions {
  /** Give up after this many milliseconds with `{ index: -1, reason: 'timeout' }`. */
  timeoutMs?: number
  /** Abort: reject with `signal.reason` without firing any case. */
  signal?: AbortSignal
  /** Go's `default:` answer `{ index: -1, reason: 'default' }` at once when no case is ready. */
  default?: boolean
}

/** No case fired: the timeout passed or `default` applied. */
export interface SelectNone {
  index: -1
  reason: 'timeout' | 'default'
  ok: false
  value: undefined
}

type CaseResult<C, I extends number> =
  C extends RecvCase<infer T>
    ? { index: I; ok: true; value: T } | { index: I; ok: false; value: undefined }
    : C extends SendCase<unknown>
      ? { index: I; ok: true; value: undefined }
      : never

/** The result of a {@link select}: a union discriminated by `index`. */
export type SelectResult<C extends readonly SelectCase<unknown>[]> =
  | { [K in keyof C]: CaseResult<C[K], K extends `${infer N extends number}` ? N : never> }[number]
  | SelectNone

/**
 * A receive case for {@link select}.
 *
 * @example
 * ```ts
 * await select([recvFrom(ch)])
 * ```
 */
export function recvFrom<T>(channel: Channel<T>): RecvCase<T> {
  return { kind: 'recv', channel }
}

/**
 * A send case for {@link select}.
 *
 * @example
 * ```ts
 * await select([sendTo(ch, 42)], { default: true })
 * ```
 */
export function sendTo<T>(channel: Channel<T>, value: T): SendCase<T> {
  return { kind: 'send', channel, value }
}

type AnyResult = { index: number; ok: boolean; value: unknown; reason?: string }

/**
 * Waits for the first of several channel operations; see the module comment.
 *
 * @example
 * ```ts
 * const r = await select([recvFrom(results), recvFrom(errors)], { signal })
 * if (r.index === 1 && r.ok) throw r.value
 * ```
 */
export function select<const C extends readonly SelectCase<unknown>[]>(cases: C, opts: SelectOptions = {}): Promise<SelectResult<C>> {
  return selectAny(cases, opts) as Promise<SelectResult<C>>
}

function none(reason: 'timeout' | 'default'): SelectNone {
  return { index: -1, reason, ok: false, value: undefined }
}

function selectAny(cases: readonly SelectCase<unknown>[], opts: SelectOptions): Promise<AnyResult> {
  const { signal, timeoutMs } = opts
  if (signal?.aborted) return Promise.reject(abortReason(signal))
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) return Promise.reject(new RangeError(`select timeoutMs must be >= 0, got ${timeoutMs}`))
  const n = cases.length
  // Poll every case once, starting at a random one: Go's uniform choice among ready cases.
  const start = n > 1 ? Math.floor(Math.random() * n) : 0
  for (let k = 0; k < n; k++) {
    const index = (start + k) % n
    const c = cases[index] as SelectCase<unknown>
    const ops = c.channel[channelInternals]
    if (c.kind === 'recv') {
      const r = ops.pollRecv()
      if (r !== undefined) return Promise.resolve({ index, ok: r.ok, value: r.value })
    } else {
      if (c.channel.closed) return Promise.reject(new ChannelClosedError())
      if (ops.offer(c.value)) return Promise.resolve({ index, ok: true, value: undefined })
    }
  }
  if (opts.default === true) return Promise.resolve(none('default'))
  if (n === 0 && timeoutMs === undefined && signal === undefined) return Promise.reject(new RangeError('select with no cases, no timeout and no signal would wait forever'))

  return new Promise<AnyResult>((resolve, reject) => {
    const group: SelectGroup = { done: false }
    const recvs: Array<RecvWaiter<unknown> | undefined> = new Array(n)
    const sends: Array<SendWaiter<unknown> | undefined> = new Array(n)
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined

    // Unpark every other case: exactly one case of a select ever fires.
    const finish = () => {
      group.done = true
      for (let i = 0; i < n; i++) {
        const ops = (cases[i] as SelectCase<unknown>).channel[channelInternals]
        const r = recvs[i]
        if (r !== undefined) ops.unparkRecv(r)
        const s = sends[i]
        if (s !== undefined) ops.unparkSend(s)
      }
      if (timer !== undefined) clearTimeout(timer)
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    }

    for (let i = 0; i < n; i++) {
      const c = cases[i] as SelectCase<unknown>
      const ops = c.channel[channelInternals]
      if (c.kind === 'recv') {
        const w: RecvWaiter<unknown> = {
          prev: null,
          next: null,
          linked: false,
          group,
          deliver(value, ok) {
            finish()
            resolve({ index: i, ok, value: ok ? value : undefined })
          },
        }
        recvs[i] = w
        ops.parkRecv(w)
      } else {
        const w: SendWaiter<unknown> = {
          prev: null,
          next: null,
          linked: false,
          group,
          value: c.value,
          accepted() {
            finish()
            resolve({ index: i, ok: true, value: undefined })
          },
          fail(err) {
            finish()
            reject(err)
          },
        }
        sends[i] = w
        ops.parkSend(w)
      }
    }
    if (timeoutMs !== undefined) {
      timer = startTimer(() => {
        if (group.done) return
        finish()
        resolve(none('timeout'))
      }, timeoutMs)
    }
    if (signal !== undefined) {
      onAbort = () => {
        if (group.done) return
        finish()
        reject(abortReason(signal))
      }
      signal.addEventListener('abort', onAbort, { once: true })
    }
  })
}
