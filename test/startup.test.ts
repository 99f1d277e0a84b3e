/**
 * The start-up checks (src/startup) in-process: which failures become a StartupError naming the
 * path, which pass through untouched, the one FILES_DIR warning, and the synchronous exit-time
 * writing of the log (src/log.ts) a fatal line depends on.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createLogger } from '../src/log.ts'
import { checkTlsFiles, listenError, openAtStart, prepareDataDir, StartupError, warnIfFilesDirMissing } from '../src/startup/index.ts'
import { SqliteUserStore } from '../src/store/users.ts'
import { tempDir } from './support/deps.ts'
import { runRepeatedly } from './support/process.ts'

const tmp = tempDir('highperf-startup-unit-')
afterAll(() => tmp.remove())

/** The error `fn` throws (fails the test if it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

describe('prepareDataDir', () => {
  test('creates a missing DATA_DIR with its parents and returns its absolute path', () => {
    const dir = join(tmp.dir, 'a', 'b', 'data')
    expect(prepareDataDir(dir)).toBe(resolve(dir))
    expect(prepareDataDir(dir)).toBe(resolve(dir)) // and again, once it exists
  })

  test('a DATA_DIR that is a file is a StartupError naming it, with the setting to change', () => {
    const file = join(tmp.dir, 'plain-file')
    writeFileSync(file, 'x')
    const err = thrown(() => prepareDataDir(file))
    expect(err).toBeInstanceOf(StartupError)
    expect(err).toMatchObject({ code: 'data_dir', path: file })
    expect((err as Error).message).toContain('DATA_DIR (--data-dir)')
  })
})

describe('prepareDataDir: what stands in the way', () => {
  test('a symbolic link to nothing is named as such, with its target', () => {
    const link = join(tmp.dir, 'dangling-data')
    symlinkSync(join(tmp.dir, 'nowhere'), link)
    expect((thrown(() => prepareDataDir(link)) as Error).message).toStartWith(`DATA_DIR ${link} is a symbolic link to ${join(tmp.dir, 'nowhere')}, which does not exist`)
  })
})

describe('openAtStart', () => {
  test('a FIFO where a database should be is named before SQLite opens it (SQLite says only "disk I/O error")', () => {
    const dir = join(tmp.dir, 'fifo-db')
    mkdirSync(dir)
    const path = join(dir, 'users.sqlite')
    expect(Bun.spawnSync(['mkfifo', path]).exitCode).toBe(0)
    let opened = false
    const err = thrown(() => openAtStart(path, () => { opened = true }))
    expect(err).toMatchObject({ code: 'database', path })
    expect((err as Error).message).toContain('is not a regular file')
    expect(opened).toBe(false)
  })


  test('a file that is no database becomes a StartupError naming it; the open error stays as its cause', () => {
    const dir = join(tmp.dir, 'garbage')
    mkdirSync(dir)
    const path = join(dir, 'users.sqlite')
    writeFileSync(path, 'this is not a database, but long enough to have a header'.repeat(100))
    const err = thrown(() => openAtStart(path, () => SqliteUserStore.open(path)))
    expect(err).toBeInstanceOf(StartupError)
    expect(err).toMatchObject({ code: 'database', path })
    expect((err as Error).message).toContain(path)
    expect(((err as Error).cause as { code?: string }).code).toBe('SQLITE_NOTADB')
  })

  test('an error that is not the file system\'s or SQLite\'s passes through unchanged (a bug keeps its stack)', () => {
    const bug = new TypeError('undefined is not a function')
    expect(thrown(() => openAtStart(join(tmp.dir, 'absent.sqlite'), () => { throw bug }))).toBe(bug)
  })

  test('the message is one line even when the path holds a newline', () => {
    const dir = join(tmp.dir, 'new\nline')
    mkdirSync(join(dir, 'users.sqlite'), { recursive: true })
    const err = thrown(() => openAtStart(join(dir, 'users.sqlite'), () => SqliteUserStore.open(join(dir, 'users.sqlite'))))
    expect(err).toBeInstanceOf(StartupError)
    expect((err as Error).message).not.toContain('\n')
  })
})

describe('checkTlsFiles', () => {
  const key = join(tmp.dir, 'tls-key.pem')
  const cert = join(tmp.dir, 'tls-cert.pem')
  const combined = join(tmp.dir, 'tls-combined.pem')
  const made = (() => {
    const r = Bun.spawnSync(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stderr: 'pipe' })
    if (r.exitCode === 0) writeFileSync(combined, readFileSync(key, 'utf8') + readFileSync(cert, 'utf8'))
    return r.exitCode === 0
  })()

  test('nothing to check without TLS settings', () => {
    expect(() => checkTlsFiles('', '')).not.toThrow()
  })

  test.skipIf(!made)('accepts what Bun.serve accepts: an EC key, and key and certificate in one file', () => {
    expect(() => checkTlsFiles(cert, key)).not.toThrow()
    expect(() => checkTlsFiles(combined, combined)).not.toThrow()
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', tls: { cert: Bun.file(combined), key: Bun.file(combined) }, fetch: () => new Response('ok') })
    server.stop(true)
  })

  test.skipIf(!made)('a key file holding only a certificate is named as the key at fault', () => {
    const err = thrown(() => checkTlsFiles(cert, cert))
    expect(err).toMatchObject({ code: 'tls_file', path: cert })
    expect((err as Error).message).toStartWith(`TLS_KEY_FILE ${cert} is not an unencrypted PEM private key`)
  })
})

describe('listenError', () => {
  test('a taken port names the address and PORT', () => {
    const taken = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('taken') })
    try {
      const err = thrown(() => Bun.serve({ hostname: '127.0.0.1', port: taken.port, fetch: () => new Response('x') }))
      const mapped = listenError(err, '127.0.0.1', taken.port ?? 0)
      expect(mapped?.message).toBe(`cannot listen on 127.0.0.1:${taken.port}: the address is already in use; stop what listens there, or choose another port with PORT (--port)`)
    } finally {
      taken.stop(true)
    }
  })

  test('an address this machine does not have names HOST', () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to a real host.
    const err = thrown(() => Bun.serve({ hostname: '192.0.2.1', port: 0, fetch: () => new Response('x') }))
    expect(listenError(err, '192.0.2.1', 0)?.message).toContain('HOST (--host)')
  })

  test('anything else is left to the caller', () => {
    expect(listenError(new Error('boom'), '127.0.0.1', 1)).toBeUndefined()
  })
})

describe('warnIfFilesDirMissing', () => {
  const capture = () => {
    const lines: Array<{ level: number; msg: string; filesDir?: string }> = []
    const log = createLogger({ logLevel: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s)) } })
    return { lines, log }
  }

  test('a missing directory: one warning naming it and FILES_DIR', () => {
    const { lines, log } = capture()
    const missing = join(tmp.dir, 'no-public')
    expect(warnIfFilesDirMissing(missing, log)).toBe(true)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 40, filesDir: missing })
    expect(lines[0]?.msg).toContain(`FILES_DIR ${missing} does not exist`)
    expect(lines[0]?.msg).toContain('FILES_DIR (--files-dir)')
  })

  test('a file instead of a directory: one warning; an existing directory: none', () => {
    const { lines, log } = capture()
    const file = join(tmp.dir, 'public-file')
    writeFileSync(file, 'x')
    expect(warnIfFilesDirMissing(file, log)).toBe(true)
    expect(warnIfFilesDirMissing(tmp.dir, log)).toBe(false)
    expect(lines).toHaveLength(1)
    expect(lines[0]?.msg).toContain('is not a directory')
  })
})

describe('endLogger', () => {
  // The exit path of main.ts in miniature: log, end the logger, exit at once. pino's flush()
  // returned while the write was in flight and process.exit dropped it in some runs.
  const script = `
    import { createLogger, endLogger } from './src/log.ts'
    const log = createLogger({ logLevel: 'info' })
    log.fatal({ detail: 'x'.repeat(2000) }, 'the last words')
    await endLogger(log)
    process.exit(1)
  `
  test('what was logged before exiting is out, in 20 of 20 runs with stdout a pipe', async () => {
    const runs = await runRepeatedly([process.execPath, '-e', script], {}, 20)
    const lost = runs.filter((r) => !r.stdout.includes('the last words')).length
    expect({ lost, of: 20 }).toEqual({ lost: 0, of: 20 })
    for (const r of runs) expect(r.code).toBe(1)
  }, 60_000)
})
