/**
 * The job model: what a job is, in memory and on the wire. Stores (`sqlite-store.ts`, later Redis)
 * persist exactly these fields; the runner moves jobs between the states below.
 *
 * ```
 * queued --claim--> running --ok--> succeeded
 *   ^                  |  \--error, attempts left--> queued (runAt = now + backoff)
 *   |                  |  \--error, none left / permanent--> failed
 *   +--(cancel)--------+--(cancel)--> canceled
 * ```
 *
 * @example
 * ```ts
 * const job: Job = newJob({ task: 'echo', input: '{"value":1}' }, Date.now())
 * job.state // 'queued'
 * ```
 */
import { newJobId } from './ids.ts'

/** The five states of a job; the last three are final. */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled'

/** Every state, in lifecycle order (handy for metrics and tests). */
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'canceled']

/** True for the states a job never leaves. @example isFinal('failed') // true */
export function isFinal(state: JobState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'canceled'
}

/**
 * One stage of a pipeline: the first one needs an input, later ones receive the previous output,
 * as it is or, with a `map`, picked into fields (src/jobs/stage-map.ts).
 */
export interface PipelineStage {
  task: string
  /** JSON text: the first stage's input, or a later stage's constant fields (with a `map` only). */
  input?: string
  /** Input field → path into the previous stage's result, e.g. `{ text: '$.digest' }`. */
  map?: Record<string, string>
}

/** Why a job failed (or was canceled): a registry code and a message for people. */
export interface JobError {
  code: string
  message: string
}

/** A job as stored. Times are epoch milliseconds. */
export interface Job {
  /** UUIDv7: sorts by creation time, so it doubles as the keyset cursor. */
  id: string
  /** The task's name, or {@link PIPELINE_TASK} for a pipeline. */
  task: string
  /**
   * JSON text of a single task's input, exactly as submitted ('' for none). A pipeline's input
   * is its first stage's, stored there only: this is '' for a pipeline (rows written before that
   * carry a copy, which nothing reads). Read either through {@link jobInput}.
   */
  input: string
  /** Stages of a pipeline; absent for a single-task job. */
  pipeline?: PipelineStage[]
  state: JobState
  /** Higher is claimed first among due jobs; default 0. */
  priority: number
  /** Not claimed before this time (delayed jobs and retry backoff). */
  runAt: number
  /** Attempts started so far (counted when a job is claimed). */
  attempts: number
  maxAttempts: number
  /** Hard limit of one attempt (the whole pipeline, for a pipeline); the pool stops the work. */
  timeoutMs: number
  progress: number
  progressMessage: string
  error?: JobError
  /** The client's `Idempotency-Key`, if it sent one. */
  idempotencyKey?: string
  createdAt: number
  updatedAt: number
  startedAt?: number
  finishedAt?: number
}

/** The task name that marks a pipeline job. */
export const PIPELINE_TASK = 'pipeline'

/** What a client asks for; the runner fills the rest. */
export interface NewJob {
  task: string
  /**
   * JSON text (the route stores what `JSON.stringify` wrote; views splice it in as it is), or ''
   * for none. Text that is not JSON fails the job with `invalid_json` and is shown as a string.
   * Ignored for a pipeline, whose input is `pipeline[0].input`.
   */
  input: string
  pipeline?: PipelineStage[]
  priority?: number
  /** Epoch ms; default now. */
  runAt?: number
  /**
   * Instead of `runAt`: start no earlier than this many ms after the job's `createdAt`, read from
   * the same clock reading, so `runAt - createdAt` is exactly the delay asked for.
   */
  delayMs?: number
  maxAttempts?: number
  timeoutMs?: number
  idempotencyKey?: string
}

/** Defaults of a new job. */
/**
 * Error codes of a failed attempt that retrying cannot fix: the job fails at once, whatever its
 * attempts left. The one list both backends (the embedded runner's execute.ts, BullMQ's
 * processor.ts) judge by, so a job's fate does not depend on JOBS_URL.
 *
 * @example PERMANENT_ERRORS.has('invalid_input') // true
 */
export const PERMANENT_ERRORS: ReadonlySet<string> = new Set(['invalid_input', 'invalid_json', 'too_deep', 'unknown_task', 'bad_request', 'validation_failed'])

/**
 * Error codes that say the pool, not the job, could not run it now: the job goes back to the
 * queue without counting an attempt (both backends).
 *
 * @example NOT_THE_JOBS_FAULT.has('queue_full') // true
 */
export const NOT_THE_JOBS_FAULT: ReadonlySet<string> = new Set(['queue_full', 'pool_closed'])

export const JOB_DEFAULTS = { priority: 0, maxAttempts: 3, timeoutMs: 30_000 } as const

/**
 * Builds a queued job from a request.
 *
 * @example newJob({ task: 'echo', input: '{}' }, Date.now()).attempts // 0
 */
export function newJob(req: NewJob, now: number): Job {
  const job: Job = {
    id: newJobId(),
    task: req.task,
    // A pipeline's input lives in its first stage: stored once.
    input: req.pipeline ? '' : req.input,
    state: 'queued',
    priority: req.priority ?? JOB_DEFAULTS.priority,
    runAt: req.runAt ?? now + (req.delayMs ?? 0),
    attempts: 0,
    maxAttempts: req.maxAttempts ?? JOB_DEFAULTS.maxAttempts,
    timeoutMs: req.timeoutMs ?? JOB_DEFAULTS.timeoutMs,
    progress: 0,
    progressMessage: '',
    createdAt: now,
    updatedAt: now,
  }
  if (req.pipeline) job.pipeline = req.pipeline
  if (req.idempotencyKey !== undefined) job.idempotencyKey = req.idempotencyKey
  return job
}

/**
 * The JSON text of a job's input: a single task's own, or a pipeline's first stage's (for rows
 * written before pipelines stored it once, the stage's copy is the one read). '' for none.
 *
 * @example jobInput({ input: '', pipeline: [{ task: 'echo', input: '{"a":1}' }, { task: 'hash' }] }) // '{"a":1}'
 */
export function jobInput(job: Pick<Job, 'input' | 'pipeline'>): string {
  return job.pipeline ? job.pipeline[0]?.input ?? job.input : job.input
}
