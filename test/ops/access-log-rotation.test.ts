/**
 * The access log of a real server process under logrotate's contract and at exit:
 * - `ACCESS_LOG=<file>`: requests under load, the file renamed mid-way, SIGUSR1 sent to the
 *   process: every request is one line in the old file or the new one (none lost, none twice);
 * - SIGUSR1 without a log file does not end the process (its default action would);
 * - `ACCESS_LOG=stdout` into a pipe nobody reads for a while, then SIGTERM: every request's line
 *   still comes out (the last in-flight write used to be dropped at exit).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { tempDir } from '../support/deps.ts'
import { freePort, spawnHighperf, waitHealthy } from '../support/process.ts'

const ROOT = resolve(import.meta.dir, '../..')
const MAIN = [process.execPath, 'run', join(ROOT, 'src/main.ts')]
const tmp = tempDir('highperf-rotate-')
afterAll(() => tmp.remove())

const baseEnv = (port: number, extra: Record<string, string>) => ({
  PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(tmp.dir, `data-${port}`), WORKERS: '1', RATE_LIMIT_RPS: '0', LOG_LEVEL: 'info', ...extra,
})

/** `total` GETs of /users/<n> (a cheap 404) from `clients` clients; resolves when all are answered. */
async function load(base: string, from: number, total: number, clients = 8): Promise<void> {
  let next = from
  const end = from + total
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < end) {
      const n = next++
      const res = await fetch(`${base}/users/${n}`)
      await res.arrayBuffer()
    }
  }))
}

/** Access-log lines of the /users/<n> requests in `text`, by path. */
function requestLines(text: string): string[] {
  return text.split('\n').filter((l) => l.includes('"msg":"request"') && l.includes('"path":"/users/')).map((l) => (JSON.parse(l) as { path: string }).path)
}

describe('access log under logrotate', () => {
  test('rename + SIGUSR1 to the real process under load: every request is in exactly one of the two files', async () => {
    const port = freePort()
    const file = join(tmp.dir, 'logs', 'access.log')
    const s = spawnHighperf(MAIN, baseEnv(port, { ACCESS_LOG: file }))
    const base = `http://127.0.0.1:${port}`
    await waitHealthy(`${base}/readyz`, s.proc)
    const before = load(base, 1, 3000)
    await Bun.sleep(150) // in the middle of the load
    renameSync(file, `${file}.1`) // logrotate's `create` mode: rename, then signal
    s.proc.kill('SIGUSR1')
    await before
    await load(base, 3001, 1000) // after the signal
    s.proc.kill('SIGTERM')
    const out = await s.output()
    expect(out.code).toBe(0)
    expect(out.stdout).toContain('"msg":"access log reopened"')
    const rotated = requestLines(readFileSync(`${file}.1`, 'utf8'))
    const fresh = requestLines(readFileSync(file, 'utf8'))
    expect(rotated.length).toBeGreaterThan(0)
    expect(fresh.length).toBeGreaterThanOrEqual(1000)
    const all = [...rotated, ...fresh]
    expect(all.length).toBe(4000)
    expect(new Set(all).size).toBe(4000)
  }, 60_000)

  test('SIGUSR1 with the access log on stdout (nothing to reopen) leaves the server serving', async () => {
    const port = freePort()
    const s = spawnHighperf(MAIN, baseEnv(port, { ACCESS_LOG: 'stdout' }))
    const base = `http://127.0.0.1:${port}`
    await waitHealthy(`${base}/readyz`, s.proc)
    s.proc.kill('SIGUSR1')
    await Bun.sleep(200)
    expect((await fetch(`${base}/healthz`)).status).toBe(200)
    s.proc.kill('SIGTERM')
    const out = await s.output()
    expect(out.code).toBe(0)
    expect(out.stdout).toContain('SIGUSR1: no access log file to reopen')
  }, 30_000)
})

describe('the logrotate snippet of docs/operations.md, run by the real logrotate', () => {
  const logrotate = ['/usr/sbin/logrotate', '/usr/bin/logrotate'].find((p) => existsSync(p))
  test.skipIf(logrotate === undefined)('rotates under load, the server reopens on its postrotate signal, no line lost', async () => {
    const doc = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8')
    const snippet = doc.match(/\n(\/var\/log\/highperf\/access\.log \{[\s\S]*?\n\})\n/)?.[1]
    expect(snippet).toBeDefined()
    const port = freePort()
    const file = join(tmp.dir, 'lr', 'access.log')
    const s = spawnHighperf(MAIN, baseEnv(port, { ACCESS_LOG: file }))
    const base = `http://127.0.0.1:${port}`
    await waitHealthy(`${base}/readyz`, s.proc)
    // The documented config, with this test's path, no owner change and a signal by pid.
    const conf = (snippet as string)
      .replace('/var/log/highperf/access.log', file)
      .replace('create 0640 highperf highperf', 'create 0640')
      .replace(/systemctl kill .*/, `kill -USR1 ${s.proc.pid}`)
    writeFileSync(join(tmp.dir, 'lr', 'logrotate.conf'), `${conf}\n`, { mode: 0o644 })
    const during = load(base, 1, 3000)
    await Bun.sleep(150)
    const lr = Bun.spawnSync([logrotate as string, '-f', '-s', join(tmp.dir, 'lr', 'state'), join(tmp.dir, 'lr', 'logrotate.conf')], { stdout: 'pipe', stderr: 'pipe' })
    expect(lr.stderr.toString()).toBe('')
    expect(lr.exitCode).toBe(0)
    await during
    await load(base, 3001, 500)
    s.proc.kill('SIGTERM')
    const out = await s.output()
    expect(out.code).toBe(0)
    expect(out.stdout).toContain('"msg":"access log reopened"')
    // delaycompress: the rotated file stays plain until the next rotation.
    const rotated = requestLines(readFileSync(`${file}.1`, 'utf8'))
    const fresh = requestLines(readFileSync(file, 'utf8'))
    expect(fresh.length).toBeGreaterThanOrEqual(500)
    expect(rotated.length + fresh.length).toBe(3500)
    expect(new Set([...rotated, ...fresh]).size).toBe(3500)
  }, 60_000)
})

describe('access log on stdout at exit', () => {
  test('a pipe nobody reads while 6000 requests are logged, then SIGTERM: all 6000 lines come out', async () => {
    const port = freePort()
    const proc = Bun.spawn(MAIN, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...baseEnv(port, { ACCESS_LOG: 'stdout' }) },
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
    })
    try {
      const base = `http://127.0.0.1:${port}`
      await waitHealthy(`${base}/readyz`, proc)
      // ~1.5 MB of lines against a 64 KiB pipe: the writes back up behind a reader that waits.
      await load(base, 1, 6000)
      await Bun.sleep(400) // the 250 ms batch timer hands the last lines to stdout
      proc.kill('SIGTERM')
      // A slow reader: 4 KiB every 5 ms, so a write is still in flight when the server exits.
      const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader()
      const decoder = new TextDecoder()
      let text = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        text += decoder.decode(value, { stream: true })
        await Bun.sleep(5)
      }
      const code = await proc.exited
      expect(code).toBe(0)
      const paths = requestLines(text)
      expect(new Set(paths).size).toBe(6000)
      expect(paths.length).toBe(6000)
    } finally {
      proc.kill('SIGKILL')
    }
  }, 60_000)

  // The same, closer to the metal: a log closed and process.exit called at once, the pipe read
  // slowly. Before the fix, the stdout sink's flushSync() wrote the queued lines while the write
  // in flight went on in parallel and was dropped at exit: 100-150 lines missing and one cut in
  // most runs (measured: 3 of 3 runs of this test).
  test('close() then process.exit with a slow reader: no line is lost or cut (3 runs)', async () => {
    for (let run = 0; run < 3; run++) {
      const proc = Bun.spawn([process.execPath, join(import.meta.dir, 'fixtures', 'access-stdout-exit.ts'), '20000'], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
      await Bun.sleep(400) // the pipe fills up while nobody reads
      const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader()
      const decoder = new TextDecoder()
      let text = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        text += decoder.decode(value, { stream: true })
        await Bun.sleep(30) // ~2 MB/s: the server's last writes are still queued when it exits
      }
      expect(await proc.exited).toBe(0)
      const paths = requestLines(text)
      expect(paths.length).toBe(20000)
      expect(new Set(paths).size).toBe(20000)
    }
  }, 60_000)
})
