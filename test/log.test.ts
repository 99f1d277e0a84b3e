// LOG_FORMAT: JSON when stdout is a pipe, readable (and colored) on a terminal, either forced by
// LOG_FORMAT; checked on a real process (a PTY from script(1) for the terminal case) and on lines.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { prettify, prettyLine, resolveLogFormat } from '../src/log-pretty.ts'
import { freePort, waitHealthy } from './support/process.ts'

const ROOT = join(import.meta.dir, '..')
const dirs: string[] = []
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

/** Runs the server, makes one request, stops it with SIGTERM and returns what it wrote to stdout. */
async function stdoutOf(env: Record<string, string>, tty: boolean): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'highperf-log-'))
  dirs.push(dir)
  const port = freePort()
  const main = [process.execPath, 'run', 'src/main.ts']
  // script(1) gives the child a pseudo-terminal as stdout and copies what it writes to ours.
  const cmd = tty ? ['script', '-qfec', main.join(' '), '/dev/null'] : main
  const proc = Bun.spawn(cmd, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dir, WORKERS: '1', RATE_LIMIT_RPS: '0', ...env },
    stdin: tty ? 'pipe' : 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const out = new Response(proc.stdout).text()
  await waitHealthy(`http://127.0.0.1:${port}/healthz`, proc)
  await fetch(`http://127.0.0.1:${port}/users/x`)
  await Bun.sleep(400) // the access log is written in batches every 250 ms
  const child = tty ? Bun.spawnSync(['pgrep', '-P', String(proc.pid)]).stdout.toString().trim().split('\n').map(Number).filter(Boolean) : [proc.pid]
  for (const pid of child) process.kill(pid, 'SIGTERM')
  const code = await Promise.race([proc.exited, Bun.sleep(15_000).then(() => 'timeout')])
  if (code === 'timeout') proc.kill('SIGKILL')
  return out
}

describe('LOG_FORMAT on a real process', () => {
  test('stdout a pipe, LOG_FORMAT unset: every line is JSON, the access line too', async () => {
    const out = await stdoutOf({}, false)
    const lines = out.trim().split('\n')
    expect(lines.length).toBeGreaterThan(1)
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow()
    expect(lines.map((l) => JSON.parse(l) as { msg?: string; path?: string })).toContainEqual(expect.objectContaining({ msg: 'request', path: '/users/x' }))
  }, 60_000)

  test('stdout a terminal, LOG_FORMAT unset: readable colored lines, the access line as METHOD path → status', async () => {
    const out = await stdoutOf({}, true)
    expect(out).not.toContain('{"level"')
    expect(out).toMatch(/\d\d:\d\d:\d\d\.\d{3}\x1b\[0m \x1b\[32mINFO /)
    expect(out).toMatch(/GET \/users\/x → \x1b\[33m422\x1b\[0m [\d.]+ms/)
  }, 60_000)

  test('LOG_FORMAT=json on a terminal stays JSON, LOG_FORMAT=pretty through a pipe is readable without colors', async () => {
    const json = await stdoutOf({ LOG_FORMAT: 'json' }, true)
    expect(json).toContain('{"level":30')
    const pretty = await stdoutOf({ LOG_FORMAT: 'pretty' }, false)
    expect(pretty).not.toContain('{"level"')
    expect(pretty).not.toContain('\x1b[')
    expect(pretty).toMatch(/GET \/users\/x → 422 [\d.]+ms/)
  }, 90_000)

  test('a LOG_FORMAT that is not json, pretty or auto stops the start with a message naming it', async () => {
    const proc = Bun.spawn([process.execPath, 'run', 'src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', LOG_FORMAT: 'fancy', PORT: '0' }, stdout: 'pipe', stderr: 'pipe' })
    expect(await proc.exited).not.toBe(0)
    expect(await new Response(proc.stderr).text()).toContain('LOG_FORMAT')
  }, 30_000)
})

describe('prettyLine', () => {
  test('puts time, level and message first and the other fields after, as key=value', () => {
    expect(prettyLine('{"level":40,"time":"2026-01-01T12:00:00.000Z","pid":1,"msg":"slow","task":"primes","ms":12,"tags":["a"]}', false))
      .toBe('12:00:00.000 WARN  slow task=primes ms=12 tags=["a"]')
  })

  test('an error carries its stack on indented lines', () => {
    const line = JSON.stringify({ level: 50, time: 0, msg: 'failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.ts:1:1)' } })
    expect(prettyLine(line, false)).toBe('00:00:00.000 ERROR failed\n    Error: boom\n        at f (x.ts:1:1)')
  })

  test('control characters from a request never reach the terminal as escapes', () => {
    const line = JSON.stringify({ level: 30, time: 0, msg: 'request', method: 'GET', path: '/\x1b[2Jx', status: 404, durationMs: 1, client: 'a\x07' })
    const out = prettyLine(line, true)
    expect(out).not.toContain('\x1b[2J')
    expect(out).not.toContain('\x07')
    expect(out).toContain('/\\u001b[2Jx')
    expect(prettyLine('not json \x1b[31m', false)).toBe('not json \\u001b[31m')
  })

  test('auto means pretty on a terminal and JSON otherwise; a forced format ignores the terminal', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty')
    expect(resolveLogFormat('auto', false)).toBe('json')
    expect(resolveLogFormat('json', true)).toBe('json')
    expect(resolveLogFormat('pretty', false)).toBe('pretty')
  })

  test('prettify rewrites every line of a batched chunk written through pino', () => {
    const written: string[] = []
    const sink = prettify({ write: (chunk: string) => { written.push(chunk); return true } }, false)
    const log = pino({ base: null, timestamp: () => ',"time":0' }, sink)
    log.info({ a: 1 }, 'one')
    sink.write('{"level":30,"time":0,"msg":"two"}\n{"level":30,"time":0,"msg":"three"}\n')
    expect(written.join('')).toBe('00:00:00.000 INFO  one a=1\n00:00:00.000 INFO  two\n00:00:00.000 INFO  three\n')
  })
})
