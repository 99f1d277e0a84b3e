/**
 * The tail every benchmark shares: print the result and write it to `bench/results/<name>.md`,
 * where `bench/run.ts` collects it for `bun run bench`.
 *
 * @example
 * ```ts
 * import { writeResult } from '../lib/report.ts'
 * writeResult('sync', table)
 * ```
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** bench/results, whatever the working directory. */
export const RESULTS_DIR = join(import.meta.dir, '..', 'results')

/**
 * Writes `markdown` to `bench/results/<name>.md` (creating the folder) and prints `printed`
 * (default: the markdown itself; `false` prints nothing) to stdout. Returns the file's path.
 *
 * @example
 * ```ts
 * writeResult('jobs', md, table)        // file gets the full report, the console just the table
 * writeResult('jobs-store', storeMd)    // a second file of the same benchmark (run.ts picks up jobs-*.md)
 * ```
 */
export function writeResult(name: string, markdown: string, printed: string | false = markdown): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const path = join(RESULTS_DIR, `${name}.md`)
  writeFileSync(path, markdown)
  if (printed !== false) console.log(printed)
  return path
}
