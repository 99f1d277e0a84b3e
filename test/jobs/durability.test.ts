/**
 * Durability with a real process and a real kill: `bun run src/main.ts`, jobs queued and running,
 * SIGKILL, restart on the same DATA_DIR. Every job answered 202 must still exist; queued ones run;
 * running ones are taken back once their lease (JOB_LEASE) expires, the interrupted attempt counted. And SIGTERM: running jobs
 * finish within SHUTDOWN_TIMEOUT, queued ones stay queued for the next start.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { freePort, spawnHighperf, waitHealthy, type Spawned } from '../support/process.ts'
import { tempDir } from '../support/deps.ts'

interface JobBody { id: string; state: string; attempts: number }

const tmp = tempDir('highperf-durability-')
const live: Spawned[] = []
afterAll(async () => {
  for (const s of live) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL')
  await Promise.all(live.map((s) => s.proc.exited))
  tmp.remove()
})

async function start(dataDir: string, env: Record<string, string> = {}): Promise<{ url: string; s: Spawned }> {
  const port = freePort()
  const s = spawnHighperf([process.execPath, 'run', 'src/main.ts'], {
    PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, WORKERS: '1', JOB_CONCURRENCY: '2',
    RATE_LIMIT_RPS: '0', ACCESS_LOG: 'off', LOG_LEVEL: 'warn', REQUEST_TIMEOUT: '10s', ...env,
  })
  live.push(s)
  const url = `http://127.0.0.1:${port}/`
  await waitHealthy(`${url}readyz`, s.proc)
  return { url, s }
}

async function submit(url: string, body: unknown): Promise<JobBody> {
  const res = await fetch(`${url}jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  expect(res.status).toBe(202)
  return (await res.json()) as JobBody
}

async function getJob(url: string, id: string): Promise<JobBody> {
  const res = await fetch(`${url}jobs/${id}`)
  expect(res.status).toBe(200)
  return (await res.json()) as JobBody
}

async function waitState(url: string, id: string, states: string[], timeoutMs = 20_000): Promise<JobBody> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const job = await getJob(url, id)
    if (states.includes(job.state)) return job
    if (Date.now() > until) throw new Error(`job ${id} is ${job.state}, not ${states.join('/')}`)
    await Bun.sleep(20)
  }
}

describe('jobs survive a crash and a graceful stop', () => {
  test('SIGKILL with jobs queued and running: after restart none is lost, running ones re-run with the attempt counted', async () => {
    const dataDir = join(tmp.dir, 'kill')
    const first = await start(dataDir)
    // Two long jobs occupy both job slots; the rest stay queued behind them.
    const running = [await submit(first.url, { task: 'sleep', input: { ms: 1500 } }), await submit(first.url, { task: 'sleep', input: { ms: 1500 } })]
    for (const j of running) await waitState(first.url, j.id, ['running'])
    const burst = await Promise.all(Array.from({ length: 200 }, (_, i) => submit(first.url, { task: 'echo', input: { i } })))
    const queued = burst.map((j) => j.id)
    first.s.proc.kill('SIGKILL')
    await first.s.proc.exited
    expect(first.s.proc.signalCode).toBe('SIGKILL')

    const second = await start(dataDir)
    for (const j of running) {
      const done = await waitState(second.url, j.id, ['succeeded', 'failed'])
      expect(done.state).toBe('succeeded')
      expect(done.attempts).toBe(2)
    }
    for (const id of queued) {
      const done = await waitState(second.url, id, ['succeeded', 'failed'])
      expect(done.state).toBe('succeeded')
    }
    second.s.proc.kill('SIGKILL')
    await second.s.proc.exited
  }, 60_000)

  test('SIGTERM: running jobs finish within SHUTDOWN_TIMEOUT, queued jobs stay queued for the next start', async () => {
    const dataDir = join(tmp.dir, 'term')
    const first = await start(dataDir, { SHUTDOWN_TIMEOUT: '10s' })
    const running = [await submit(first.url, { task: 'sleep', input: { ms: 800 } }), await submit(first.url, { task: 'sleep', input: { ms: 800 } })]
    for (const j of running) await waitState(first.url, j.id, ['running'])
    const queued = await submit(first.url, { task: 'sleep', input: { ms: 800 } })
    first.s.proc.kill('SIGTERM')
    const out = await first.s.output()
    expect(out.code).toBe(0)
    // Between the two processes, the file itself says what the shutdown left behind.
    const db = new Database(join(dataDir, 'jobs.sqlite'), { readonly: true })
    const stateOf = (id: string) => db.query<{ state: string }, [string]>('SELECT state FROM jobs WHERE id = ?1').get(id)?.state
    expect(running.map((j) => stateOf(j.id))).toEqual(['succeeded', 'succeeded'])
    expect(stateOf(queued.id)).toBe('queued')
    db.close()

    const second = await start(dataDir)
    for (const j of running) {
      const job = await getJob(second.url, j.id)
      expect(job.state).toBe('succeeded')
      expect(job.attempts).toBe(1)
    }
    const q = await getJob(second.url, queued.id)
    expect(['queued', 'running', 'succeeded']).toContain(q.state)
    expect((await waitState(second.url, queued.id, ['succeeded'])).attempts).toBe(1)
    second.s.proc.kill('SIGTERM')
    await second.s.proc.exited
  }, 60_000)
})
