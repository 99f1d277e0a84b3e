/**
 * The contract between the worker pool and the tasks it runs. A task is a name, a TypeBox input
 * schema (checked inside the worker, so the main thread never parses task payloads) and a handler.
 *
 * This file is loaded inside workers: it must not import Elysia or anything of the server.
 *
 * @example
 * ```ts
 * import { Type } from '@sinclair/typebox'
 * export const upper = defineTask({
 *   name: 'upper',
 *   summary: 'Upper-cases a string',
 *   input: Type.Object({ text: Type.String() }),
 *   handler: (input) => ({ text: input.text.toUpperCase() }),
 * })
 * ```
 */
import type { Static, TSchema } from '@sinclair/typebox'

/** What a running task can see of its surroundings. */
export interface TaskContext {
  /** Aborted when the task is canceled or its deadline passes; long tasks should check it. */
  readonly signal: AbortSignal
  /** Reports progress (0-100) and an optional message; jobs persist it and stream it as SSE. */
  progress(pct: number, message?: string): void
}

/** One task: its name, its input schema, and the work. The handler's return value is JSON-encoded. */
export interface TaskDefinition<S extends TSchema = TSchema, R = unknown> {
  name: string
  summary: string
  input: S
  /** An example input, shown in `GET /tasks` and Swagger. */
  example?: Static<S>
  handler(input: Static<S>, ctx: TaskContext): R | Promise<R>
}

/** Identity function that infers a task's input type from its schema. */
export function defineTask<S extends TSchema, R>(def: TaskDefinition<S, R>): TaskDefinition<S, R> {
  return def
}

/** What `GET /tasks` lists for each task: reported by a worker at start, so the main thread never loads tasks. */
export interface TaskInfo {
  name: string
  summary: string
  /** JSON Schema of the input. */
  input: unknown
  example?: unknown
}
