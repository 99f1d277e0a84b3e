/**
 * The task registry: every task a worker can run. Loaded inside workers only.
 *
 * To add a task: write `src/tasks/<name>.ts` exporting a `defineTask({...})`, then add it to the
 * list below. That is all: the pool, `GET /tasks`, `POST /tasks/:name`, `/batch`, jobs and Swagger
 * pick it up from here.
 *
 * @example
 * ```ts
 * import { createExecutor } from './execute.ts'
 * const exec = createExecutor(TASKS)
 * ```
 */
import type { TaskDefinition } from './types.ts'
import { echo } from './echo.ts'

/** Every registered task, in the order `GET /tasks` lists them. */
export const TASKS: readonly TaskDefinition[] = [
  echo as TaskDefinition,
]
