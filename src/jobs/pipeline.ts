/**
 * Running a pipeline job (seed 001 §3): stages run one after another on the pool, each stage's
 * result bytes become the next stage's input bytes untouched (never parsed on the main thread),
 * unless the next stage has a `map`, which picks fields of the result (src/jobs/stage-map.ts),
 * the job's progress is spread evenly over the stages, and a failing stage fails the job with
 * its own error code and a message naming the stage.
 *
 * The job's `timeoutMs` bounds the whole pipeline: each stage gets what is left of it.
 *
 * @example
 * ```ts
 * const bytes = await runPipeline(pool, job, { signal, priority: -1, onProgress: (p, m) => {} })
 * ```
 */
import { AppError, isErrorCode } from '../errors.ts'
import type { TaskRunner } from '../pool/types.ts'
import { jobInput, type Job } from './model.ts'
import { applyMap } from './stage-map.ts'

/** How a pipeline's stages are scheduled. */
export interface PipelineOptions {
  signal: AbortSignal
  priority: number
  onProgress(pct: number, message: string): void
  now?: () => number
}

/** Runs `job.pipeline` and resolves with the last stage's result bytes. */
export async function runPipeline(pool: TaskRunner, job: Job, options: PipelineOptions): Promise<Uint8Array> {
  const stages = job.pipeline ?? []
  const now = options.now ?? Date.now
  const n = stages.length
  const deadline = now() + job.timeoutMs
  let input: string | Uint8Array = jobInput(job)
  let output: Uint8Array = new Uint8Array()
  for (let i = 0; i < n; i++) {
    const stage = stages[i]!
    const name = `stage ${i + 1}/${n} (${stage.task})`
    const left = deadline - now()
    if (left <= 0) throw new AppError('task_timeout', `${name} did not start: the pipeline used up its ${job.timeoutMs} ms`)
    try {
      if (i > 0 && stage.map) input = applyMap(output, stage.map, stage.input)
      output = await pool.run(stage.task, input, {
        signal: options.signal,
        timeoutMs: left,
        priority: options.priority,
        onProgress: (pct, message) => options.onProgress(Math.round((i * 100 + pct) / n), message ? `${name}: ${message}` : name),
      })
    } catch (err) {
      const code = err instanceof AppError ? err.code : 'task_failed'
      const message = err instanceof Error ? err.message : String(err)
      throw new AppError(isErrorCode(code) ? code : 'task_failed', `${name} failed: ${message}`, {
        details: [{ path: `/pipeline/${i}`, message: `stage ${i + 1} (${stage.task}) failed` }],
        cause: err,
      })
    }
    if (i < n - 1) options.onProgress(Math.round(((i + 1) * 100) / n), `${name} done`)
    input = output
  }
  return output
}
