/**
 * The worker-side task executor: looks a task up by name, parses and validates its JSON input with
 * a compiled TypeBox check, and runs it. The pool's worker loop calls {@link TaskExecutor.run};
 * the main thread never parses a task payload.
 *
 * Failures it raises itself are `AppError`s: `unknown_task`, `invalid_json`, `too_deep` (an
 * input nested deeper than `MAX_JSON_DEPTH`, src/json/depth.ts), `invalid_input` (with the
 * failing paths in `details`). A handler's own error propagates unchanged; the pool
 * reports it as `task_failed` with the handler's message.
 *
 * @example
 * ```ts
 * const exec = createExecutor(TASKS)
 * const result = await exec.run('echo', '{"value":1}', ctx)
 * ```
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { TSchema } from '@sinclair/typebox'
import { AppError } from '../errors.ts'
import { MAX_JSON_DEPTH, parseBoundedJson } from '../json/depth.ts'
import type { TaskContext, TaskDefinition, TaskInfo } from './types.ts'

/** Runs registered tasks by name inside a worker. */
export interface TaskExecutor {
  /** Names, summaries and input JSON Schemas of every task. */
  catalog(): TaskInfo[]
  /** Parses `inputJson`, validates it, and runs the task. */
  run(name: string, inputJson: string, ctx: TaskContext): unknown
  /**
   * {@link run} by the task's index in {@link catalog}: the pool's worker loop gets the index
   * from the request header, so the hot path skips a name lookup (a Map.get per task).
   */
  runAt(index: number, inputJson: string, ctx: TaskContext): unknown
}

interface Prepared {
  def: TaskDefinition
  /** Compiled on the task's first run, not at worker start. */
  check: TypeCheck<TSchema> | undefined
}

const MAX_DETAILS = 20

/**
 * Returns the executor of `tasks`. Each task's input schema is compiled once, on the task's first
 * run: compiling all of them at worker start cost every worker ~0.6 MB of idle memory for checks of
 * tasks it may never run (smaps of the compiled binary, bench/startup, 2026-11-22), and the first
 * run of a task pays well under a millisecond for its compile.
 */
export function createExecutor(tasks: readonly TaskDefinition[]): TaskExecutor {
  const byName = new Map<string, Prepared>()
  const byIndex: Prepared[] = []
  for (const def of tasks) {
    if (byName.has(def.name)) throw new Error(`task ${def.name} is registered twice`)
    const p: Prepared = { def, check: undefined }
    byName.set(def.name, p)
    byIndex.push(p)
  }
  return {
    catalog: () =>
      tasks.map((d) => {
        const info: TaskInfo = { name: d.name, summary: d.summary, input: JSON.parse(JSON.stringify(d.input)) }
        if (d.example !== undefined) info.example = d.example
        return info
      }),
    run(name, inputJson, ctx) {
      const task = byName.get(name)
      if (!task) throw new AppError('unknown_task', `No task is registered as '${name}'`)
      return runPrepared(task, inputJson, ctx)
    },
    runAt(index, inputJson, ctx) {
      const task = byIndex[index]
      if (!task) throw new AppError('unknown_task', `No task is registered at index ${index}`)
      return runPrepared(task, inputJson, ctx)
    },
  }
}

/** Parses, validates (compiling the check on first use) and runs one prepared task. */
function runPrepared(task: Prepared, inputJson: string, ctx: TaskContext): unknown {
  const name = task.def.name
  let input: unknown
  try {
    // An empty body means "no input": tasks whose schema accepts an empty object run with {}.
    // The depth bound comes first: an input nested 50 000 levels deep would otherwise reach the
    // check, the handler and the result's JSON.stringify, and overflow the stack.
    input = inputJson.length === 0 ? {} : parseBoundedJson(inputJson, MAX_JSON_DEPTH, `the input of task '${name}'`)
  } catch (err) {
    if (err instanceof AppError) throw err
    throw new AppError('invalid_json', `The input of task '${name}' is not valid JSON`)
  }
  const check = (task.check ??= TypeCompiler.Compile(task.def.input))
  if (!check.Check(input)) {
    const details: Array<{ path: string; message: string }> = []
    for (const e of check.Errors(input)) {
      details.push({ path: e.path || '/', message: e.message })
      if (details.length >= MAX_DETAILS) break
    }
    const first = details[0]
    throw new AppError('invalid_input', `Invalid input for task '${name}'${first ? `: ${first.path} ${first.message}` : ''}`, { details })
  }
  return task.def.handler(input as never, ctx)
}
