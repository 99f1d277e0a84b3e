/**
 * Two real server processes on one DATA_DIR (`SQLITE_LOCKING=shared`), started apart, with no bus
 * between them: a client that reaches B still follows and cancels a job that A runs. Events come
 * from B's re-read of the store (the final state), the cancel reaches A through A's heartbeat
 * (within JOB_LEASE/3). With the cluster bus both are faster (shared-store.test.ts).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, spawnHighperf, waitHealthy, type Spawned } from '../support/process.ts'
import { tempDir } from '../support/deps.ts'

const tmp = tempDir('highperf-xproc-')
const dataDir = join(tmp.dir, 'data')
const countLog = join(tmp.dir, 'runs.log')
const spawned: Spawned[] = []
afterAll(async () => {
  for (const s of spawned) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL')
  await Promise.all(spawned.map((s) => s.proc.exited))
  tmp.remove()
})

async function boot(): Promise<{ url: string; pid: number }> {
  const port = freePort()
  const s = spawnHighperf([process.execPath, 'run', 'test/jobs/fixtures/counting-server.ts'], {
    PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, SQLITE_LOCKING: 'shared', JOB_LEASE: '1s',
    WORKERS: '1', RATE_LIMIT_RPS: '0', ACCESS_LOG: 'off', LOG_LEVEL: 'error', HIGHPERF_TEST_COUNT_LOG: countLog,
  })
  spawned.push(s)
  const url = `http://127.0.0.1:${port}/`
  await waitHealthy(`${url}readyz`, s.proc, 30_000)
  return { url, pid: s.proc.pid }
}

async function submit(url: string, input: unknown): Promise<string> {
  const res = await fetch(`${url}jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'count.run', input }) })
  expect(res.status).toBe(202)
  return ((await res.json()) as { id: string }).id
}

async function logLine(prefix: string, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const line = readFileSync(countLog, 'utf8').split('\n').find((l) => l.startsWith(prefix))
    if (line) return line.split(' ')
    if (Date.now() > deadline) throw new Error(`no line '${prefix}…' in the run log`)
    await Bun.sleep(5)
  }
}

describe('two server processes on one DATA_DIR, no bus', () => {
  test('B streams a job A runs to its final state, and a cancel on B stops the task running in A', async () => {
    writeFileSync(countLog, '')
    const [a, b] = await Promise.all([boot(), boot()])

    const streamed = await submit(a.url, { n: 1, ms: 1200 })
    expect((await logLine('start 1 '))[2]).toBe(String(a.pid))
    const res = await fetch(`${b.url}jobs/${streamed}/events`)
    expect(res.status).toBe(200)
    const text = await Promise.race([res.text(), Bun.sleep(15_000).then(() => 'timed out')])
    const states = [...text.matchAll(/event: state\ndata: (.*)\n/g)].map((m) => (JSON.parse(m[1]!) as { state: string }).state)
    expect(states).toEqual(['running', 'succeeded'])

    const canceled = await submit(a.url, { n: 2, ms: 30_000 })
    expect((await logLine('start 2 '))[2]).toBe(String(a.pid))
    const t0 = Date.now()
    const del = await fetch(`${b.url}jobs/${canceled}`, { method: 'DELETE' })
    expect(del.status).toBe(200)
    expect(((await del.json()) as { state: string }).state).toBe('canceled')
    const [, , pid, at] = await logLine('abort 2 ')
    expect(pid).toBe(String(a.pid))
    const ms = Number(at) - t0
    console.log(`cancel on B -> task aborted in A after ${ms} ms (heartbeat, JOB_LEASE=1s)`)
    expect(ms).toBeLessThan(5000) // JOB_LEASE/3 ≈ 333 ms plus scheduling; generous on a loaded machine
    const onA = (await (await fetch(`${a.url}jobs/${canceled}`)).json()) as { state: string }
    expect(onA.state).toBe('canceled')
  }, 60_000)
})
