// Two real highperf processes on one port (REUSE_PORT) with one rate-limit table file, as the
// cluster primary would start them: a client's allowance is the configured one whichever process
// its connections land on. Before the shared table each process had its own buckets, and 20
// requests on new connections at burst 4 got 8 through.
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../support/process.ts'
import { tableFile } from './support.ts'

const ROOT = join(import.meta.dir, '..', '..', '..')
const cleanup: (() => void)[] = []
afterAll(() => { for (const c of cleanup.reverse()) c() })

/** A server process whose stdout lines are collected as they come; `up` resolves once it listens. */
function server(env: Record<string, string>) {
  const proc = Bun.spawn([process.execPath, 'run', 'src/main.ts'], {
    cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdin: 'ignore', stdout: 'pipe', stderr: 'pipe',
  })
  cleanup.push(() => proc.kill('SIGKILL'))
  const lines: string[] = []
  let listening: () => void = () => {}
  const up = new Promise<void>((resolve) => { listening = resolve })
  const reading = (async () => {
    let text = ''
    for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk
      const parts = text.split('\n')
      text = parts.pop() ?? ''
      lines.push(...parts)
      if (parts.some((l) => l.includes('highperf listening'))) listening()
    }
  })()
  const exited = reading.then(async () => { throw new Error(`server exited before listening: ${await new Response(proc.stderr).text()}`) })
  return { proc, up: Promise.race([up, exited]), served: () => lines.filter((l) => l.includes('"msg":"request"') && l.includes('"path":"/users"')).length }
}

test('two REUSE_PORT processes with one table allow one burst between them', async () => {
  const table = tableFile()
  cleanup.push(() => table.remove())
  const port = freePort()
  const servers = [0, 1].map(() => {
    const dir = mkdtempSync(join(tmpdir(), 'highperf-rate-http-'))
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
    return server({
      PORT: String(port), HOST: '127.0.0.1', REUSE_PORT: 'true', DATA_DIR: dir, WORKERS: '1',
      RATE_LIMIT_BURST: '4', RATE_LIMIT_RPS: '1', HIGHPERF_CLUSTER_RATE_TABLE: table.path,
    })
  })
  await Promise.all(servers.map((s) => s.up))
  const start = performance.now()
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) {
    // A new connection each time, so the kernel spreads them over both processes.
    const res = await fetch(`http://127.0.0.1:${port}/users?limit=1`, { headers: { connection: 'close' }, keepalive: false })
    await res.arrayBuffer()
    statuses.push(res.status)
  }
  const seconds = (performance.now() - start) / 1000
  const allowed = statuses.filter((s) => s === 200).length
  expect(statuses.every((s) => s === 200 || s === 429)).toBe(true)
  // One token per second comes back while the 20 requests run (well under a second here).
  expect(allowed).toBeGreaterThanOrEqual(4)
  expect(allowed).toBeLessThanOrEqual(4 + Math.floor(seconds))
  // The access lines of the last requests may still be on their way (pino writes asynchronously).
  for (let waited = 0; waited < 10_000 && servers.reduce((n, s) => n + s.served(), 0) < 20; waited += 50) await Bun.sleep(50)
  const perProcess = servers.map((s) => s.served())
  expect(perProcess.reduce((a, b) => a + b, 0)).toBe(20)
  // Both processes took connections, else this proves nothing about sharing.
  for (const n of perProcess) expect(n).toBeGreaterThan(0)
}, 60_000)
