/**
 * The highperf command as a real process (`bun run src/main.ts`): CLI flags and exit codes,
 * graceful shutdown on SIGTERM with a request in flight, and HTTPS with a generated certificate.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { VERSION } from '../src/version.ts'
import { testConfig } from '../src/config.ts'
import { silentLogger } from '../src/log.ts'
import { startServer } from '../src/server.ts'
import { tempDir } from './support/deps.ts'
import { freePort, spawnHighperf, waitHealthy } from './support/process.ts'

const tmp = tempDir('highperf-main-')
afterAll(() => tmp.remove())

const MAIN = [process.execPath, 'run', 'src/main.ts']
let runs = 0
/** A quiet, self-contained environment on `port` with its own data directory. */
const envFor = (port: number, extra: Record<string, string> = {}) => ({
  PORT: String(port),
  HOST: '127.0.0.1',
  DATA_DIR: join(tmp.dir, `data-${++runs}`),
  FILES_DIR: join(tmp.dir, 'files'),
  WORKERS: '1',
  LOG_LEVEL: 'warn',
  ACCESS_LOG: 'off',
  ...extra,
})
const run = (args: string[], env: Record<string, string> = {}) => spawnHighperf([...MAIN, ...args], env).output()

/** Resolves true once a new TCP connection to `port` is refused (the listener is closed). */
async function refusesConnections(port: number, withinMs: number): Promise<boolean> {
  const until = performance.now() + withinMs
  while (performance.now() < until) {
    const refused = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } }).then(
      (s) => { s.end(); return false },
      () => true,
    )
    if (refused) return true
    await Bun.sleep(20)
  }
  return false
}

describe('command line', () => {
  test('--help lists every flag and exits 0', async () => {
    const { code, stdout } = await run(['--help'])
    expect(code).toBe(0)
    for (const flag of ['--port', '--host', '--workers', '--shutdown-timeout', '--tls-cert-file', '--tls-key-file', '--version']) {
      expect(stdout).toContain(flag)
    }
  })

  test('--version prints the version and exits 0', async () => {
    const { code, stdout } = await run(['--version'])
    expect(code).toBe(0)
    expect(stdout.trim()).toStartWith(`highperf ${VERSION}`)
  })

  test('a bad value exits 2 naming the variable and what it accepts, without a stack trace', async () => {
    const { code, stderr } = await run([], { PORT: 'abc' })
    expect(code).toBe(2)
    expect(stderr).toContain('PORT')
    expect(stderr).toContain('integer')
    expect(stderr).not.toMatch(/\n\s+at /)

    const flag = await run(['--shutdown-timeout', 'soon'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toContain('SHUTDOWN_TIMEOUT')

    const unknown = await run(['--no-such-flag'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('--help')
  })

  test('a port in use exits 1 with one clear line, not a stack dump', async () => {
    const taken = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('taken') })
    try {
      const { code, stderr, stdout } = await run([], envFor(taken.port ?? 0))
      expect(code).toBe(1)
      expect(stderr).toContain('already in use')
      expect(stderr).toContain(String(taken.port))
      expect(stderr + stdout).not.toMatch(/\n\s+at /)
    } finally {
      taken.stop(true)
    }
  })
})

describe('graceful shutdown', () => {
  test('SIGTERM: new connections are refused, the in-flight request finishes with 200, exit 0', async () => {
    const port = freePort()
    const base = `http://127.0.0.1:${port}`
    const s = spawnHighperf(MAIN, envFor(port, { SHUTDOWN_TIMEOUT: '10s' }))
    try {
      await waitHealthy(`${base}/healthz`, s.proc)
      const sent = performance.now()
      let settled = false
      const slow = fetch(`${base}/tasks/sleep`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ms: 3000 }),
      }).then(async (r) => ({ status: r.status, body: await r.text(), at: performance.now() }))
        .finally(() => { settled = true })
      await Bun.sleep(300)
      s.proc.kill('SIGTERM')
      // The listener closes at once, while the slow request (due at ~3000 ms) is still running.
      expect(await refusesConnections(port, 2500)).toBe(true)
      expect(settled).toBe(false)
      const done = await slow
      expect(done.status).toBe(200)
      expect(JSON.parse(done.body)).toMatchObject({ slept: 3000 })
      expect(done.at - sent).toBeGreaterThanOrEqual(2900)
      const { code, stderr } = await s.output()
      expect(stderr).not.toMatch(/\n\s+at /)
      expect(code).toBe(0)
    } finally {
      s.proc.kill('SIGKILL')
    }
  })

  test('SHUTDOWN_TIMEOUT bounds the drain: a request that outlives it is cut and the process still exits 0', async () => {
    const port = freePort()
    const base = `http://127.0.0.1:${port}`
    const s = spawnHighperf(MAIN, envFor(port, { SHUTDOWN_TIMEOUT: '300ms', LOG_LEVEL: 'silent' }))
    try {
      await waitHealthy(`${base}/healthz`, s.proc)
      const slow = fetch(`${base}/tasks/sleep`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ms: 20_000 }),
      }).then((r) => r.status, () => 'cut' as const)
      await Bun.sleep(300)
      const killed = performance.now()
      s.proc.kill('SIGTERM')
      const { code } = await s.output()
      expect(code).toBe(0)
      // 300 ms of drain plus closing; far below the 20 s the request wanted.
      expect(performance.now() - killed).toBeLessThan(8000)
      expect(await slow).not.toBe(200)
    } finally {
      s.proc.kill('SIGKILL')
    }
  })

  test('/readyz answers 503 from the moment draining begins', async () => {
    const srv = await startServer(
      testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'inproc'), workers: 1 }),
      { log: silentLogger() },
    )
    // Ready once a pool worker is up (they start in the background).
    let ready = 0
    for (let i = 0; i < 1000 && ready !== 200; i++) {
      ready = (await fetch(`${srv.url}readyz`)).status
      if (ready !== 200) await Bun.sleep(10)
    }
    expect(ready).toBe(200)
    const stopping = srv.shutdown()
    // Through the server's own handler: the listener is already closed to new connections.
    const res = await srv.server.fetch(new Request(`${srv.url}readyz`))
    expect(res.status).toBe(503)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('shutting_down')
    await stopping
  })

  test('SHUTDOWN_DELAY keeps accepting with /readyz 503 over the network, then drains', async () => {
    const srv = await startServer(
      testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'delay'), workers: 1, shutdownDelay: 600 }),
      { log: silentLogger() },
    )
    const stopping = srv.shutdown()
    // A load balancer polling /readyz over a new connection now sees 503, not a refused connection.
    const res = await fetch(`${srv.url}readyz`)
    expect(res.status).toBe(503)
    expect((await fetch(`${srv.url}healthz`)).status).toBe(200)
    await stopping
    expect(await fetch(`${srv.url}healthz`).then(() => 'answered', () => 'refused')).toBe('refused')
  })
})

describe('TLS', () => {
  const cert = join(tmp.dir, 'cert.pem')
  const key = join(tmp.dir, 'key.pem')
  const makeCert = () => {
    const r = Bun.spawnSync(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stderr: 'pipe' })
    if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`)
  }
  const handshake = (port: number, version: string) => {
    const r = Bun.spawnSync(['openssl', 's_client', '-connect', `127.0.0.1:${port}`, `-${version}`, '-cipher', 'DEFAULT:@SECLEVEL=0'],
      { stdin: new TextEncoder().encode('Q\n'), stdout: 'pipe', stderr: 'pipe', timeout: 10_000 })
    const text = r.stdout.toString() + r.stderr.toString()
    return { ok: /Protocol\s*:\s*TLSv1\.[23]|New, TLSv1\.[23]/.test(text) && !/Cipher is \(NONE\)/.test(text), text }
  }

  test('TLS_CERT_FILE + TLS_KEY_FILE serve HTTPS with TLS 1.2+, and TLS 1.1 is refused', async () => {
    makeCert()
    const port = freePort()
    const s = spawnHighperf(MAIN, envFor(port, { TLS_CERT_FILE: cert, TLS_KEY_FILE: key }))
    try {
      const ca = await Bun.file(cert).text()
      await waitHealthy(`https://127.0.0.1:${port}/healthz`, s.proc, 20_000, { tls: { ca } })
      const res = await fetch(`https://localhost:${port}/healthz`, { tls: { ca } })
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('ok')
      // Plain HTTP on the TLS port gets no HTTP answer.
      expect(await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => 'failed')).not.toBe(200)

      expect(handshake(port, 'tls1_2').ok).toBe(true)
      expect(handshake(port, 'tls1_3').ok).toBe(true)
      const old = handshake(port, 'tls1_1')
      expect(old.ok).toBe(false)
      expect(old.text).toMatch(/alert protocol version|no protocols available|wrong version|handshake failure/)

      s.proc.kill('SIGTERM')
      expect((await s.output()).code).toBe(0)
    } finally {
      s.proc.kill('SIGKILL')
    }
  })

  test('a certificate without its key exits 2', async () => {
    const { code, stderr } = await run([], envFor(freePort(), { TLS_CERT_FILE: cert }))
    expect(code).toBe(2)
    expect(stderr).toContain('TLS_KEY_FILE')
  })
})
