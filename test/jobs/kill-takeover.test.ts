/**
 * Several server processes share one DATA_DIR (`SQLITE_LOCKING=shared`, no cluster primary) and
 * are SIGKILLed at random while thousands of jobs run, then restarted. Every job answered 202
 * must succeed, and a job may run more than once only if a process was killed while running it:
 * no lease taken back from a live process (a job runs again only after the kill of the process that
 * ran it), no run counted twice. Each run of the counting task
 * appends `start <n> <pid>` and `end <n> <pid>` to a file (fixtures/counting-tasks.ts).
 *
 * JOB_LEASE=3s: a live process keeps its jobs unless its event loop stalls ~2 s (the lease less one
 * heartbeat). With 1 s, a CI machine at a load average of 14 stalled a live process past its lease
 * and the test saw 4 jobs taken back from it: at-least-once by design, but not what this test pins.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, spawnHighperf, waitHealthy, type Spawned } from '../support/process.ts'
import { tempDir } from '../support/deps.ts'
import { finalStates, judgeRuns } from './fixtures/run-log.ts'

const PROCESSES = 4
const JOBS = 2000
const KILLS = 6

const tmp = tempDir('highperf-kill-')
const dataDir = join(tmp.dir, 'data')
const countLog = join(tmp.dir, 'runs.log')
const spawned: Spawned[] = []
afterAll(async () => {
  for (const s of spawned) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL')
  await Promise.all(spawned.map((s) => s.proc.exited))
  tmp.remove()
})

interface Slot { port: number; url: string; s: Spawned; ready: boolean }

async function boot(port: number): Promise<Slot> {
  const s = spawnHighperf([process.execPath, 'run', 'test/jobs/fixtures/counting-server.ts'], {
    PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, SQLITE_LOCKING: 'shared', JOB_LEASE: '3s',
    WORKERS: '1', JOB_CONCURRENCY: '4', RATE_LIMIT_RPS: '0', ACCESS_LOG: 'off', LOG_LEVEL: 'error',
    HIGHPERF_TEST_COUNT_LOG: countLog,
  })
  spawned.push(s)
  const url = `http://127.0.0.1:${port}/`
  const slot: Slot = { port, url, s, ready: false }
  await waitHealthy(`${url}readyz`, s.proc, 30_000)
  slot.ready = true
  return slot
}

describe('jobs shared by processes that are SIGKILLed at random', () => {
  test(`${PROCESSES} processes, ${JOBS} jobs, ${KILLS} kills: every accepted job succeeds; only jobs running in a killed process ran twice`, async () => {
    writeFileSync(countLog, '')
    const slots = await Promise.all(Array.from({ length: PROCESSES }, () => boot(freePort())))
    /** Killed pid → when (epoch ms). */
    const killedAt = new Map<number, number>()
    let submitted = 0
    let accepted = 0
    const submitOne = async (n: number): Promise<void> => {
      const body = JSON.stringify({ task: 'count.run', input: { n, ms: 5 + (n % 4) * 5 }, maxAttempts: 20 })
      for (;;) {
        const live = slots.filter((s) => s.ready)
        const slot = live[Math.floor(Math.random() * live.length)]
        if (slot) {
          try {
            // The same key on every try: a submit whose answer a kill cut off is not stored twice.
            const res = await fetch(`${slot.url}jobs`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `n-${n}` }, body })
            await res.arrayBuffer()
            if (res.status === 202) { accepted++; return }
          } catch { /* killed mid-request: try another process */ }
        }
        await Bun.sleep(20)
      }
    }
    const submitting = (async () => {
      let next = 0
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < JOBS) { const n = next++; await submitOne(n); submitted++ }
      }))
    })()
    // Kills spread over the submission and the run: a random live process, restarted at once.
    const t0 = performance.now()
    for (let k = 0; k < KILLS; k++) {
      await Bun.sleep(700 + Math.random() * 800)
      const live = slots.filter((s) => s.ready)
      const victim = live[Math.floor(Math.random() * live.length)]!
      victim.ready = false
      killedAt.set(victim.s.proc.pid, Date.now())
      victim.s.proc.kill('SIGKILL')
      await victim.s.proc.exited
      const fresh = await boot(victim.port)
      slots[slots.indexOf(victim)] = fresh
    }
    await submitting
    expect(submitted).toBe(JOBS)
    expect(accepted).toBe(JOBS)

    // Every job ends; the file says how, the count log how often each ran and where.
    const { states, attempts } = await finalStates(join(dataDir, 'jobs.sqlite'), JOBS)
    const elapsed = performance.now() - t0
    expect(states).toEqual({ succeeded: JOBS })
    const { runs, twice, cutOff, endedUnrecorded, bad, takeovers } = judgeRuns(countLog, killedAt)
    expect(runs.size).toBe(JOBS)
    console.log(`kill test: ${JOBS} jobs accepted and succeeded, ${KILLS} SIGKILLs, ${(elapsed / 1000).toFixed(1)} s; ` +
      `${twice} jobs ran more than once (runs cut off by a kill: ${cutOff}; ended but killed before the result committed: ${endedUnrecorded}); ` +
      `${bad.length} double runs outside killed processes; attempts in all ${attempts}; ` +
      `kill to next start (JOB_LEASE=3s): ${takeovers.join(', ')} ms`)
    expect(bad).toEqual([])
    for (const s of slots) s.s.proc.kill('SIGKILL')
  }, 120_000)
})
