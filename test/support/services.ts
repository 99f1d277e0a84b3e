/**
 * Private Redis and PostgreSQL servers for outage tests: each on a free port with its data in a
 * temp dir of its own, so a test can kill and restart it without touching the shared services on
 * 6379 and 5432 that other tests use.
 *
 * - {@link PrivateRedis}: `redis-server` with AOF and `appendfsync always` (an acknowledged write
 *   survives a SIGKILL); `kill()` is a SIGKILL, `start()` again reuses the same port and data.
 * - {@link PrivatePostgres}: a cluster made with `initdb` (trust auth, user `postgres`) under
 *   PostgreSQL's own binaries (`/usr/lib/postgresql/<version>/bin`); as root they run as the
 *   `postgres` user (PostgreSQL refuses to run as root) through `runuser`. `stop()` is
 *   `pg_ctl stop -m immediate` (every backend quits at once, no checkpoint: a crash as clients
 *   see it, WAL replayed on the next start); `kill()` SIGKILLs the postmaster and its backends
 *   (clients see their sockets die without a word). `fsync=off`: a killed *process* loses
 *   nothing the OS already has, and it makes initdb and commits fast; an OS crash is not tested.
 *
 * {@link postgresBinaries} says why a PostgreSQL test must skip (binaries or user missing).
 *
 * @example
 * ```ts
 * const pg = await PrivatePostgres.create()   // initdb + start
 * const url = pg.url('postgres')
 * await pg.stop()                             // immediate stop: an outage
 * await pg.start()                            // back, same data
 * await pg.destroy()
 * ```
 */
import { afterAll, beforeAll, describe } from 'bun:test'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { freePort } from './process.ts'

/** A redis-server of the test's own (see the module comment). */
export class PrivateRedis {
  readonly port: number
  readonly dir: string
  #proc: Subprocess | undefined

  private constructor(port: number, dir: string) {
    this.port = port
    this.dir = dir
  }

  /** Starts one on a free port, with its data in a new temp dir; resolves once it answers PING. */
  static async create(): Promise<PrivateRedis> {
    const r = new PrivateRedis(freePort(), mkdtempSync(join(tmpdir(), 'highperf-redis-')))
    await r.start()
    return r
  }

  /** `redis://127.0.0.1:<port>` (optionally `/<db>`). */
  url(db?: number): string {
    return `redis://127.0.0.1:${this.port}${db === undefined ? '' : `/${db}`}`
  }

  /** (Re)starts it on the same port and data; resolves once it answers. */
  async start(): Promise<void> {
    this.#proc = Bun.spawn(['redis-server', '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdout: 'ignore', stderr: 'ignore' })
    for (let i = 0; i < 400; i++) {
      if (this.cli('ping') === 'PONG') return
      if (this.#proc.exitCode !== null) break
      await Bun.sleep(25)
    }
    throw new Error(`private redis on ${this.port} did not start`)
  }

  /** SIGKILL: gone at once, no SHUTDOWN save (the AOF has every acknowledged write). */
  async kill(): Promise<void> {
    this.#proc?.kill('SIGKILL')
    await this.#proc?.exited
    this.#proc = undefined
  }

  /** One redis-cli command; its trimmed output ('' when it cannot connect). */
  cli(...args: string[]): string {
    const r = Bun.spawnSync(['redis-cli', '-p', String(this.port), ...args])
    return r.stdout.toString().trim()
  }

  /** Kills it and removes its data. */
  async destroy(): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Where PostgreSQL's binaries are, or why a test cannot run one (a skip message). */
export function postgresBinaries(): { bin: string } | { skip: string } {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : []
  const bin = versions.map((v) => join(root, v, 'bin')).find((b) => existsSync(join(b, 'initdb')) && existsSync(join(b, 'pg_ctl')))
  if (bin === undefined) return { skip: `no PostgreSQL server binaries under ${root}/<version>/bin (Debian package postgresql)` }
  if (process.getuid?.() === 0) {
    if (Bun.which('runuser') === null) return { skip: 'running as root without runuser (util-linux): PostgreSQL cannot run as root' }
    if (!readFileSync('/etc/passwd', 'utf8').split('\n').some((l) => l.startsWith('postgres:'))) return { skip: 'running as root and there is no postgres user to run PostgreSQL as' }
  }
  return { bin }
}

/** A PostgreSQL cluster of the test's own (see the module comment). */
export class PrivatePostgres {
  readonly port: number
  readonly dir: string
  readonly #bin: string
  readonly #asPostgres: boolean

  private constructor(bin: string, port: number, dir: string) {
    this.#bin = bin
    this.port = port
    this.dir = dir
    this.#asPostgres = process.getuid?.() === 0
  }

  /** initdb in a new temp dir and start on a free port; throws when {@link postgresBinaries} says skip. */
  static async create(): Promise<PrivatePostgres> {
    const found = postgresBinaries()
    if ('skip' in found) throw new Error(found.skip)
    const dir = mkdtempSync(join(tmpdir(), 'highperf-pg-'))
    const pg = new PrivatePostgres(found.bin, freePort(), dir)
    if (pg.#asPostgres) {
      const ids = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'))!.split(':')
      chownSync(dir, Number(ids[2]), Number(ids[3]))
    }
    pg.#run('initdb', ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale', 'C'])
    await pg.start()
    return pg
  }

  /** `postgres://postgres@127.0.0.1:<port>/<database>`. */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`
  }

  /** Starts (or restarts) the cluster; resolves once it takes connections. */
  async start(): Promise<void> {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
    this.#run('pg_ctl', ['-D', join(this.dir, 'data'), '-l', join(this.dir, 'log'), '-o', opts, '-w', '-t', '30', 'start'])
  }

  /** `pg_ctl stop -m immediate`: every backend ends now, no shutdown checkpoint. */
  async stop(): Promise<void> {
    this.#run('pg_ctl', ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop'])
  }

  /** SIGKILL to the postmaster and every backend it started: sockets die without a word. */
  async kill(): Promise<void> {
    const pidFile = join(this.dir, 'data', 'postmaster.pid')
    if (!existsSync(pidFile)) return
    const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0])
    const children = childrenOf(postmaster)
    for (const pid of [postmaster, ...children]) {
      try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
    }
    for (let i = 0; i < 200 && [postmaster, ...children].some(alive); i++) await Bun.sleep(10)
  }

  /** A psql command's trimmed output (throws on failure). */
  psql(sql: string, database = 'postgres'): string {
    return this.#run('psql', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', database, '-Atqc', sql]).trim()
  }

  /** Stops it (immediate) and removes its data. */
  async destroy(): Promise<void> {
    if (existsSync(join(this.dir, 'data', 'postmaster.pid'))) {
      try { await this.stop() } catch { await this.kill() }
    }
    rmSync(this.dir, { recursive: true, force: true })
  }

  #run(tool: string, args: string[]): string {
    const cmd = [join(this.#bin, tool), ...args]
    const r = Bun.spawnSync(this.#asPostgres ? ['runuser', '-u', 'postgres', '--', ...cmd] : cmd, { cwd: this.dir, stdout: 'pipe', stderr: 'pipe' })
    if (r.exitCode !== 0) throw new Error(`${tool} failed (${r.exitCode}): ${r.stderr.toString().trim()}${existsSync(join(this.dir, 'log')) && tool === 'pg_ctl' ? `\n${readFileSync(join(this.dir, 'log'), 'utf8').slice(-2000)}` : ''}`)
    return r.stdout.toString()
  }
}

/** Still running: it exists and is not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** The pids whose parent is `pid` (from /proc: the postmaster's backends). */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(entry))
    } catch { /* exited meanwhile */ }
  }
  return out
}

/**
 * A private PostgreSQL for one test file: made before its tests, destroyed after; `describe` is
 * `describe.skip` (with a warning naming `what`) where {@link postgresBinaries} says this machine
 * cannot run one.
 *
 * @example
 * ```ts
 * const db = privatePostgres('the PostgreSQL restart tests')
 * db.describe('…', () => { test('…', async () => { await db.pg().stop() }) })
 * ```
 */
export function privatePostgres(what: string): { describe: typeof describe; pg: () => PrivatePostgres } {
  const found = postgresBinaries()
  if ('skip' in found) console.warn(`skipping ${what}: ${found.skip}`)
  let pg: PrivatePostgres | undefined
  beforeAll(async () => {
    if (!('skip' in found)) pg = await PrivatePostgres.create()
  }, 60_000)
  afterAll(async () => {
    await pg?.destroy()
  })
  return {
    describe: 'skip' in found ? describe.skip : describe,
    pg: () => {
      if (pg === undefined) throw new Error('the private PostgreSQL is not up (read it inside a test)')
      return pg
    },
  }
}
