/**
 * Raw postMessage baseline worker: answers `[id, x]` with `[id, result]`.
 *
 * @example worker.postMessage([1, '{"v":1}'])
 */
import { parentPort } from 'node:worker_threads'
import { cpuWork } from './work.ts'

parentPort?.on('message', (m: [number, string | number]) => {
  const x = m[1]
  parentPort?.postMessage([m[0], typeof x === 'number' ? cpuWork(x) : x])
})
