/** Test support for tasks: a context with a controllable signal that records progress. */
import type { TaskContext } from '../../src/tasks/types.ts'

/** A task context whose signal the test controls; `reports` collects progress calls. */
export function testContext(signal: AbortSignal = new AbortController().signal): TaskContext & { reports: Array<[number, string | undefined]> } {
  const reports: Array<[number, string | undefined]> = []
  return { signal, reports, progress: (pct, message) => void reports.push([pct, message]) }
}
