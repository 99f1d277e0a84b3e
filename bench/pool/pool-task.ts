/**
 * The task module for piscina and tinypool: echo a string, or run the CPU task for a number.
 *
 * @example await piscina.run('{"v":1}')
 */
import { cpuWork } from './work.ts'

export default function task(x: string | number): string | number {
  return typeof x === 'number' ? cpuWork(x) : x
}
