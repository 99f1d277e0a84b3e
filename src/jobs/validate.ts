/**
 * Checks a submission before it is stored: task names against the pool's catalog, and the shape
 * of a pipeline (1 to {@link MAX_PIPELINE_STAGES} stages, an input on the first stage; a later
 * stage may have a `map` (src/jobs/stage-map.ts) and then an object `input` of constant fields).
 * Task inputs are not parsed here: the worker validates them against the task's schema, so the
 * main thread never parses a payload (a bad input fails the job with `invalid_input`).
 *
 * @example
 * ```ts
 * new SubmitValidator(pool).check({ task: 'nope', input: '' }) // throws AppError unknown_task
 * ```
 */
import { AppError } from '../errors.ts'
import type { TaskRunner } from '../pool/types.ts'
import type { TaskInfo } from '../tasks/types.ts'
import type { NewJob } from './model.ts'
import { mapProblem } from './stage-map.ts'

/** Most stages a pipeline may have. */
export const MAX_PIPELINE_STAGES = 32

/** Validates submissions against the pool's catalog. */
export class SubmitValidator {
  readonly #pool: Pick<TaskRunner, 'catalog'>
  #catalogOf: readonly TaskInfo[] | undefined
  #known = new Set<string>()

  constructor(pool: Pick<TaskRunner, 'catalog'>) {
    this.#pool = pool
  }

  /** Throws `unknown_task` (404) or `validation_failed` (422); returns when `req` may be stored. */
  check(req: NewJob): void {
    const catalog = this.#pool.catalog()
    // The Set is rebuilt only when the pool reports a new catalog: one Set per worker start, not per submit.
    if (catalog !== this.#catalogOf) {
      this.#catalogOf = catalog
      this.#known = new Set(catalog.map((t) => t.name))
    }
    const known = this.#known
    // Before the first worker reports its catalog, names cannot be checked here: the worker
    // rejects an unknown one and the job fails with unknown_task (no retries).
    const isKnown = (name: string): boolean => catalog.length === 0 || known.has(name)
    if (!req.pipeline) {
      if (!isKnown(req.task)) throw new AppError('unknown_task', `No task is registered as '${req.task}'`)
      return
    }
    if (req.pipeline.length === 0 || req.pipeline.length > MAX_PIPELINE_STAGES) {
      throw new AppError('validation_failed', `A pipeline has 1 to ${MAX_PIPELINE_STAGES} stages`)
    }
    req.pipeline.forEach((s, i) => {
      if (!isKnown(s.task)) throw new AppError('unknown_task', `Stage ${i + 1}: no task is registered as '${s.task}'`, { details: [{ path: `/pipeline/${i}/task`, message: `no task is registered as '${s.task}'` }] })
      const at = `/pipeline/${i}`
      if (s.map !== undefined) {
        if (i === 0) throw new AppError('validation_failed', 'Stage 1 has a map: there is no previous result to map; give it an input', { details: [{ path: `${at}/map`, message: 'only stages after the first take a map' }] })
        const problem = mapProblem(s.map)
        if (problem) throw new AppError('validation_failed', `Stage ${i + 1}: ${problem}`, { details: [{ path: `${at}/map`, message: problem }] })
        // The route stores the input as JSON.stringify of what was sent: an object starts with '{'.
        if (s.input !== undefined && !s.input.startsWith('{')) {
          throw new AppError('validation_failed', `Stage ${i + 1}: with a map, input is an object of constant fields`, { details: [{ path: `${at}/input`, message: 'must be an object' }] })
        }
      } else if (i > 0 && s.input !== undefined) {
        throw new AppError('validation_failed', `Stage ${i + 1} has an input: only the first stage takes one; later stages receive the previous stage's result (or give a map with constant fields in input)`, { details: [{ path: `${at}/input`, message: 'only with a map' }] })
      }
    })
    if (req.pipeline[0]!.input === undefined) throw new AppError('validation_failed', 'The first stage of a pipeline needs an input')
  }
}
