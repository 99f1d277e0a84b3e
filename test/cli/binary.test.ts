/**
 * The subcommands of the COMPILED binary, run alone in an empty directory (one build shared by the binary tests,
 * test/support/binary.ts): `healthcheck` against a ready server, a refused port, a server that never answers and a
 * 503; `--check` in an empty directory and with broken settings and files; `backup --to` while
 * the server takes writes, through the files (SQLITE_LOCKING=shared) and through the server
 * (the default exclusive locking), then a restore: a new server started on the backup reads the
 * data back.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { binaryAlone } from '../support/binary.ts'
import { tempDir } from '../support/deps.ts'
import { freePort, spawnHighperf, waitHealthy, type Spawned } from '../support/process.ts'

const ROOT = resolve(import.meta.dir, '../..')
const tmp = tempDir('highperf-cli-binary-')
const runDir = join(tmp.dir, 'run')
const binary = join(runDir, 'highperf')
const started: Spawned[] = []

beforeAll(() => {
  // Built once per test run, shared with the other binary tests (test/support/binary.ts).
  expect(binaryAlone(runDir)).toBe(binary)
  expect(readdirSync(runDir)).toEqual(['highperf'])
}, 120_000)

afterAll(() => {
  for (const s of started) s.proc.kill('SIGKILL')
  tmp.remove()
})

interface Run {
  code: number | null
  stdout: string
  stderr: string
  ms: number
}

/** Runs the binary with a clean environment plus `env`, in `cwd` (default: the run directory). */
async function run(args: string[], env: Record<string, string> = {}, cwd = runDir, timeoutMs = 30_000): Promise<Run> {
  const t0 = performance.now()
  const proc = Bun.spawn([binary, ...args], { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, ...env }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()])
  clearTimeout(timer)
  return { code: proc.signalCode === null ? code : null, stdout, stderr, ms: performance.now() - t0 }
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '')

/** Starts the binary as a server on a free port in `dir`; resolves once /readyz answers 200. */
async function startServer(dir: string, env: Record<string, string>): Promise<{ s: Spawned; base: string; port: number }> {
  const port = freePort()
  mkdirSync(dir, { recursive: true })
  const s = spawnHighperf([binary], { PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ACCESS_LOG: 'off', WORKERS: '1', RATE_LIMIT_RPS: '0', ...env }, dir)
  started.push(s)
  const base = `http://127.0.0.1:${port}`
  await waitHealthy(`${base}/readyz`, s.proc, 20_000)
  return { s, base, port }
}

async function stop(s: Spawned): Promise<number | null> {
  s.proc.kill('SIGTERM')
  return (await s.output()).code
}

describe('highperf healthcheck (compiled binary)', () => {
  test('--help prints its usage and exits 0; the top-level --help lists the subcommands', async () => {
    const h = await run(['healthcheck', '--help'])
    expect(h.code).toBe(0)
    expect(h.stdout).toContain('Usage: highperf healthcheck')
    const top = await run(['--help'])
    expect(top.code).toBe(0)
    expect(top.stdout).toContain('healthcheck')
    expect(top.stdout).toContain('backup --to DIR')
    expect(top.stdout).toContain('--check')
    expect(top.stdout).toMatch(/CPUs detected: \d+, from /)
  })

  test('a ready server: exit 0, exactly one line on stdout, nothing on stderr (time reported)', async () => {
    const { s, port } = await startServer(join(tmp.dir, 'hc-ready'), {})
    // PORT as the server has it; HOST 0.0.0.0 must become loopback.
    const r = await run(['healthcheck'], { PORT: String(port), HOST: '0.0.0.0' })
    expect(r.code).toBe(0)
    expect(lines(r.stdout)).toHaveLength(1)
    expect(r.stdout).toMatch(new RegExp(`^ready: GET http://127\\.0\\.0\\.1:${port}/readyz 200 in \\d+ ms\\n$`))
    expect(r.stderr).toBe('')
    const flag = await run(['healthcheck', '--port', String(port)])
    expect(flag.code).toBe(0)
    console.log(`healthcheck: ${r.ms.toFixed(0)} ms from spawn to exit against a ready server`)
    expect(await stop(s)).toBe(0)
  })

  test("the Dockerfile's HEALTHCHECK command, with the image's ENV, finds the server ready", async () => {
    const dockerfile = await Bun.file(join(ROOT, 'Dockerfile')).text()
    const cmd = JSON.parse(dockerfile.match(/^HEALTHCHECK .*CMD (\[.*\])$/m)?.[1] ?? 'null') as string[] | null
    expect(cmd).toEqual(['/usr/local/bin/highperf', 'healthcheck'])
    // The image runs as a non-root user with /data a volume it owns.
    expect(dockerfile).toMatch(/^USER highperf$/m)
    expect(dockerfile).toMatch(/^VOLUME \["\/data"\]$/m)
    const { s, port } = await startServer(join(tmp.dir, 'hc-docker'), {})
    // ENV HOST=0.0.0.0 PORT=… as in the image (PORT made free here).
    const r = await run([...(cmd as string[]).slice(1)], { HOST: '0.0.0.0', PORT: String(port), DATA_DIR: '/data', FILES_DIR: '/public' })
    expect(r.code).toBe(0)
    expect(r.stdout).toStartWith('ready: ')
    expect(await stop(s)).toBe(0)
  })

  test('nothing listening: exit 1 and one line on stderr saying the connection was refused', async () => {
    const r = await run(['healthcheck', '--port', String(freePort())])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(lines(r.stderr)).toHaveLength(1)
    expect(r.stderr).toContain('not ready:')
    expect(r.stderr).toContain('connection refused')
  })

  test('a server that accepts and never answers: exit 1 after --timeout, not after the supervisor\'s', async () => {
    const silent = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
    try {
      const r = await run(['healthcheck', '--url', `http://127.0.0.1:${silent.port}/readyz`, '--timeout', '300ms'])
      expect(r.code).toBe(1)
      expect(lines(r.stderr)).toEqual([`not ready: GET http://127.0.0.1:${silent.port}/readyz no answer within 300 ms`])
      expect(r.ms).toBeLessThan(5_000)
    } finally {
      silent.stop(true)
    }
  })

  test('a 503 (draining) is not ready: exit 1, the status and error code in the line', async () => {
    const fake = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => Response.json({ error: { code: 'shutting_down', message: 'draining', requestId: 'x' } }, { status: 503 }) })
    try {
      const r = await run(['healthcheck', '--url', `http://127.0.0.1:${fake.port}/readyz`])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/^not ready: GET http:\/\/127\.0\.0\.1:\d+\/readyz 503 shutting_down in \d+ ms\n$/)
    } finally {
      fake.stop(true)
    }
  })

  test('a bad command line exits 1, never 2 (Docker reserves 2), with one line', async () => {
    for (const args of [['--timeout', 'soon'], ['--url', 'ftp://x'], ['--url'], ['--no-such-flag'], ['--port', 'eighty']]) {
      const r = await run(['healthcheck', ...args])
      expect(r.code).toBe(1)
      expect(lines(r.stderr)).toHaveLength(1)
      expect(r.stderr).toStartWith('not ready: highperf healthcheck: ')
    }
  })
})

describe('highperf --check (compiled binary)', () => {
  test('defaults in an empty directory: exit 0 without serving, one line per check', async () => {
    const dir = join(tmp.dir, 'check-empty')
    mkdirSync(dir)
    const port = freePort()
    const r = await run(['--check'], { PORT: String(port) }, dir)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('highperf --check: ok')
    expect(r.stdout).toContain(`DATA_DIR ${join(dir, 'data')} is a writable directory`)
    expect(r.stdout).toContain('warning: FILES_DIR')
    // It did not serve: nothing listens on the port.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow()
  })

  test('a bad setting, a missing TLS file, DATA_DIR a file, a damaged database: exit 2 naming each', async () => {
    const dir = join(tmp.dir, 'check-bad')
    mkdirSync(dir)
    expect((await run(['--check'], { WORKERS: 'many' }, dir)).code).toBe(2)
    const tls = await run(['--check'], { TLS_CERT_FILE: 'nope.pem', TLS_KEY_FILE: 'nope.key' }, dir)
    expect(tls.code).toBe(2)
    expect(tls.stderr).toContain(`error: TLS_CERT_FILE ${join(dir, 'nope.pem')} does not exist`)
    writeFileSync(join(dir, 'afile'), 'x')
    const dataFile = await run(['--check'], { DATA_DIR: 'afile' }, dir)
    expect(dataFile.code).toBe(2)
    expect(dataFile.stderr).toContain(`DATA_DIR ${join(dir, 'afile')} is a file, not a directory`)
    // (The failed TLS check above still went on to check, and so create, DATA_DIR: like a start.)
    mkdirSync(join(dir, 'data'), { recursive: true })
    writeFileSync(join(dir, 'data', 'users.sqlite'), 'this is not a database at all, just text long enough to be read as a header'.repeat(100))
    const damaged = await run(['--check'], {}, dir)
    expect(damaged.code).toBe(2)
    expect(damaged.stderr).toContain(`${join(dir, 'data', 'users.sqlite')} is not a SQLite database or is damaged`)
    const filesNotDir = await run(['--check', '--files-dir', 'afile', '--data-dir', 'd2'], {}, dir)
    expect(filesNotDir.code).toBe(2)
    expect(filesNotDir.stderr).toContain('is not a directory')
  })

  test('next to a running server that holds its databases exclusively: exit 0, the databases reported as held', async () => {
    const dir = join(tmp.dir, 'check-live')
    const { s } = await startServer(dir, {})
    const r = await run(['--check'], {}, dir)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('users.sqlite is held by a running server (exclusive locking): not opened')
    expect(await stop(s)).toBe(0)
  })
})

/** Keeps creating users (8 clients) until stopped; resolves with how many were created. */
function writeUsers(base: string, token?: string): { stop(): Promise<number> } {
  let running = true
  let created = 0
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }
  const clients = Array.from({ length: 8 }, async (_, c) => {
    for (let i = 0; running; i++) {
      const res = await fetch(`${base}/users`, { method: 'POST', headers, body: JSON.stringify({ name: `u${c}-${i}`, email: `u${c}-${i}-${Date.now()}@example.com` }) })
      await res.arrayBuffer()
      if (res.status === 201) created++
    }
  })
  return { async stop() { running = false; await Promise.all(clients); return created } }
}

/** Users in a backup's users.sqlite: the count and the largest id (equal for a consistent copy). */
function usersIn(file: string): { n: number; max: number } {
  const db = new Database(file, { readonly: true })
  try {
    return db.query('SELECT count(*) AS n, coalesce(max(id), 0) AS max FROM users').get() as { n: number; max: number }
  } finally {
    db.close()
  }
}

interface Report {
  via: string
  dir: string
  ms: number
  totalBytes: number
  serverDir?: string
  databases: Array<{ name: string; file: string; bytes: number; integrity: string }>
}

describe('highperf backup (compiled binary)', () => {
  test('--help; --to is required (exit 2); a DATA_DIR without databases is refused (exit 1)', async () => {
    const h = await run(['backup', '--help'])
    expect(h.code).toBe(0)
    expect(h.stdout).toContain('Usage: highperf backup --to DIR')
    const noTo = await run(['backup'])
    expect(noTo.code).toBe(2)
    expect(noTo.stderr).toContain('--to DIR is required')
    const empty = join(tmp.dir, 'backup-nodata')
    mkdirSync(empty)
    const none = await run(['backup', '--to', 'out'], {}, empty)
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('has no users.sqlite, messages.sqlite, jobs.sqlite')
    expect(existsSync(join(empty, 'out'))).toBe(false)
  })

  test('SQLITE_LOCKING=shared: copies the files itself while the server takes writes; the copy is consistent and restores', async () => {
    const dir = join(tmp.dir, 'backup-shared')
    const env = { SQLITE_LOCKING: 'shared' }
    const { s, base } = await startServer(dir, env)
    const load = writeUsers(base)
    await Bun.sleep(300)
    const r = await run(['backup', '--to', 'snap'], env, dir)
    const created = await load.stop()
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout) as Report
    expect(report.via).toBe('files')
    expect(report.dir).toBe(join(dir, 'snap'))
    expect(report.databases.map((d) => [d.name, d.integrity])).toEqual([['users', 'ok'], ['messages', 'ok'], ['jobs', 'ok']])
    expect(readdirSync(join(dir, 'snap')).sort()).toEqual(['backup.json', 'jobs.sqlite', 'messages.sqlite', 'users.sqlite'])
    const copy = usersIn(join(dir, 'snap', 'users.sqlite'))
    // A snapshot: every user up to some id, none missing in between, none after the last write.
    expect(copy.n).toBeGreaterThan(0)
    expect(copy.n).toBe(copy.max)
    expect(copy.n).toBeLessThanOrEqual(created)
    console.log(`backup via files under load: ${report.ms} ms, ${report.totalBytes} bytes, ${copy.n} of ${created} users; CLI ${r.ms.toFixed(0)} ms`)
    expect(await stop(s)).toBe(0)
    await restoreAndRead(join(dir, 'snap'), copy.max)
  }, 60_000)

  test('default (exclusive) locking: says the server holds the files and asks it through POST /admin/backup with API_TOKEN', async () => {
    const dir = join(tmp.dir, 'backup-exclusive')
    const token = 'backup-test-token'
    const { s, base } = await startServer(dir, { API_TOKEN: token })
    const load = writeUsers(base, token)
    await Bun.sleep(300)
    // Without the token this process cannot reach the data: a clear refusal, nothing left behind.
    const refused = await run(['backup', '--to', 'refused'], {}, dir)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('held in exclusive locking mode by a running server')
    expect(refused.stderr).toContain('set API_TOKEN')
    expect(existsSync(join(dir, 'refused'))).toBe(false)

    const r = await run(['backup', '--to', 'snap'], { API_TOKEN: token, PORT: new URL(base).port }, dir)
    const created = await load.stop()
    expect(r.stderr).toContain('asking it through POST')
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout) as Report
    expect(report.via).toBe('server')
    expect(report.dir).toBe(join(dir, 'snap'))
    expect(report.serverDir).toStartWith(join(dir, 'data', 'backups'))
    expect(statSync(report.serverDir as string).mode & 0o777).toBe(0o700)
    const copy = usersIn(join(dir, 'snap', 'users.sqlite'))
    expect(copy.n).toBe(copy.max)
    expect(copy.n).toBeGreaterThan(0)
    expect(copy.n).toBeLessThanOrEqual(created)
    console.log(`backup via the server under load: ${report.ms} ms, ${report.totalBytes} bytes, ${copy.n} of ${created} users`)
    expect(await stop(s)).toBe(0)
    await restoreAndRead(join(dir, 'snap'), copy.max)
  }, 60_000)
})

/** Restore as documented: a server started on the backup folder serves the users it holds. */
async function restoreAndRead(backupDir: string, lastId: number): Promise<void> {
  const restoreDir = join(backupDir, '..', `restored-${Date.now()}`)
  const { s, base } = await startServer(restoreDir, { DATA_DIR: backupDir })
  const last = await fetch(`${base}/users/${lastId}`)
  expect(last.status).toBe(200)
  expect(((await last.json()) as { id: number }).id).toBe(lastId)
  expect((await fetch(`${base}/users/${lastId + 1}`)).status).toBe(404)
  const page = (await (await fetch(`${base}/users?limit=5`)).json()) as { items: unknown[] }
  expect(page.items).toHaveLength(5)
  expect(await stop(s)).toBe(0)
}
