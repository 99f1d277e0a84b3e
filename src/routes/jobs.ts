/**
 * Jobs (seed 001 §8, issue 5): tracked, persistent, cancellable work on the worker pool.
 *
 * - `POST /jobs` -> 202 + `Location` and the job (`Idempotency-Key` makes a repeated submit return
 *   the same job; the same key with a different request is 409 `conflict`)
 * - `GET /jobs/:id`, `GET /jobs?state&task&limit&cursor` (keyset paging, oldest first)
 * - `GET /jobs/:id/result` -> 200 with the task's JSON bytes as produced (no re-serialisation),
 *   202 + `Retry-After` while not done, 409 `job_failed` / `job_canceled`
 * - `DELETE /jobs/:id` cancels a queued or running job (a running one through the pool's signal)
 * - `GET /jobs/:id/events`: Server-Sent Events of state and progress, ending with the job
 *
 * @example
 * ```ts
 * app.use(jobsRoutes({ jobs: runner, config }))
 * ```
 */
import { Elysia, t } from 'elysia'
import { AppError, type ErrorDetail } from '../errors.ts'
import type { Config } from '../config.ts'
import { hasCursorCheck, type JobService } from '../jobs/service.ts'
import { isJobId } from '../jobs/ids.ts'
import { JOB_DEFAULTS, JOB_STATES, PIPELINE_TASK, jobInput, type Job, type JobState, type NewJob } from '../jobs/model.ts'
import { MAX_PIPELINE_STAGES } from '../jobs/validate.ts'
import { MAP_FIELD_PATTERN, MAP_PATH_PATTERN, MAX_MAP_FIELDS } from '../jobs/stage-map.ts'
import { jobJson } from '../jobs/view.ts'
import { jobEventStream } from './job-events.ts'
import { ErrorSchema, NotModified, named } from './schemas.ts'
import { jsonBody } from '../http/json-body/index.ts'
import { jsonWithEtag } from '../http/etag.ts'
import { JSON_HEADERS } from './pool-call.ts'
import { policyOption } from '../http/route-policy.ts'
import { STREAM } from './policy.ts'

/** What the jobs routes need. */
export interface JobsRouteDeps {
  jobs: JobService
  config: Config
}

const MAX_TIMEOUT_MS = 24 * 3_600_000
const MAX_DELAY_MS = 30 * 24 * 3_600_000

const StateSchema = named('JobState', t.Union(
  [t.Literal('queued'), t.Literal('running'), t.Literal('succeeded'), t.Literal('failed'), t.Literal('canceled')],
  { examples: ['queued'] },
))
// The schema's literals are JobState's members; this line fails to compile when they drift apart.
export const JOB_STATE_VALUES: readonly (typeof StateSchema.static)[] = JOB_STATES

const JobSchema = named('Job', t.Object(
  {
    id: t.String({ examples: ['019a9f1c-7c3e-7d2a-8b41-5f0e2a9c1d33'] }),
    task: t.String({ description: `Task name, or '${PIPELINE_TASK}'`, examples: ['sleep'] }),
    input: t.Unknown({ description: 'Input (of the first stage, for a pipeline)' }),
    pipeline: t.Optional(t.Array(t.Object({ task: t.String(), input: t.Optional(t.Unknown()), map: t.Optional(t.Record(t.String(), t.String())) }))),
    state: StateSchema,
    priority: t.Integer(),
    runAt: t.String({ format: 'date-time' }),
    attempts: t.Integer({ description: 'Attempts started so far' }),
    maxAttempts: t.Integer(),
    timeoutMs: t.Integer({ description: 'Hard limit of one attempt; the pool stops the work' }),
    progress: t.Integer({ minimum: 0, maximum: 100 }),
    progressMessage: t.String(),
    error: t.Optional(t.Object({ code: t.String(), message: t.String() }, { description: 'Why it failed (or the last failed attempt, while retrying)' })),
    createdAt: t.String({ format: 'date-time' }),
    updatedAt: t.String({ format: 'date-time' }),
    startedAt: t.Optional(t.String({ format: 'date-time' })),
    finishedAt: t.Optional(t.String({ format: 'date-time' })),
  },
  {
    examples: [{
      id: '019a9f1c-7c3e-7d2a-8b41-5f0e2a9c1d33', task: 'sleep', input: { ms: 1000, steps: 4 }, state: 'running', priority: 0,
      runAt: '2026-11-22T05:30:00.000Z', attempts: 1, maxAttempts: 3, timeoutMs: 30000, progress: 50, progressMessage: 'slept 500 of 1000 ms',
      createdAt: '2026-11-22T05:30:00.000Z', updatedAt: '2026-11-22T05:30:00.500Z', startedAt: '2026-11-22T05:30:00.001Z',
    }],
  },
))

const SubmitSchema = named('JobSubmit', t.Object(
  {
    task: t.Optional(t.String({ minLength: 1, maxLength: 100, description: 'Task to run (see GET /tasks); or give `pipeline`' })),
    input: t.Optional(t.Unknown({ description: 'The task input (checked by the worker against the task schema)' })),
    pipeline: t.Optional(t.Array(
      t.Object({
        task: t.String({ minLength: 1, maxLength: 100 }),
        input: t.Optional(t.Unknown({ description: "The first stage's input; on a later stage, only with `map`: an object of constant fields" })),
        map: t.Optional(t.Record(t.String({ pattern: MAP_FIELD_PATTERN }), t.String({ pattern: MAP_PATH_PATTERN, maxLength: 1100 }), {
          maxProperties: MAX_MAP_FIELDS,
          description: "Builds this stage's input from the previous result: input field → path ($.name, $.items[0]); see docs/jobs.md#pipelines",
          examples: [{ text: '$.digest' }],
        })),
      }, { additionalProperties: false }),
      { minItems: 1, maxItems: MAX_PIPELINE_STAGES, description: "Stages run in order; each stage's result is the next stage's input, as is or picked by its map; only the first stage has an input of its own" },
    )),
    priority: t.Optional(t.Integer({ minimum: -1000, maximum: 1000, default: 0, description: 'Higher is claimed first' })),
    runAt: t.Optional(t.String({ format: 'date-time', description: 'Do not start before this time' })),
    delayMs: t.Optional(t.Integer({ minimum: 0, maximum: MAX_DELAY_MS, description: 'Do not start before now + delayMs' })),
    maxAttempts: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: JOB_DEFAULTS.maxAttempts })),
    timeoutMs: t.Optional(t.Integer({ minimum: 1, maximum: MAX_TIMEOUT_MS, default: JOB_DEFAULTS.timeoutMs, description: 'Hard limit of one attempt' })),
  },
  {
    additionalProperties: false,
    examples: [
      { task: 'sleep', input: { ms: 1000, steps: 4 }, maxAttempts: 3, timeoutMs: 5000 },
      { pipeline: [{ task: 'hash', input: { text: 'hello' } }, { task: 'hash', input: { algorithm: 'sha512' }, map: { text: '$.digest' } }] },
    ],
  },
))

const SubmitHeaders = t.Object({
  'idempotency-key': t.Optional(t.String({ minLength: 1, maxLength: 200, description: 'Repeat a submit safely: the same key returns the same job' })),
})

const JobIdParams = t.Object({ id: t.String({ examples: ['019a9f1c-7c3e-7d2a-8b41-5f0e2a9c1d33'] }) })

const ListQuerySchema = t.Object({
  state: t.Optional(StateSchema),
  task: t.Optional(t.String({ maxLength: 100 })),
  // A digit pattern, not t.Numeric: Numeric lets 1.5 through, and SQLite refuses a fractional
  // LIMIT with a datatype mismatch (a 500). Same shape as GET /users' limit.
  limit: t.Optional(t.String({ pattern: '^(?:[1-9][0-9]{0,2}|1000)$', description: 'Page size, 1-1000 (default 50)', examples: ['50'], 'x-message': 'limit must be an integer from 1 to 1000' })),
  cursor: t.Optional(t.String({ description: 'nextCursor of the previous page' })),
})

// Not the shared Page(item) of ./schemas.ts: this envelope was published first (why: ./schemas.ts).
const ListSchema = named('JobList', t.Object({ jobs: t.Array(JobSchema), nextCursor: t.Optional(t.String()) }))

const tags = ['jobs']

function jsonOf(value: unknown): string {
  return value === undefined ? '' : JSON.stringify(value)
}

/** Turns a validated body into a {@link NewJob}. */
// The job's own error as `details` (an array, like every error's): its path points at the job
// resource's `error` field (GET /jobs/:id), which carries it as {code, message}.
function jobErrorDetails(job: Job): ErrorDetail[] | undefined {
  return job.error === undefined ? undefined : [{ path: '/error', message: `${job.error.code}: ${job.error.message}` }]
}

function toNewJob(body: typeof SubmitSchema.static, key: string | undefined): NewJob {
  if ((body.task === undefined) === (body.pipeline === undefined)) {
    throw new AppError('validation_failed', 'Give either `task` (with `input`) or `pipeline`, not both and not neither', {
      details: [{ path: '/', message: 'exactly one of task, pipeline' }],
    })
  }
  if (body.runAt !== undefined && body.delayMs !== undefined) {
    throw new AppError('validation_failed', 'Give `runAt` or `delayMs`, not both', { details: [{ path: '/delayMs', message: 'conflicts with runAt' }] })
  }
  const req: NewJob = body.pipeline
    ? {
        task: PIPELINE_TASK,
        // Its input is its first stage's, stored there once.
        input: '',
        pipeline: body.pipeline.map((s) => ({
          task: s.task,
          ...(s.input === undefined ? {} : { input: JSON.stringify(s.input) }),
          ...(s.map === undefined ? {} : { map: s.map }),
        })),
      }
    : { task: body.task!, input: jsonOf(body.input) }
  if (body.pipeline && body.input !== undefined) {
    throw new AppError('validation_failed', 'A pipeline takes its input in its first stage, not in `input`', { details: [{ path: '/input', message: 'use pipeline[0].input' }] })
  }
  if (body.priority !== undefined) req.priority = body.priority
  if (body.maxAttempts !== undefined) req.maxAttempts = body.maxAttempts
  if (body.timeoutMs !== undefined) req.timeoutMs = body.timeoutMs
  if (body.delayMs !== undefined) req.delayMs = body.delayMs
  if (body.runAt !== undefined) {
    const at = Date.parse(body.runAt)
    if (Number.isNaN(at)) throw new AppError('validation_failed', 'runAt is not a valid date-time', { details: [{ path: '/runAt', message: 'invalid date-time' }] })
    req.runAt = at
  }
  if (key !== undefined) req.idempotencyKey = key
  return req
}

/**
 * True when stored job `a` is what `b` asks for. Inputs are compared through `jobInput`, so a
 * pipeline stored before its input was kept once (a copy in `input`) still matches its repeat.
 */
function sameRequest(a: Job, b: NewJob): boolean {
  return a.task === b.task && jobInput(a) === jobInput(b) && JSON.stringify(a.pipeline ?? null) === JSON.stringify(b.pipeline ?? null)
}

/**
 * A job view (or a list of them) as the answer: JSON text written by `jobJson`, the input
 * spliced, never parsed (src/jobs/view.ts). `set.headers` carries what the route set (Location,
 * Retry-After, …).
 */
function jsonAnswer(set: { headers: unknown }, status: number, json: string): Response {
  return new Response(json, { status, headers: { ...(set.headers as Record<string, string>), ...JSON_HEADERS } })
}

/** Elysia plugin with every `/jobs` route. */
export function jobsRoutes(deps: JobsRouteDeps, options: { heartbeatMs?: number } = {}) {
  const runner = deps.jobs
  const heartbeatMs = options.heartbeatMs ?? 15_000

  async function load(id: string): Promise<Job> {
    if (!isJobId(id)) throw new AppError('invalid_id', `'${id.slice(0, 64)}' is not a job id`)
    const job = await runner.get(id)
    if (!job) throw new AppError('not_found', `job ${id} does not exist`)
    return job
  }

  return new Elysia({ name: 'highperf/routes/jobs' })
    .use(policyOption)
    .post(
      '/jobs',
      async ({ body, headers, set }) => {
        const req = toNewJob(body, headers['idempotency-key'])
        const { job, created } = await runner.submit(req)
        if (!created && !sameRequest(job, req)) {
          throw new AppError('conflict', `This Idempotency-Key was used for a different job (${job.id})`, { details: [{ path: '/', message: `the key belongs to job ${job.id}` }] })
        }
        set.headers.location = `/jobs/${job.id}`
        if (!created) set.headers['idempotent-replayed'] = 'true'
        return jsonAnswer(set, 202, jobJson(job))
      },
      {
        ...jsonBody(SubmitSchema),
        headers: SubmitHeaders,
        detail: {
          summary: 'Submit a job (a task or a pipeline); answers 202 with Location at once',
          description: 'Stored durably before the answer. 404 unknown_task for an unregistered task; 503 queue_full (JOB_QUEUE_LIMIT) or shutting_down with Retry-After. Invalid task input is reported by the worker: the job fails with invalid_input.',
          tags,
        },
        response: { 202: JobSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema, 503: ErrorSchema },
      },
    )
    .get(
      '/jobs',
      async ({ query, set }) => {
        const q: { limit: number; state?: JobState; task?: string; cursor?: string } = { limit: query.limit === undefined ? 50 : Number(query.limit) }
        if (query.state) q.state = query.state
        if (query.task) q.task = query.task
        if (query.cursor) {
          // The embedded store pages by job id; a service with its own cursors (BullMQ: offsets) checks them.
          if (hasCursorCheck(runner)) runner.checkCursor(query.cursor)
          else if (!isJobId(query.cursor)) throw new AppError('validation_failed', 'cursor is not a job id', { details: [{ path: '/cursor', message: 'not a job id' }] })
          q.cursor = query.cursor
        }
        const page = await runner.list(q)
        const next = page.nextCursor ? `,"nextCursor":${JSON.stringify(page.nextCursor)}` : ''
        return jsonAnswer(set, 200, `{"jobs":[${page.jobs.map(jobJson).join(',')}]${next}}`)
      },
      {
        query: ListQuerySchema,
        detail: { summary: 'List jobs, oldest first, filtered by state and task; keyset paging with cursor', tags },
        response: { 200: ListSchema, 422: ErrorSchema },
      },
    )
    // Tagged (src/http/etag.ts): the tag is a hash of the view, so it changes with the state,
    // progress and message, and a client polling with If-None-Match gets a bodiless 304 until then.
    .get('/jobs/:id', async ({ params, request, set }) => jsonWithEtag(request, jobJson(await load(params.id)), { headers: set.headers as Record<string, string> }), {
      params: JobIdParams,
      detail: {
        summary: 'A job: state, attempts, progress, error, timestamps',
        description: 'Carries a weak ETag that changes whenever the job does (state, progress, attempts…); If-None-Match with it answers 304 without a body.',
        tags,
      },
      response: { 200: JobSchema, 304: NotModified, 400: ErrorSchema, 404: ErrorSchema },
    })
    .get(
      '/jobs/:id/result',
      async ({ params, set }) => {
        const job = await load(params.id)
        if (job.state === 'succeeded') {
          const bytes = await runner.result(job.id)
          // The task's own JSON bytes: no parse, no stringify on the main thread.
          if (bytes) return new Response(bytes, { headers: { ...(set.headers as Record<string, string>), ...JSON_HEADERS } })
          throw new AppError('not_found', `job ${job.id} has no result (removed)`)
        }
        if (job.state === 'failed') {
          throw new AppError('job_failed', `job ${job.id} failed: ${job.error?.code ?? 'task_failed'}: ${job.error?.message ?? ''}`, { details: jobErrorDetails(job) })
        }
        if (job.state === 'canceled') throw new AppError('job_canceled', `job ${job.id} was canceled`, { details: jobErrorDetails(job) })
        set.headers['retry-after'] = '1'
        return jsonAnswer(set, 202, jobJson(job))
      },
      {
        params: JobIdParams,
        detail: {
          summary: "A job's result: 200 with the task's JSON, 202 + Retry-After while queued or running, 409 when failed or canceled",
          tags,
        },
        response: { 200: t.Unknown({ description: "The task's result JSON, byte for byte", examples: [{ slept: 1000 }] }), 202: JobSchema, 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema },
      },
    )
    .delete(
      '/jobs/:id',
      async ({ params, set }) => {
        if (!isJobId(params.id)) throw new AppError('invalid_id', `'${params.id.slice(0, 64)}' is not a job id`)
        const res = await runner.cancel(params.id)
        if (!res) throw new AppError('not_found', `job ${params.id} does not exist`)
        if (res.job.state !== 'canceled') throw new AppError('conflict', `job ${params.id} already ${res.job.state}; only queued or running jobs can be canceled`)
        return jsonAnswer(set, 200, jobJson(res.job))
      },
      {
        params: JobIdParams,
        detail: { summary: 'Cancel a queued or running job (a running task is stopped through its signal); repeated cancels answer the same', tags },
        response: { 200: JobSchema, 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema },
      },
    )
    .get(
      '/jobs/:id/events',
      async ({ params, request, set }) => {
        const job = await load(params.id)
        return jobEventStream(runner, job.id, { heartbeatMs, signal: request.signal, headers: set.headers as Record<string, string> })
      },
      {
        policy: STREAM,
        params: JobIdParams,
        detail: {
          summary: "Server-Sent Events of a job's state and progress; ends when the job ends",
          description: 'Events: `state` (data: the job) and `progress` (data: {id, progress, message}); a finished job sends one state event and ends. Comment lines are heartbeats.',
          tags,
        },
        response: {
          200: t.String({ description: 'text/event-stream', examples: ['event: state\ndata: {"id":"…","state":"running",…}\n\n'] }),
          400: ErrorSchema,
          404: ErrorSchema,
        },
      },
    )
}
