/**
 * The job view as JSON text (src/jobs/view.ts) and where a job's input lives (src/jobs/model.ts).
 */
import { describe, expect, test } from 'bun:test'
import { PIPELINE_TASK, jobInput, newJob, type Job } from '../../src/jobs/model.ts'
import { jobJson } from '../../src/jobs/view.ts'

const T = Date.parse('2026-11-22T05:30:00.000Z')

describe('jobJson', () => {
  test('a task job: every field of the schema in its order, ISO times, the input spliced as stored', () => {
    const job: Job = {
      ...newJob({ task: 'sleep', input: '{"ms":1000,"steps":4}', priority: 2 }, T),
      id: '019a9f1c-7c3e-7d2a-8b41-5f0e2a9c1d33',
      state: 'failed',
      attempts: 3,
      progress: 50,
      progressMessage: 'half',
      error: { code: 'task_timeout', message: 'slow' },
      startedAt: T + 1,
      finishedAt: T + 2,
      updatedAt: T + 2,
      idempotencyKey: 'never shown',
    }
    expect(jobJson(job)).toBe(
      '{"id":"019a9f1c-7c3e-7d2a-8b41-5f0e2a9c1d33","task":"sleep","input":{"ms":1000,"steps":4},"state":"failed","priority":2,' +
      '"runAt":"2026-11-22T05:30:00.000Z","attempts":3,"maxAttempts":3,"timeoutMs":30000,"progress":50,"progressMessage":"half",' +
      '"error":{"code":"task_timeout","message":"slow"},"createdAt":"2026-11-22T05:30:00.000Z","updatedAt":"2026-11-22T05:30:00.002Z",' +
      '"startedAt":"2026-11-22T05:30:00.001Z","finishedAt":"2026-11-22T05:30:00.002Z"}',
    )
  })

  test('no input is null; optional fields are left out', () => {
    const view = JSON.parse(jobJson(newJob({ task: 'echo', input: '' }, T))) as Record<string, unknown>
    expect(view.input).toBeNull()
    expect(Object.keys(view)).not.toContain('error')
    expect(Object.keys(view)).not.toContain('startedAt')
    expect(Object.keys(view)).not.toContain('pipeline')
  })

  test("a pipeline shows its first stage's input as the job's input, and each stage's own", () => {
    const job = newJob({ task: PIPELINE_TASK, input: '', pipeline: [{ task: 'echo', input: '{"text":"x"}' }, { task: 'hash' }] }, T)
    const view = JSON.parse(jobJson(job)) as Record<string, unknown>
    expect(view.input).toEqual({ text: 'x' })
    expect(view.pipeline).toEqual([{ task: 'echo', input: { text: 'x' } }, { task: 'hash' }])
  })

  test('input text that is not JSON (a direct runner caller stored it) is shown as a string, so the view stays JSON', () => {
    for (const text of ['not json', '{"a":1', '1 2', "{'a':1}"]) {
      const job = newJob({ task: 'echo', input: text }, T)
      expect((JSON.parse(jobJson(job)) as { input: unknown }).input).toBe(text)
    }
    const pipeline = newJob({ task: PIPELINE_TASK, input: '', pipeline: [{ task: 'echo', input: '[1,' }, { task: 'hash' }] }, T)
    expect(JSON.parse(jobJson(pipeline))).toMatchObject({ input: '[1,', pipeline: [{ task: 'echo', input: '[1,' }, { task: 'hash' }] })
  })

  test('names that need escaping are escaped; the input text is never re-encoded', () => {
    const job = newJob({ task: 'a"b\\c', input: '{"k" : [1 , 2]}' }, T)
    const text = jobJson(job)
    expect(text).toContain('"task":"a\\"b\\\\c","input":{"k" : [1 , 2]}')
    expect((JSON.parse(text) as { task: string }).task).toBe('a"b\\c')
  })
})

describe("a job's input", () => {
  test("a pipeline's input is stored in its first stage only", () => {
    const job = newJob({ task: PIPELINE_TASK, input: '{"n":1}', pipeline: [{ task: 'double', input: '{"n":1}' }, { task: 'double' }] }, T)
    expect(job.input).toBe('')
    expect(jobInput(job)).toBe('{"n":1}')
  })

  test('a pipeline row written before that (input stored twice) reads the same', () => {
    const stored = { input: '{"n":1}', pipeline: [{ task: 'double', input: '{"n":1}' }, { task: 'double' }] }
    expect(jobInput(stored)).toBe('{"n":1}')
  })

  test("a single task's input is its own", () => {
    expect(jobInput(newJob({ task: 'echo', input: '[1]' }, T))).toBe('[1]')
  })
})
