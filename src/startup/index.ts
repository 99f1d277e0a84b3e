/**
 * Start-up checks: what must hold before highperf opens its databases and listens, each failure a
 * {@link StartupError} that `main.ts` prints as one line on stderr before exiting 1.
 *
 * - `TLS_CERT_FILE` / `TLS_KEY_FILE`: readable PEM, the key the certificate's (./tls.ts).
 * - `DATA_DIR`: created if missing, a directory, writable (./data-dir.ts); each database file is
 *   checked and opened through {@link openAtStart}.
 * - `ACCESS_LOG` naming a file: opened through {@link openAccessLogAtStart} (./access-log.ts).
 * - `DATABASE_URL`: the first connection to PostgreSQL, through {@link connectAtStart}
 *   (./database-url.ts).
 * - `FILES_DIR`: not required (a missing one answers 404s), so only one warning at start.
 * - Listening: a taken port, an address this machine does not have, a privileged port
 *   ({@link listenError}).
 *
 * @example
 * ```ts
 * const dataDir = checkStartup(config, log)   // in buildDeps, before anything is opened
 * ```
 */
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import { errorCode, shortReason, StartupError, thisProcess } from './error.ts'
import { prepareDataDir } from './data-dir.ts'
import { checkTlsFiles } from './tls.ts'

export { StartupError, type StartupErrorCode } from './error.ts'
export { openAtStart, prepareDataDir, startAtStart } from './data-dir.ts'
export { openAccessLogAtStart } from './access-log.ts'
export { checkTlsFiles } from './tls.ts'
export { connectAtStart } from './database-url.ts'

/**
 * Logs one warning when `FILES_DIR` is missing or not a directory: the server still starts (every
 * `/files/` request is a 404 until it appears), but an operator who meant to serve files learns
 * why at start, once, instead of from 404s. Returns whether it warned.
 *
 * @example warnIfFilesDirMissing('./public', log)
 */
export function warnIfFilesDirMissing(filesDir: string, log: Logger): boolean {
  const dir = resolve(filesDir)
  const hint = 'every /files/ request answers 404 until it does; set FILES_DIR (--files-dir) to the directory to serve'
  try {
    if (statSync(dir).isDirectory()) return false
    log.warn({ filesDir: dir }, `FILES_DIR ${dir} is not a directory: ${hint.replace('until it does', 'until it is one')}`)
  } catch (err) {
    const code = errorCode(err)
    if (code === 'ENOENT' || code === 'ENOTDIR') log.warn({ filesDir: dir }, `FILES_DIR ${dir} does not exist: ${hint}`)
    else log.warn({ filesDir: dir }, `FILES_DIR ${dir} cannot be read by ${thisProcess()} (${shortReason(err)}): every /files/ request answers 404; make it readable or set FILES_DIR (--files-dir)`)
  }
  return true
}

/**
 * Everything checked before the databases open: the TLS files, then `DATA_DIR` (created if
 * missing); warns about a missing `FILES_DIR`. Returns `DATA_DIR`'s absolute path.
 * Throws a {@link StartupError}.
 *
 * @example const dataDir = checkStartup(config, log)
 */
export function checkStartup(config: Config, log: Logger): string {
  checkTlsFiles(config.tlsCertFile, config.tlsKeyFile)
  const dataDir = prepareDataDir(config.dataDir)
  warnIfFilesDirMissing(config.filesDir, log)
  return dataDir
}

/**
 * A failure of `Bun.serve` to listen on `host:port` as a StartupError with the fix, or undefined
 * when it is something else.
 *
 * @example listenError(err, '127.0.0.1', 3000)?.message
 */
export function listenError(err: unknown, host: string, port: number): StartupError | undefined {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
  const cause = { cause: err }
  switch (errorCode(err)) {
    case 'EADDRINUSE':
      return new StartupError('listen', where, `cannot listen on ${where}: the address is already in use`, 'stop what listens there, or choose another port with PORT (--port)', cause)
    case 'EADDRNOTAVAIL':
      return new StartupError('listen', where, `cannot listen on ${where}: ${host} is not an address of this machine`, 'set HOST (--host) to one of its addresses, or 0.0.0.0 for all', cause)
    case 'EACCES':
    case 'EPERM':
      return new StartupError('listen', where, `cannot listen on ${where}: permission denied for ${thisProcess()}`, port < 1024 ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE; choose a port from 1024 with PORT (--port)' : 'choose another port with PORT (--port)', cause)
    case 'EINVAL':
    case 'ENOTFOUND':
      return new StartupError('listen', where, `cannot listen on ${where}: ${host} is not a valid local address`, 'set HOST (--host) to an IP address of this machine, or 0.0.0.0 for all', cause)
    default:
      return undefined
  }
}
