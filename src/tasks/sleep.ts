/**
 * `sleep`: waits `ms` milliseconds without using the CPU, reporting progress in `steps` equal
 * parts. Cooperative: when `ctx.signal` aborts (cancel, deadline, client gone) it stops at once
 * and rejects with the signal's reason. For tests, demos and jobs (progress is what `GET
 * /jobs/:id/events` streams).
 *
 * @example POST /tasks/sleep {"ms": 100, "steps": 4} -> {"slept":100}
 */
import { Type } from '@sinclair/typebox'
import { defineTask, type TaskContext } from './types.ts'

/** The longest sleep accepted, in milliseconds. */
export const SLEEP_MAX_MS = 600_000

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Sleeps `ms` in `steps` parts, calling `ctx.progress` after each.
 *
 * @example await sleepTask(100, 4, ctx) // progress 25, 50, 75, 100
 */
export async function sleepTask(ms: number, steps: number, ctx: TaskContext): Promise<{ slept: number }> {
  const started = performance.now()
  for (let i = 1; i <= steps; i++) {
    // Each step waits until its share of the total is due, so timer drift does not accumulate.
    const due = (ms * i) / steps - (performance.now() - started)
    await wait(Math.max(0, due), ctx.signal)
    ctx.progress(Math.round((100 * i) / steps), `slept ${Math.round((ms * i) / steps)} of ${ms} ms`)
  }
  return { slept: ms }
}

export const sleep = defineTask({
  name: 'sleep',
  summary: 'Waits ms milliseconds (no CPU), reporting progress in steps; stops when canceled',
  input: Type.Object(
    {
      ms: Type.Integer({ minimum: 0, maximum: SLEEP_MAX_MS, examples: [100] }),
      steps: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: 'Progress reports' })),
    },
    { additionalProperties: false },
  ),
  example: { ms: 100, steps: 4 },
  handler: (input, ctx) => sleepTask(input.ms, input.steps ?? 1, ctx),
})
