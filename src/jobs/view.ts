/**
 * A job as the API shows it, written straight to JSON text: ISO times, no result bytes, and the
 * input spliced in as the JSON text that was submitted.
 *
 * Why splice: the input is stored as the JSON text the route wrote when the job was submitted.
 * Parsing it back on every view (and every SSE state event) only to serialise it again cost a
 * parse and a stringify per read on the main thread, and for a row stored before request bodies
 * had a depth limit, an unbounded recursive walk of whatever nesting it holds (a 500 for `GET
 * /jobs` as a whole). Spliced, a view costs one `JSON.stringify` of a dozen scalars and one
 * linear, non-recursive check that the text is JSON (src/json/is-json.ts), the way a job's
 * result is answered as its bytes.
 *
 * Field order is the documented `Job` schema's (src/routes/jobs.ts).
 *
 * @example
 * ```ts
 * jobJson(newJob({ task: 'echo', input: '{"a":1}' }, Date.now()))
 * // '{"id":"019a…","task":"echo","input":{"a":1},"state":"queued","priority":0,"runAt":"2026-…",…}'
 * ```
 */
import { isJsonText } from '../json/is-json.ts'
import { jobInput, type Job, type PipelineStage } from './model.ts'

/**
 * Stored input text as a JSON value: '' (no input) is null, JSON text goes in as it is. Text that
 * is not JSON (only a direct caller of the runner can store it; the job then fails with
 * `invalid_json`) is shown as a JSON string, so one such job never makes a list unreadable.
 */
function spliced(text: string): string {
  if (text === '') return 'null'
  return isJsonText(text) ? text : JSON.stringify(text)
}

function stageJson(stage: PipelineStage): string {
  const task = `{"task":${JSON.stringify(stage.task)}`
  const map = stage.map === undefined ? '' : `,"map":${JSON.stringify(stage.map)}`
  return stage.input === undefined ? `${task}${map}}` : `${task},"input":${spliced(stage.input)}${map}}`
}

/**
 * The API view of a job as JSON text (see the module comment).
 *
 * @example new Response(jobJson(job), { headers: { 'content-type': 'application/json; charset=utf-8' } })
 */
export function jobJson(job: Job): string {
  let head = `{"id":${JSON.stringify(job.id)},"task":${JSON.stringify(job.task)},"input":${spliced(jobInput(job))}`
  if (job.pipeline) head += `,"pipeline":[${job.pipeline.map(stageJson).join(',')}]`
  const rest: Record<string, unknown> = {
    state: job.state,
    priority: job.priority,
    runAt: new Date(job.runAt).toISOString(),
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    timeoutMs: job.timeoutMs,
    progress: job.progress,
    progressMessage: job.progressMessage,
  }
  if (job.error) rest.error = { code: job.error.code, message: job.error.message }
  rest.createdAt = new Date(job.createdAt).toISOString()
  rest.updatedAt = new Date(job.updatedAt).toISOString()
  if (job.startedAt !== undefined) rest.startedAt = new Date(job.startedAt).toISOString()
  if (job.finishedAt !== undefined) rest.finishedAt = new Date(job.finishedAt).toISOString()
  // `rest` is never empty: its text starts with '{"state"', spliced after the head's comma.
  return `${head},${JSON.stringify(rest).slice(1)}`
}
