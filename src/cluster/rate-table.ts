/**
 * The shared-memory file behind the host's rate-limit table (`PROCESSES` > 1): the primary creates
 * it zero-filled before forking, passes its path to every server process in
 * `HIGHPERF_CLUSTER_RATE_TABLE` (config.clusterRateTable; src/http/rate-limit maps and writes it),
 * and removes it when it exits. Under /dev/shm when the host has it (memory, never written to
 * disk), else the OS temporary directory; named with the primary's pid, so two primaries on one
 * host never share a table.
 *
 * The file is never truncated while processes run: a file mapped with `Bun.mmap` and truncated
 * under it is a SIGBUS in every process that touches the lost pages. Its size is fixed at
 * {@link RATE_TABLE_BYTES}; a roll's new processes map the same file.
 *
 * @example
 * ```ts
 * const table = createRateTable(log)   // before forking
 * env.HIGHPERF_CLUSTER_RATE_TABLE = table.path
 * table.remove()                       // after every process exited
 * ```
 */
import { closeSync, existsSync, ftruncateSync, openSync, readdirSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from '../log.ts'

/** The table file's size: 4 MiB. */
export const RATE_TABLE_BYTES = 4 * 1024 * 1024

/** The file name's prefix; the primary's pid follows. */
const PREFIX = 'highperf-rate-'

/** The created table file. */
export interface RateTableFile {
  path: string
  /** Unlinks the file (processes that still have it mapped keep their mapping). Safe to call twice. */
  remove(): void
}

/** Whether the process `pid` exists (EPERM: it exists, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM'
  }
}

/**
 * Creates the zero-filled table file for this primary, after removing the files of primaries that
 * no longer exist (one killed with SIGKILL could not remove its own).
 *
 * @example createRateTable(log, '/dev/shm').path // '/dev/shm/highperf-rate-4242'
 */
export function createRateTable(log: Logger, dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()): RateTableFile {
  try {
    for (const name of readdirSync(dir)) {
      const pid = name.startsWith(PREFIX) ? Number(name.slice(PREFIX.length)) : NaN
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) {
        try { unlinkSync(join(dir, name)); log.info({ path: join(dir, name) }, 'removed the rate-limit table of a primary that no longer runs') } catch { /* someone else's */ }
      }
    }
  } catch { /* an unreadable directory: nothing to clean */ }
  const path = join(dir, `${PREFIX}${process.pid}`)
  const fd = openSync(path, 'w+', 0o600)
  try {
    // Extending a new file fills it with zeros (sparse: pages take memory only once touched).
    ftruncateSync(fd, RATE_TABLE_BYTES)
  } finally {
    closeSync(fd)
  }
  let removed = false
  return {
    path,
    remove() {
      if (removed) return
      removed = true
      try { unlinkSync(path) } catch { /* already gone */ }
    },
  }
}
