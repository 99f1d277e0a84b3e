/**
 * The bench's CPU task for highperf's pool (loaded with the pool's `extraTasks` option).
 *
 * @example pool.run('bench.cpu', '{"n":20000}')
 */
import { Type } from '@sinclair/typebox'
import { defineTask, type TaskDefinition } from '../../src/tasks/types.ts'
import { cpuWork } from './work.ts'

export const TASKS: readonly TaskDefinition[] = [
  defineTask({ name: 'bench.cpu', summary: 'about 50 µs of CPU', input: Type.Object({ n: Type.Integer() }), handler: (i) => cpuWork(i.n) }),
]
