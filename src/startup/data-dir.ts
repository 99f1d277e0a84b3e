/**
 * Start-up checks of `DATA_DIR` and of each database in it, turning what the OS or SQLite says
 * into a {@link StartupError} that names the path and the fix.
 *
 * Why check before opening: SQLite's own errors do not name the file ("unable to open database
 * file", "file is not a database"), a read-only directory may only show up at the first write
 * (a 500 on the first POST), and a read-only database file is opened read-only without a word.
 * `access(2)` answers for the current process, root included: it reports a read-only mount
 * (EROFS) and an immutable file (EPERM) even where root's permission bits would not.
 *
 * @example
 * ```ts
 * const dir = prepareDataDir(config.dataDir)
 * const users = openAtStart(join(dir, 'users.sqlite'), () => SqliteUserStore.open(join(dir, 'users.sqlite')))
 * ```
 */
import { accessSync, constants, lstatSync, mkdirSync, readlinkSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { errorCode, shortReason, StartupError, thisProcess, runningUid } from './error.ts'

const USE_ANOTHER = 'or set DATA_DIR (--data-dir) to a writable directory'

/** "make it writable by uid 1000 (chown/chmod; chattr -i if immutable)" */
function makeWritable(what: string, how = 'writable'): string {
  const uid = runningUid()
  return `make ${what} ${how} by ${uid === undefined ? 'the server\'s user' : `uid ${uid}`} (chown/chmod; chattr -i if it is immutable)`
}

/** The nearest existing ancestor of `path` that is not a directory, if any (why mkdir said ENOTDIR). */
function fileInTheWay(path: string): string | undefined {
  for (let p = dirname(path); p !== dirname(p); p = dirname(p)) {
    try {
      return statSync(p).isDirectory() ? undefined : p
    } catch { /* does not exist: look further up */ }
  }
  return undefined
}

/** What stands where a directory was expected (mkdir said EEXIST): "is a file, not a directory"… */
function whatIsThere(path: string): string {
  try {
    const st = statSync(path)
    return st.isFile() ? 'is a file, not a directory' : 'is not a directory'
  } catch {
    // stat failed where lstat found something: a symbolic link to nothing.
    let target = '?'
    try { target = readlinkSync(path) } catch { /* keep '?' */ }
    return `is a symbolic link to ${target}, which does not exist`
  }
}

/** A failed mkdir/access of DATA_DIR as a StartupError. */
function dataDirError(dir: string, err: unknown, creating: boolean): StartupError {
  const code = errorCode(err)
  const cause = { cause: err }
  switch (code) {
    case 'EEXIST':
      return new StartupError('data_dir', dir, `DATA_DIR ${dir} ${whatIsThere(dir)}`, 'move it away, or set DATA_DIR (--data-dir) to a directory (it is created if missing)', cause)
    case 'ENOTDIR': {
      const file = fileInTheWay(dir) ?? dirname(dir)
      return new StartupError('data_dir', dir, `DATA_DIR ${dir} cannot be created: ${file} is a file, not a directory`, `set DATA_DIR (--data-dir) to a path under a directory`, cause)
    }
    case 'EROFS':
      return new StartupError('data_dir', dir, `DATA_DIR ${dir} is on a read-only file system`, `mount it read-write, ${USE_ANOTHER}`, cause)
    case 'EACCES':
    case 'EPERM':
      return creating
        ? new StartupError('data_dir', dir, `DATA_DIR ${dir} cannot be created by ${thisProcess()}: ${shortReason(err)}`, `create it and ${makeWritable('it')}, ${USE_ANOTHER}`, cause)
        : new StartupError('data_dir', dir, `DATA_DIR ${dir} is not writable by ${thisProcess()}: ${shortReason(err)}`, `${makeWritable('it')}, ${USE_ANOTHER}`, cause)
    case 'ENOSPC':
    case 'EDQUOT':
      return new StartupError('data_dir', dir, `DATA_DIR ${dir} cannot be created: no space left on the device`, `free some space, ${USE_ANOTHER}`, cause)
    default:
      return new StartupError('data_dir', dir, `DATA_DIR ${dir} cannot be ${creating ? 'created' : 'used'}: ${shortReason(err)}`, `fix the path or its permissions, ${USE_ANOTHER}`, cause)
  }
}

/**
 * Creates `DATA_DIR` if missing and checks that this process can create files in it. Returns the
 * absolute path (messages name it; a relative one depends on the working directory).
 * Throws a {@link StartupError} (`data_dir`) otherwise.
 *
 * @example prepareDataDir('./data') // '/srv/highperf/data'
 */
export function prepareDataDir(dataDir: string): string {
  const dir = resolve(dataDir)
  try {
    mkdirSync(dir, { recursive: true })
  } catch (err) {
    throw dataDirError(dir, err, true)
  }
  // mkdir -p succeeds on a symlink to a directory, and says EEXIST for anything else there.
  let isDirectory = false
  try {
    isDirectory = statSync(dir).isDirectory()
  } catch { /* gone again: reported as EEXIST below */ }
  if (!isDirectory) throw dataDirError(dir, Object.assign(new Error('not a directory'), { code: 'EEXIST' }), true)
  try {
    // W to create the databases and their -wal files, X to reach them.
    accessSync(dir, constants.W_OK | constants.X_OK)
  } catch (err) {
    throw dataDirError(dir, err, false)
  }
  return dir
}

/** Before opening: the database file (and its -wal/-shm, left by an earlier run) must be usable. */
function checkDatabaseFile(path: string): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let st
    try {
      st = statSync(file)
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw new StartupError('database', file, `${file} cannot be used: ${shortReason(err)}`, 'fix it or its permissions', { cause: err })
      if (lstatSync(file, { throwIfNoEntry: false }) === undefined) continue // missing: SQLite creates it
      // Another process sharing DATA_DIR may have created it between the two calls (a cluster's
      // first start): only an entry that still does not stat is a dangling link.
      st = statSync(file, { throwIfNoEntry: false })
      if (st === undefined) throw new StartupError('database', file, `${file} ${whatIsThere(file)}`, 'remove or fix the link (a missing database is created at start)', { cause: err })
    }
    if (st.isDirectory()) {
      throw new StartupError('database', file, `${file} is a directory, not a database file`, 'remove or rename it (a missing database is created at start)')
    }
    // SQLite answers a FIFO or a device with a bare "disk I/O error": only regular files (or links to them).
    if (!st.isFile()) {
      throw new StartupError('database', file, `${file} is not a regular file`, 'remove or rename it (a missing database is created at start)')
    }
    try {
      accessSync(file, constants.R_OK | constants.W_OK)
    } catch (err) {
      const code = errorCode(err)
      if (code === 'EROFS') throw new StartupError('database', file, `${file} is on a read-only file system`, `mount DATA_DIR read-write, ${USE_ANOTHER}`, { cause: err })
      if (code === 'EACCES' || code === 'EPERM') throw new StartupError('database', file, `${file} is not readable and writable by ${thisProcess()}: ${shortReason(err)}`, makeWritable('it', 'readable and writable'), { cause: err })
      if (code !== 'ENOENT') throw new StartupError('database', file, `${file} cannot be used: ${shortReason(err)}`, 'check the file and its permissions', { cause: err })
    }
  }
}

/**
 * A failure to open or prepare the database at `path` as a StartupError naming it, or `err`
 * unchanged when it is not a file-system or SQLite error (a bug: its stack is worth printing).
 */
function databaseError(path: string, err: unknown): unknown {
  if (err instanceof StartupError) return err
  const code = errorCode(err)
  const reason = shortReason(err)
  const cause = { cause: err }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new StartupError('database', path, `${path} is not a SQLite database or is damaged (${reason})`, 'restore it from a backup, or move it away to start with an empty database', cause)
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StartupError('database', path, `${path} is locked by another process (another highperf on the same DATA_DIR?)`, 'stop it or give this server its own DATA_DIR; servers that share a DATA_DIR need REUSE_PORT=true (or SQLITE_LOCKING=shared)', cause)
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new StartupError('database', path, `${path} cannot be written by ${thisProcess()} (${reason})`, `${makeWritable('it and DATA_DIR')}, ${USE_ANOTHER}`, cause)
  }
  if (code.startsWith('SQLITE_FULL') || code === 'ENOSPC' || code === 'EDQUOT') {
    return new StartupError('database', path, `${path} cannot be written: the disk is full`, 'free some space on DATA_DIR\'s file system', cause)
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_PERM') || code === 'EACCES' || code === 'EPERM') {
    return new StartupError('database', path, `${path} cannot be opened by ${thisProcess()} (${reason})`, `${makeWritable('it and DATA_DIR')}, ${USE_ANOTHER}`, cause)
  }
  if (code.startsWith('SQLITE_') || /^E[A-Z]+$/.test(code)) {
    return new StartupError('database', path, `${path} cannot be opened (${reason})`, 'check the disk and the file, or move the file away to start with an empty database', cause)
  }
  return err
}

/**
 * Runs `open` for the database at `path` (synchronous: the stores open in their constructors),
 * after checking the file, and turns its failure into a {@link StartupError} naming `path`.
 *
 * @example const users = openAtStart(path, () => SqliteUserStore.open(path, { exclusive }))
 */
export function openAtStart<T>(path: string, open: () => T): T {
  checkDatabaseFile(path)
  try {
    return open()
  } catch (err) {
    throw databaseError(path, err)
  }
}

/**
 * Awaits `start`, a first use of the database at `path` (e.g. the job runner's first counts and claim), turning
 * a database failure into a {@link StartupError} naming `path`.
 *
 * @example await startAtStart(jobsPath, () => jobs.start())
 */
export async function startAtStart(path: string, start: () => Promise<void>): Promise<void> {
  try {
    await start()
  } catch (err) {
    throw databaseError(path, err)
  }
}
