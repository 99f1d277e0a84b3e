/**
 * The start-up check of `ACCESS_LOG` when it names a file: opening it (and creating its directory)
 * is the check, and its failure becomes a {@link StartupError} naming the file and the fix rather
 * than a bare `EROFS: read-only file system, open '…'` with a stack.
 *
 * @example
 * ```ts
 * const accessLog = openAccessLogAtStart(config.accessLog, () => createAccessLog(config))
 * ```
 */
import { resolve } from 'node:path'
import { errorCode, runningUid, shortReason, StartupError, thisProcess } from './error.ts'

const OTHERWISE = "or set ACCESS_LOG (--access-log) to another file, 'stdout' or 'off'"

/**
 * Runs `open` (which opens the access log `accessLog` names) and turns a file-system failure into
 * a StartupError (`access_log`) naming the file. `stdout` and `off` open no file and pass through.
 *
 * @example openAccessLogAtStart('/var/log/highperf/access.log', () => createAccessLog(config))
 */
export function openAccessLogAtStart<T>(accessLog: string, open: () => T): T {
  try {
    return open()
  } catch (err) {
    const code = errorCode(err)
    if (!/^E[A-Z]+$/.test(code) || accessLog === 'stdout' || accessLog === 'off') throw err
    const path = resolve(accessLog)
    const fail = (problem: string, fix: string) => new StartupError('access_log', path, `ACCESS_LOG ${path} ${problem}`, fix, { cause: err })
    const uid = runningUid()
    switch (code) {
      case 'EISDIR':
        throw fail('is a directory', `name a file in it, ${OTHERWISE}`)
      case 'ENOTDIR':
      case 'EEXIST':
        throw fail('cannot be created: a part of its path is a file, not a directory', `fix the path, ${OTHERWISE}`)
      case 'EROFS':
        throw fail('is on a read-only file system', `mount it read-write, ${OTHERWISE}`)
      case 'EACCES':
      case 'EPERM':
        throw fail(`cannot be opened for appending by ${thisProcess()}: ${shortReason(err)}`,
          `make it and its directory writable by ${uid === undefined ? 'the server\'s user' : `uid ${uid}`} (chown/chmod; chattr -i if it is immutable), ${OTHERWISE}`)
      case 'ENOSPC':
      case 'EDQUOT':
        throw fail('cannot be created: no space left on the device', `free some space, ${OTHERWISE}`)
      default:
        throw fail(`cannot be opened: ${shortReason(err)}`, `fix the path or its permissions, ${OTHERWISE}`)
    }
  }
}
