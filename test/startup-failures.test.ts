/**
 * Start-up failures of the real process (`bun run src/main.ts`) with stdout and stderr as pipes,
 * as under a container runtime or systemd: a damaged database, an unusable DATA_DIR, a wrong TLS
 * file. Each must end with exit code 1 and exactly one line on stderr naming the file and the fix,
 * without a stack trace, in every start: the line used to be a JSON log record on stdout, and
 * `process.exit` dropped it in some starts (it was still being written asynchronously).
 *
 * Runs as root here, where permission bits stop nothing: a read-only DATA_DIR is a tmpfs mounted
 * read-only, an immutable one uses `chattr +i`, and an unwritable or unreadable file is checked
 * by a process without root's file capabilities (`setpriv`). Each is skipped, with the reason in
 * its name, only where that tool is missing.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './support/deps.ts'
import { freePort, runRepeatedly, spawnHighperf, waitHealthy, withoutFileCapabilities, type RunOutput } from './support/process.ts'

const MAIN = [process.execPath, 'run', 'src/main.ts']
const tmp = tempDir('highperf-startup-')
const cleanups: Array<() => void> = []
afterAll(() => {
  for (const c of cleanups.reverse()) c()
  tmp.remove()
})

let dirs = 0
/** A fresh directory path under the test's temporary directory (not created). */
const fresh = (name: string) => join(tmp.dir, `${name}-${++dirs}`)

/**
 * A quiet environment: port 0, one worker, an existing FILES_DIR (its warning is tested below),
 * and a DATA_DIR of its own unless `extra` names one.
 */
const envWith = (extra: Record<string, string>) => ({
  PORT: '0',
  HOST: '127.0.0.1',
  WORKERS: '1',
  ACCESS_LOG: 'off',
  FILES_DIR: tmp.dir,
  DATA_DIR: fresh('data'),
  ...extra,
})

/** Bytes that are no SQLite database (a SQLite file starts with "SQLite format 3\0"). */
const GARBAGE = new Uint8Array(8192).map((_, i) => (i * 7919 + 13) % 251)

/** The start exited 1 and printed exactly one clear line on stderr with all of `expected`. */
function expectOneClearLine(r: RunOutput, expected: string[]): void {
  expect(r.code).toBe(1)
  const lines = r.stderr.split('\n').filter((l) => l !== '')
  expect(lines).toHaveLength(1)
  const line = lines[0] ?? ''
  expect(line).toStartWith('highperf: cannot start: ')
  for (const text of expected) expect(line).toContain(text)
  // No stack trace, neither on stderr nor in a log record on stdout (where it is JSON-escaped).
  expect(r.stderr + r.stdout).not.toMatch(/(\n|\\n)\s+at /)
}

/**
 * Starts `times` processes (stdout/stderr piped), each with `envWith(extra)` or `envWith(extra(run))`,
 * and checks that every one printed one line naming `expected`.
 */
async function expectStartFails(extra: Record<string, string> | ((run: number) => Record<string, string>), expected: string[] | ((run: number) => string[]), times = 20, cmd = MAIN): Promise<void> {
  const runs = await runRepeatedly(cmd, (i) => envWith(typeof extra === 'function' ? extra(i) : extra), times)
  // First the figure the issue is about: how many starts printed nothing at all.
  const silent = runs.filter((r) => r.stderr === '').length
  expect({ silent, of: times }).toEqual({ silent: 0, of: times })
  runs.forEach((r, i) => expectOneClearLine(r, typeof expected === 'function' ? expected(i) : expected))
}

// A tmpfs mounted read-only: EROFS for everyone, root included.
const readOnly = fresh('read-only')
mkdirSync(readOnly)
const mounted = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly], { stderr: 'pipe' }).exitCode === 0
if (mounted) cleanups.push(() => { Bun.spawnSync(['umount', readOnly]) })

describe('a damaged database: one line naming the file, in 20 of 20 starts', () => {
  for (const db of ['users', 'jobs', 'messages']) {
    test(`a ${db}.sqlite that is not a database`, async () => {
      // One directory per start: starts at once on one DATA_DIR would fight over its locks.
      const dataDirs = Array.from({ length: 20 }, () => {
        const dir = fresh('corrupt')
        mkdirSync(dir)
        writeFileSync(join(dir, `${db}.sqlite`), GARBAGE)
        return dir
      })
      await expectStartFails((i) => ({ DATA_DIR: dataDirs[i] ?? '' }), (i) => [join(dataDirs[i] ?? '', `${db}.sqlite`), 'not a SQLite database', 'backup'])
    }, 60_000)
  }

  test('a users.sqlite with a valid header and a damaged schema page', async () => {
    const dataDir = fresh('malformed')
    mkdirSync(dataDir)
    // A real header, then garbage where the schema should be.
    const bytes = new Uint8Array(4096)
    bytes.set(new TextEncoder().encode('SQLite format 3\0'))
    bytes.set([0x10, 0x00, 0x01, 0x01, 0x00, 0x40, 0x20, 0x20], 16) // page size 4096, file format 1
    bytes.set(GARBAGE.subarray(0, 3000), 100)
    writeFileSync(join(dataDir, 'users.sqlite'), bytes)
    await expectStartFails({ DATA_DIR: dataDir }, [join(dataDir, 'users.sqlite'), 'backup'], 5)
  }, 60_000)

  test('a users.sqlite that is a directory', async () => {
    const dataDir = fresh('dbdir')
    mkdirSync(join(dataDir, 'users.sqlite'), { recursive: true })
    await expectStartFails({ DATA_DIR: dataDir }, [join(dataDir, 'users.sqlite'), 'is a directory', 'remove or rename'])
  }, 60_000)

  test('a users.sqlite locked by another running server names the lock and REUSE_PORT', async () => {
    const dataDir = fresh('locked')
    const port = freePort()
    const first = spawnHighperf(MAIN, envWith({ DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'silent' }))
    try {
      await waitHealthy(`http://127.0.0.1:${port}/healthz`, first.proc)
      // The second waits SQLite's busy timeout (5 s) for the lock before giving up.
      await expectStartFails({ DATA_DIR: dataDir }, [join(dataDir, 'users.sqlite'), 'locked by another process', 'REUSE_PORT'], 1)
    } finally {
      first.proc.kill('SIGKILL')
      await first.proc.exited
    }
  }, 60_000)
})

describe('an unusable DATA_DIR: one line naming it and the fix, in 20 of 20 starts', () => {
  test('DATA_DIR is a file', async () => {
    const file = fresh('a-file')
    writeFileSync(file, 'not a directory')
    await expectStartFails({ DATA_DIR: file }, [`DATA_DIR ${file} is a file`, 'DATA_DIR (--data-dir)'])
  }, 60_000)

  test('DATA_DIR below a file', async () => {
    const file = fresh('a-file')
    writeFileSync(file, 'not a directory')
    await expectStartFails({ DATA_DIR: join(file, 'data') }, [`DATA_DIR ${join(file, 'data')}`, `${file} is a file`], 5)
  }, 60_000)

  test.skipIf(!mounted)(`a read-only DATA_DIR (skipped if no read-only tmpfs can be mounted: ${mounted ? 'mounted' : 'mount failed'})`, async () => {
    await expectStartFails({ DATA_DIR: readOnly }, [`DATA_DIR ${readOnly}`, 'read-only file system', 'read-write'])
    // And one that would have to be created there.
    await expectStartFails({ DATA_DIR: join(readOnly, 'data') }, [`DATA_DIR ${join(readOnly, 'data')}`, 'read-only file system'], 5)
  }, 60_000)

  // chmod 555: what an unprivileged server user meets in a directory owned by someone else.
  const cmd = withoutFileCapabilities(MAIN)
  test.skipIf(cmd === undefined)('an unwritable DATA_DIR (as root: run without file capabilities; skipped without setpriv)', async () => {
    const dir = fresh('unwritable')
    mkdirSync(dir)
    chmodSync(dir, 0o555)
    await expectStartFails({ DATA_DIR: dir }, [`DATA_DIR ${dir} is not writable`, 'permission denied', 'DATA_DIR (--data-dir)'], 20, cmd)
  }, 60_000)

  const isRoot = process.getuid?.() === 0
  const chattr = Bun.which('chattr')
  test.skipIf(!isRoot || chattr === null)('an immutable DATA_DIR (chattr +i; skipped unless root with chattr)', async () => {
    const dir = fresh('immutable')
    mkdirSync(dir)
    if (Bun.spawnSync([chattr ?? 'chattr', '+i', dir]).exitCode !== 0) throw new Error('chattr +i failed on the test directory')
    cleanups.push(() => { Bun.spawnSync([chattr ?? 'chattr', '-i', dir]) })
    await expectStartFails({ DATA_DIR: dir }, [`DATA_DIR ${dir} is not writable`, 'chattr -i'], 5)
  }, 60_000)
})

describe('a wrong TLS file: one line naming it and the fix', () => {
  const cert = join(tmp.dir, 'cert.pem')
  const key = join(tmp.dir, 'key.pem')
  const otherKey = join(tmp.dir, 'other-key.pem')
  const junk = join(tmp.dir, 'junk.pem')
  const openssl = (keyOut: string, certOut: string) => {
    const r = Bun.spawnSync(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyOut, '-out', certOut,
      '-days', '1', '-subj', '/CN=localhost'], { stderr: 'pipe' })
    if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`)
  }
  let made = false
  const makeFiles = () => {
    if (made) return
    openssl(key, cert)
    openssl(otherKey, join(tmp.dir, 'other-cert.pem'))
    writeFileSync(junk, 'this is not PEM\n')
    made = true
  }

  test('a missing certificate file, in 20 of 20 starts', async () => {
    makeFiles()
    const missing = join(tmp.dir, 'no-such-cert.pem')
    await expectStartFails({ TLS_CERT_FILE: missing, TLS_KEY_FILE: key }, [`TLS_CERT_FILE ${missing} does not exist`, 'TLS_CERT_FILE (--tls-cert-file)'])
  }, 60_000)

  test('a missing key file', async () => {
    makeFiles()
    const missing = join(tmp.dir, 'no-such-key.pem')
    await expectStartFails({ TLS_CERT_FILE: cert, TLS_KEY_FILE: missing }, [`TLS_KEY_FILE ${missing} does not exist`, 'TLS_KEY_FILE (--tls-key-file)'], 5)
  }, 60_000)

  test('a certificate path that is a directory', async () => {
    makeFiles()
    await expectStartFails({ TLS_CERT_FILE: tmp.dir, TLS_KEY_FILE: key }, [`TLS_CERT_FILE ${tmp.dir} is a directory`], 5)
  }, 60_000)

  test('a certificate and a key that do not parse', async () => {
    makeFiles()
    await expectStartFails({ TLS_CERT_FILE: junk, TLS_KEY_FILE: key }, [`TLS_CERT_FILE ${junk} is not a PEM certificate`], 5)
    await expectStartFails({ TLS_CERT_FILE: cert, TLS_KEY_FILE: junk }, [`TLS_KEY_FILE ${junk} is not an unencrypted PEM private key`], 5)
  }, 60_000)

  test('a key that is not the certificate\'s', async () => {
    makeFiles()
    await expectStartFails({ TLS_CERT_FILE: cert, TLS_KEY_FILE: otherKey }, [`TLS_KEY_FILE ${otherKey} is not the private key of TLS_CERT_FILE ${cert}`], 5)
  }, 60_000)

  const cmd = withoutFileCapabilities(MAIN)
  test.skipIf(cmd === undefined)('an unreadable key file (as root: run without file capabilities; skipped without setpriv)', async () => {
    makeFiles()
    const locked = join(tmp.dir, 'locked-key.pem')
    writeFileSync(locked, await Bun.file(key).text())
    chmodSync(locked, 0o000)
    await expectStartFails({ TLS_CERT_FILE: cert, TLS_KEY_FILE: locked }, [`TLS_KEY_FILE ${locked} is not readable`, 'permission denied'], 5, cmd)
  }, 60_000)
})

describe('an unusable ACCESS_LOG file: one line naming it and the fix', () => {
  test('a directory', async () => {
    await expectStartFails({ ACCESS_LOG: tmp.dir }, [`ACCESS_LOG ${tmp.dir} is a directory`, 'ACCESS_LOG (--access-log)'], 5)
  }, 60_000)

  test.skipIf(!mounted)(`on a read-only file system (skipped if no read-only tmpfs can be mounted: ${mounted ? 'mounted' : 'mount failed'})`, async () => {
    const file = join(readOnly, 'access.log')
    await expectStartFails({ ACCESS_LOG: file }, [`ACCESS_LOG ${file} is on a read-only file system`, 'ACCESS_LOG (--access-log)'], 5)
  }, 60_000)
})

describe('FILES_DIR', () => {
  test('a missing FILES_DIR is one warning at start naming it and FILES_DIR, not one per request', async () => {
    const port = freePort()
    const missing = fresh('no-files')
    const s = spawnHighperf(MAIN, envWith({ PORT: String(port), FILES_DIR: missing, LOG_LEVEL: 'info' }))
    try {
      await waitHealthy(`http://127.0.0.1:${port}/healthz`, s.proc)
      for (let i = 0; i < 3; i++) expect((await fetch(`http://127.0.0.1:${port}/files/index.html`)).status).toBe(404)
      s.proc.kill('SIGTERM')
      const { code, stdout } = await s.output()
      expect(code).toBe(0)
      const warnings = stdout.split('\n').filter((l) => l.includes(missing))
      expect(warnings).toHaveLength(1)
      const record = JSON.parse(warnings[0] ?? '{}') as { level: number; msg: string }
      expect(record.level).toBe(40) // pino's warn
      expect(record.msg).toContain('does not exist')
      expect(record.msg).toContain('FILES_DIR (--files-dir)')
    } finally {
      s.proc.kill('SIGKILL')
    }
  }, 60_000)
})
