/**
 * The subcommands from source (`bun start -- healthcheck`) and the pieces they share: the
 * argument split (a subcommand's flags apart from the settings' flags) and the local server URL.
 * The compiled binary's subcommands are in test/cli/binary.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join, resolve } from 'node:path'
import { splitArgs, UsageError } from '../../src/cli/args.ts'
import { localServerUrl } from '../../src/cli/server-url.ts'
import { healthcheck } from '../../src/cli/healthcheck.ts'
import type { Output } from '../../src/cli/output.ts'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'
import { freePort } from '../support/process.ts'

const ROOT = resolve(import.meta.dir, '../..')
const tmp = tempDir('highperf-cli-src-')
let srv: RunningServer

beforeAll(async () => {
  srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', workers: 1, dataDir: join(tmp.dir, 'data'), filesDir: tmp.dir }), { log: silentLogger() })
  // /readyz waits for a worker.
  for (let i = 0; i < 500 && (await fetch(`${srv.url}readyz`)).status !== 200; i++) await Bun.sleep(10)
})
afterAll(async () => {
  await srv?.shutdown()
  tmp.remove()
})

/** An Output that keeps what it was given. */
function capture(): Output & { out: string[]; err: string[] } {
  const out: string[] = []
  const err: string[] = []
  return { out, err, line: (t) => out.push(t), error: (t) => err.push(t), text: (t) => out.push(t) }
}

describe('bun start -- healthcheck', () => {
  test('against a ready server: exit 0 and one line; against a free port: exit 1', async () => {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp.dir }
    // Asynchronously: the server answering is in this process.
    const start = async (...args: string[]) => {
      const p = Bun.spawn([process.execPath, 'run', 'start', '--', 'healthcheck', ...args], { cwd: ROOT, env, stdout: 'pipe', stderr: 'pipe' })
      const [exitCode, stdout, stderr] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()])
      return { exitCode, stdout, stderr }
    }
    const ok = await start('--port', String(srv.port), '--host', '127.0.0.1')
    expect(ok.exitCode).toBe(0)
    expect(ok.stdout).toMatch(new RegExp(`^ready: GET http://127\\.0\\.0\\.1:${srv.port}/readyz 200 in \\d+ ms\\n$`))
    const down = await start('--port', String(freePort()))
    expect(down.exitCode).toBe(1)
    expect(down.stdout).toBe('')
    expect(down.stderr).toContain('not ready: GET http://127.0.0.1:')
  })

  test('while the server drains, /readyz is 503: not ready', async () => {
    const other = await startServer(testConfig({ port: 0, host: '127.0.0.1', workers: 1, dataDir: join(tmp.dir, 'drain'), filesDir: tmp.dir, shutdownDelay: 1500 }), { log: silentLogger() })
    for (let i = 0; i < 500 && (await fetch(`${other.url}readyz`)).status !== 200; i++) await Bun.sleep(10)
    const stopping = other.shutdown() // SHUTDOWN_DELAY keeps it listening with /readyz 503
    await Bun.sleep(100)
    const o = capture()
    expect(await healthcheck(['--url', `${other.url}readyz`], {}, o)).toBe(1)
    expect(o.err).toHaveLength(1)
    expect(o.err[0]).toMatch(/ 503 shutting_down in \d+ ms$/)
    await stopping
  })

  test('a redirect is not ready (it is not followed)', async () => {
    const redirect = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response(null, { status: 302, headers: { location: `${srv.url}readyz` } }) })
    try {
      const o = capture()
      expect(await healthcheck(['--url', `http://127.0.0.1:${redirect.port}/readyz`], {}, o)).toBe(1)
      expect(o.err[0]).toContain(' 302 ')
    } finally {
      redirect.stop(true)
    }
  })
})

describe('splitArgs', () => {
  test('takes its own flags (both spellings) and leaves settings with their values', () => {
    expect(splitArgs(['--to', '/b', '--data-dir', '/d', '--timeout=5s', '--port', '8080'], { to: 'string', timeout: 'string' }))
      .toEqual({ own: { to: '/b', timeout: '5s' }, rest: ['--data-dir', '/d', '--port', '8080'] })
    expect(splitArgs(['--help'], { help: 'boolean' }).own).toEqual({ help: true })
  })

  test('a flag of its own without a value, or a boolean with one, is a UsageError', () => {
    expect(() => splitArgs(['--to'], { to: 'string' })).toThrow(UsageError)
    expect(() => splitArgs(['--to', '--port'], { to: 'string' })).toThrow(UsageError)
    expect(() => splitArgs(['--help=yes'], { help: 'boolean' })).toThrow(UsageError)
  })

  test('an inherited name (toString, __proto__) is not taken for a flag of its own', () => {
    expect(splitArgs(['--toString', 'x'], { to: 'string' }).rest).toEqual(['--toString', 'x'])
  })
})

describe('localServerUrl', () => {
  test('any-address to loopback, IPv6 bracketed, https with TLS', () => {
    expect(localServerUrl({ host: '0.0.0.0', port: 3000, tlsCertFile: '' })).toBe('http://127.0.0.1:3000')
    expect(localServerUrl({ host: '::', port: 3000, tlsCertFile: '' })).toBe('http://[::1]:3000')
    expect(localServerUrl({ host: '::1', port: 8443, tlsCertFile: 'c.pem' })).toBe('https://[::1]:8443')
    expect(localServerUrl({ host: '10.0.0.5', port: 80, tlsCertFile: '' })).toBe('http://10.0.0.5:80')
  })
})
