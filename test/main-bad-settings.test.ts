/**
 * The operator's side of this session's settings: every hostile value of PROCESSES, JOB_LEASE,
 * JOBS_URL, DATABASE_URL and RATE_LIMIT_URL stops the real process (`bun run src/main.ts`, and
 * `--check`) with exit 2 (a setting's value) or 1 (a service that cannot be used at start), a
 * `highperf: …` line naming the variable, and no stack trace.
 *
 * Before: `JOBS_URL=redis://%zz@h` (or RATE_LIMIT_URL) passed the configuration and died at
 * start with "cannot start: URI error" and ioredis's stack in the log; `JOBS_URL=redis://` and
 * `RATE_LIMIT_URL=redis://` (no host) started against localhost:6379 without a word; `--check`
 * said ok to a JOBS_URL nothing answered at (the start then failed after 10 s); `JOB_LEASE=299ms`
 * was told the setting accepts "a duration such as 250ms, …" (its minimum is 300ms).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { tempDir } from './support/deps.ts'
import { freePort, spawnHighperf } from './support/process.ts'

const tmp = tempDir('highperf-bad-settings-')
afterAll(() => tmp.remove())
const MAIN = [process.execPath, 'run', 'src/main.ts']

/** [setting, value, exit code of a start, text the message holds]: values refused by the configuration exit 2. */
const CASES: Array<[string, string, number, string]> = [
  ['PROCESSES', '0', 2, 'PROCESSES'],
  ['PROCESSES', '-1', 2, 'PROCESSES'],
  ['PROCESSES', '9999', 2, 'PROCESSES'],
  ['PROCESSES', '2x', 2, 'PROCESSES'],
  ['JOB_LEASE', '0', 2, 'JOB_LEASE'],
  ['JOB_LEASE', '-5s', 2, 'JOB_LEASE'],
  ['JOB_LEASE', '299ms', 2, 'from 300ms to 1h'],
  ['JOBS_URL', 'redis://', 2, 'JOBS_URL'],
  ['JOBS_URL', 'redis:', 2, 'JOBS_URL'],
  ['JOBS_URL', 'redis://%zz@127.0.0.1', 2, 'JOBS_URL'],
  ['JOBS_URL', 'redis://127.0.0.1/abc', 2, 'JOBS_URL'],
  ['JOBS_URL', 'http://127.0.0.1:6379', 2, 'JOBS_URL'],
  ['JOBS_URL', 'postgres://', 2, 'JOBS_URL'],
  ['RATE_LIMIT_URL', 'redis://', 2, 'RATE_LIMIT_URL'],
  ['RATE_LIMIT_URL', 'redis://%zz@127.0.0.1', 2, 'RATE_LIMIT_URL'],
  ['DATABASE_URL', 'postgres://%zz@127.0.0.1/x', 2, 'DATABASE_URL'],
  ['DATABASE_URL', 'postgres://[::1', 2, 'DATABASE_URL'],
  ['DATABASE_URL', 'postgres://nonexistent.invalid', 1, 'DATABASE_URL'],
  ['DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/hp_no_such_db', 1, 'DATABASE_URL'],
  // START_WAIT also bounds the first connection: 0, or a bare 10 (10 ms, meant as 10 s), failed
  // a start against a Redis or PostgreSQL that was up ("no answer within 0 ms"). At least 1s.
  ['START_WAIT', '0', 2, 'from 1s to 10m'],
  ['START_WAIT', '10', 2, 'from 1s to 10m'],
  ['START_WAIT', '999ms', 2, 'START_WAIT'],
  ['START_WAIT', '-1', 2, 'START_WAIT'],
  ['START_WAIT', '1e9', 2, 'START_WAIT'],
  ['START_WAIT', 'abc', 2, 'START_WAIT'],
  ['START_WAIT', '11m', 2, 'START_WAIT'],
]

async function run(args: string[], env: Record<string, string>) {
  const out = await spawnHighperf([...MAIN, ...args], {
    PORT: String(freePort()), HOST: '127.0.0.1', DATA_DIR: join(tmp.dir, 'data'), FILES_DIR: tmp.dir, WORKERS: '1', LOG_LEVEL: 'warn', ACCESS_LOG: 'off', START_WAIT: '1s', ...env,
  }).output()
  return { code: out.code, text: out.stderr + out.stdout }
}

describe('hostile operator settings', () => {
  test.each(CASES)('%s=%s: start exits %i with one highperf line, no stack; --check refuses it too', async (name, value, startCode, names) => {
    const [start, check] = await Promise.all([run([], { [name]: value }), run(['--check'], { [name]: value })])
    expect(start.code).toBe(startCode)
    expect(start.text).toMatch(new RegExp(`^highperf: .*${names}`, 'm'))
    expect(start.text).not.toMatch(/\n\s+at |URIError|"stack"/)
    expect(check.code).toBe(2)
    expect(check.text).toContain(names)
    expect(check.text).not.toMatch(/\n\s+at |URIError|"stack"/)
  }, 30_000)

  test('--check asks JOBS_URL and RATE_LIMIT_URL: an unreachable queue fails it (a start would, after 10 s), an unreachable limiter warns', async () => {
    const [down, up, pgDown, limiterDown] = await Promise.all([
      run(['--check'], { JOBS_URL: 'redis://:secret@127.0.0.1:1' }),
      run(['--check'], { JOBS_URL: 'redis://127.0.0.1:6379/14' }),
      run(['--check'], { JOBS_URL: 'postgres://postgres@127.0.0.1:5432/hp_no_such_db' }),
      run(['--check'], { RATE_LIMIT_URL: 'redis://127.0.0.1:1' }),
    ])
    expect(down.code).toBe(2)
    expect(down.text).toContain('JOBS_URL redis://:***@127.0.0.1:1 does not answer (connect ECONNREFUSED')
    expect(down.text).not.toContain('secret')
    expect(up.code).toBe(0)
    expect(up.text).toContain('ok: JOBS_URL redis://127.0.0.1:6379/14 answers')
    expect(pgDown.code).toBe(2)
    expect(pgDown.text).toContain('hp_no_such_db')
    expect(limiterDown.code).toBe(0)
    expect(limiterDown.text).toContain('warning: RATE_LIMIT_URL redis://127.0.0.1:1 does not answer')
  }, 30_000)
})

describe('START_WAIT against a port that accepts and never answers', () => {
  // A hung PostgreSQL or Redis, or a firewall that lets the SYN through and drops the rest.
  // Before: DATABASE_URL took the driver's own 5 s connect timeout whatever START_WAIT said
  // (START_WAIT=1s failed after 5.2 s), and neither line said which setting bounded the wait.
  test('DATABASE_URL and JOBS_URL: exit 1 within about START_WAIT, one line naming it', async () => {
    const held: Socket[] = []
    const silent = createServer((c) => { held.push(c); c.on('error', () => {}) })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    try {
      const timed = async (env: Record<string, string>) => {
        const t0 = performance.now()
        const out = await run([], { ...env, START_WAIT: '1s' })
        return { ...out, ms: performance.now() - t0 }
      }
      const [pg, jobs] = await Promise.all([
        timed({ DATABASE_URL: `postgres://app:s3cret@127.0.0.1:${port}/app` }),
        timed({ JOBS_URL: `redis://127.0.0.1:${port}` }),
      ])
      expect(pg.code).toBe(1)
      expect(pg.text).toMatch(/^highperf: cannot start: DATABASE_URL postgres:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/app cannot be used \(no answer within \d+ ms\) after START_WAIT \(1 s\)/m)
      expect(pg.text).not.toContain('s3cret')
      // Bun's start-up on a loaded machine plus the 1 s wait; the driver's own timeout alone was 5 s.
      expect(pg.ms).toBeLessThan(4500)
      expect(jobs.code).toBe(1)
      expect(jobs.text).toMatch(/^highperf: cannot start: JOBS_URL redis:\/\/127\.0\.0\.1:\d+ does not answer after START_WAIT \(1 s\)/m)
      for (const out of [pg, jobs]) {
        expect(out.text.trim().split('\n')).toHaveLength(1)
        expect(out.text).not.toMatch(/\n\s+at |"stack"/)
      }
    } finally {
      for (const c of held) c.destroy()
      silent.close()
    }
  }, 30_000)
})
