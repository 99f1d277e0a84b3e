/**
 * The one kind of error a start-up check throws: what is wrong with which file, and what the
 * operator does about it, ready to be printed as one line by `main.ts` (exit code 1).
 *
 * A start-up failure is read by a person looking at a terminal or a container log, not by a
 * program: the message names the path and the setting that chose it, says what is wrong in plain
 * words, and ends with the fix. No stack trace is printed for it; the `cause` stays attached for
 * code that embeds the server and wants the original error.
 *
 * @example
 * ```ts
 * throw new StartupError('data_dir', '/srv/data', 'DATA_DIR /srv/data is a file, not a directory',
 *   'set DATA_DIR (--data-dir) to a directory')
 * ```
 */

/** What failed: the data directory, one database in it, a TLS file, the access log file, or the listening socket. */
export type StartupErrorCode = 'data_dir' | 'database' | 'tls_file' | 'access_log' | 'listen' | 'jobs_url'

/** A start-up failure with the path it concerns and the fix; its `message` is one line. */
export class StartupError extends Error {
  readonly code: StartupErrorCode
  /** The file or directory at fault (for `listen`: `host:port`). */
  readonly path: string
  /** What is wrong, naming the path. */
  readonly problem: string
  /** What to do about it. */
  readonly fix: string

  constructor(code: StartupErrorCode, path: string, problem: string, fix: string, options: { cause?: unknown } = {}) {
    // One line whatever the OS put in an error text (a path may hold a newline, too).
    super(`${problem}; ${fix}`.replace(/[\r\n]+/g, ' '), options)
    this.name = 'StartupError'
    this.code = code
    this.path = path
    this.problem = problem
    this.fix = fix
  }
}

/** The `code` of a Node-style (ENOENT…) or SQLite (SQLITE_…) error, or '' when there is none. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : ''
}

/** The message of an error without Node's "ENOENT: " prefix and the syscall/path it repeats. */
export function shortReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  // "EACCES: permission denied, open '/x'" -> "permission denied"
  const m = /^E[A-Z]+: ([^,]+)(?:,|$)/.exec(message)
  return (m?.[1] ?? message).trim()
}

/** The uid the server runs as, for "make it writable by uid N" (undefined off POSIX). */
export function runningUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined
}

/** "this process (uid 1000)" or "this process" where uids do not exist. */
export function thisProcess(): string {
  const uid = runningUid()
  return uid === undefined ? 'this process' : `this process (uid ${uid})`
}
