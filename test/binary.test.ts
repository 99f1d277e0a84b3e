/**
 * The single binary: `scripts/build.ts` compiles highperf, the executable is copied ALONE into an
 * empty directory and started there, and the test exercises it over HTTP: health, Swagger UI with
 * its embedded assets, the OpenAPI document, a user round trip, tasks on the worker pool (the
 * worker entry must be embedded), then SIGTERM -> exit 0.
 *
 * Startup time and idle RSS are printed, not asserted (they belong to bench/http).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { tempDir } from './support/deps.ts'
import { freePort, spawnHighperf, waitHealthy, type Spawned } from './support/process.ts'

const ROOT = resolve(import.meta.dir, '..')
const tmp = tempDir('highperf-binary-')
const runDir = join(tmp.dir, 'run')
const binary = join(runDir, 'highperf')
const port = freePort()
const base = `http://127.0.0.1:${port}`
let server: Spawned
let firstOkMs = 0
let buildLog = ''

beforeAll(async () => {
  const built = join(tmp.dir, 'build', 'highperf')
  const b = Bun.spawnSync([process.execPath, 'run', 'scripts/build.ts', '--outfile', built], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  if (b.exitCode !== 0) throw new Error(`build failed (${b.exitCode}):\n${b.stdout.toString()}\n${b.stderr.toString()}`)
  buildLog = b.stdout.toString()
  Bun.spawnSync(['mkdir', '-p', runDir])
  copyFileSync(built, binary)
  Bun.spawnSync(['chmod', '755', binary])
  expect(readdirSync(runDir)).toEqual(['highperf'])
  // Defaults for everything but the address: ./data is created next to the binary.
  server = spawnHighperf([binary], { PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ACCESS_LOG: 'off' }, runDir)
  firstOkMs = await waitHealthy(`${base}/healthz`, server.proc, 20_000)
}, 90_000)

afterAll(() => {
  server?.proc.kill('SIGKILL')
  tmp.remove()
})

const json = (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })

describe('compiled binary, alone in an empty directory', () => {
  test('answers /healthz (startup time and idle RSS reported)', async () => {
    const res = await fetch(`${base}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('ok')
    await Bun.sleep(200)
    const status = await Bun.file(`/proc/${server.proc.pid}/status`).text()
    const rssKb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0)
    console.log(`binary: first 200 from /healthz ${firstOkMs.toFixed(0)} ms after spawn (includes polling); idle RSS ${(rssKb / 1024).toFixed(1)} MB; size ${(Bun.file(binary).size / 1e6).toFixed(0)} MB`)
    expect(rssKb).toBeGreaterThan(0)
  })

  test('was built in two passes, the second laid out by a recorded start (scripts/build.ts)', () => {
    const passes = buildLog.split('\n').filter((l) => l.startsWith('$ '))
    expect(passes.length).toBe(2)
    expect(passes[0]).not.toContain('--bytecode-order')
    expect(passes[1]).toMatch(/--bytecode-order=\S+/)
  })

  test('serves Swagger UI with the assets embedded in the binary, and the OpenAPI document', async () => {
    const page = await fetch(`${base}/swagger`)
    expect(page.status).toBe(200)
    const html = await page.text()
    const assets = [...html.matchAll(/(?:src|href)="(\/swagger\/assets\/[^"]+)"/g)].map((m) => m[1] as string)
    // swagger-ui-dist's bundle and stylesheet, and the page's own start script and dark-mode rules.
    expect(assets.length).toBe(4)
    for (const asset of assets) {
      const res = await fetch(`${base}${asset}`)
      expect(res.status).toBe(200)
      const name = asset.split('/').pop() as string
      if (name === 'init.js' || name === 'page.css') continue
      const original = Bun.file(Bun.resolveSync(`swagger-ui-dist/${name}`, ROOT))
      expect((await res.bytes()).length).toBe(original.size)
    }
    const doc = (await (await fetch(`${base}/swagger/json`)).json()) as { info: { title: string }; paths: Record<string, unknown> }
    expect(doc.info.title).toBe('highperf')
    expect(Object.keys(doc.paths)).toContain('/healthz')
    expect(Object.keys(doc.paths)).toContain('/users')
  })

  test('a user round trip lands in ./data next to the binary', async () => {
    const email = `bin-${Date.now()}@example.com`
    const created = await json('POST', '/users', { name: 'Binary', email })
    expect(created.status).toBe(201)
    const location = created.headers.get('location')
    expect(location).toMatch(/^\/users\/\d+$/)
    const got = await fetch(`${base}${location}`)
    expect(got.status).toBe(200)
    expect(await got.json()).toMatchObject({ name: 'Binary', email })
    expect(readdirSync(runDir)).toContain('data')
  })

  test('runs tasks on the embedded worker pool', async () => {
    const echo = await json('POST', '/tasks/echo', { hello: 'binary' })
    expect(echo.status).toBe(200)
    expect(JSON.stringify(await echo.json())).toContain('binary')
    const primes = await json('POST', '/tasks/primes', { n: 100_000 })
    expect(primes.status).toBe(200)
    // 9592 primes below 100 000.
    expect(JSON.stringify(await primes.json())).toContain('9592')
  })

  test('SIGTERM -> exit 0', async () => {
    server.proc.kill('SIGTERM')
    const { code, stderr } = await server.output()
    expect(stderr).not.toMatch(/\n\s+at /)
    expect(code).toBe(0)
  })
})
