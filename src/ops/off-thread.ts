/**
 * SQLite work for a backup on a thread of its own, so a server keeps serving meanwhile: copying a
 * database file it does not hold exclusively (`VACUUM INTO` on a read-only connection of the
 * worker's) and `PRAGMA integrity_check` of a copy. The check reads every page and index: on this
 * machine ~8 ms per MB for a users table with its case-insensitive unique index (277 ms for
 * 35 MB), more than the copy itself, and on the main thread it held every request for that long.
 *
 * The worker is made from a source string (a Blob URL), not from a file: it needs nothing but
 * bun:sqlite, and a worker file would have to be listed in scripts/build.ts's entry points to
 * exist in the compiled binary (a blob worker runs there as is: checked with `bun build
 * --compile`, and test/cli/binary.test.ts backs up through it). One short-lived worker per call:
 * backups are rare, and its ~15 ms start is nothing next to the work.
 *
 * @example
 * ```ts
 * await copyOffThread('./data/jobs.sqlite', '/backups/x/jobs.sqlite.partial')
 * await integrityProblems('/backups/x/jobs.sqlite.partial') // [] when sound
 * ```
 */

// Plain JavaScript, evaluated as it is by the worker. It answers `{ problems }` for a check and
// `{ error, code }` or `{}` for a copy; nothing is ever thrown out of it.
const WORKER_SOURCE = `import { Database } from 'bun:sqlite'
function check(path) {
  try {
    const db = new Database(path, { readonly: true })
    try {
      const rows = db.query('PRAGMA integrity_check').all().map((r) => String(r.integrity_check))
      return { problems: rows.length === 1 && rows[0] === 'ok' ? [] : rows.slice(0, 20) }
    } finally {
      db.close()
    }
  } catch (err) {
    return { problems: [String((err && err.message) || err)] }
  }
}
function copy(from, to, busyTimeoutMs) {
  try {
    const db = new Database(from, { readonly: true })
    try {
      db.run('PRAGMA busy_timeout = ' + Math.max(0, Math.floor(busyTimeoutMs)))
      db.run('VACUUM INTO ?1', [to])
      return {}
    } finally {
      db.close()
    }
  } catch (err) {
    return { error: String((err && err.message) || err), code: String((err && err.code) || '') }
  }
}
self.onmessage = (event) => {
  const m = event.data
  postMessage(m.op === 'check' ? check(m.path) : copy(m.from, m.to, m.busyTimeoutMs))
}
`

let workerUrl: string | undefined

type WorkerRequest = { op: 'check'; path: string } | { op: 'copy'; from: string; to: string; busyTimeoutMs: number }
type WorkerAnswer = { problems?: string[]; error?: string; code?: string }

/** Runs one request in a new worker and resolves with its answer (a failed worker is an error answer). */
function inWorker(request: WorkerRequest): Promise<WorkerAnswer> {
  workerUrl ??= URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'application/javascript' }))
  return new Promise<WorkerAnswer>((resolve) => {
    const worker = new Worker(workerUrl as string)
    // Work still running must not keep a process that is exiting alive.
    worker.unref()
    const finish = (answer: WorkerAnswer) => {
      worker.terminate()
      resolve(answer)
    }
    worker.onmessage = (event: MessageEvent<WorkerAnswer>) => finish(typeof event.data === 'object' && event.data !== null ? event.data : { error: 'the worker answered nonsense' })
    worker.onerror = (event: ErrorEvent) => finish({ error: `the worker failed: ${event.message}` })
    worker.postMessage(request)
  })
}

/** A failed {@link copyOffThread}: SQLite's message and code (`SQLITE_BUSY`…). */
export class OffThreadCopyError extends Error {
  readonly code: string
  constructor(message: string, code: string) {
    super(message)
    this.name = 'OffThreadCopyError'
    this.code = code
  }
}

/**
 * Runs `PRAGMA integrity_check` on the file at `path` (read-only) in a worker thread and resolves
 * with SQLite's complaints (at most 20), or [] when it answers `ok`. Never rejects: a file that
 * cannot be opened is one complaint.
 *
 * @example const problems = await integrityProblems(file)
 */
export async function integrityProblems(path: string): Promise<string[]> {
  const answer = await inWorker({ op: 'check', path })
  return answer.problems ?? [answer.error ?? 'the integrity check failed']
}

/**
 * Copies the database at `from` to the new file `to` with `VACUUM INTO` on a read-only
 * connection in a worker thread. Only for a file no connection holds in exclusive locking mode
 * (that one answers SQLITE_BUSY after `busyTimeoutMs`). Rejects with {@link OffThreadCopyError}.
 *
 * @example await copyOffThread(join(dataDir, 'jobs.sqlite'), partial)
 */
export async function copyOffThread(from: string, to: string, busyTimeoutMs = 5000): Promise<void> {
  const answer = await inWorker({ op: 'copy', from, to, busyTimeoutMs })
  if (answer.error !== undefined) throw new OffThreadCopyError(answer.error, answer.code ?? '')
}
