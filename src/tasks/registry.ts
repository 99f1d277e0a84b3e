/**
 * The task registry: every task a worker can run. Loaded inside workers only.
 *
 * To add a task: write `src/tasks/<name>.ts` exporting a `defineTask({...})`, then add one line
 * `export { myTask } from './<name>.ts'` to `src/tasks/all.ts`. That is all: the pool,
 * `GET /tasks`, `POST /tasks/:name`, `/batch`, jobs and Swagger pick it up from here.
 *
 * @example
 * ```ts
 * import { createExecutor } from './execute.ts'
 * const exec = createExecutor(TASKS)
 * ```
 */
import type { TaskDefinition } from './types.ts'
import * as all from './all.ts'

/**
 * Every registered task, sorted by name (the order `GET /tasks` lists them). A module namespace's
 * own order is by export identifier, which is not the task name; sorting makes it deterministic.
 */
export const TASKS: readonly TaskDefinition[] = Object.freeze(
  (Object.values(all) as TaskDefinition[]).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
)
