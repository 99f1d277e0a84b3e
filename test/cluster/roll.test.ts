/**
 * The roll's failure paths, on a real primary whose server processes run the bus fixture (they
 * start in ~50 ms): a replacement that cannot start aborts the roll and the old processes keep
 * serving; a SIGHUP during a roll queues exactly one more roll. And the drain's bound: processes
 * that ignore SIGTERM are SIGKILLed after SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT + 5 s, and the primary
 * says so and exits 1.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../support/process.ts'
import { alive, allGone, spawnCluster, tempDir, type LogLine, type SpawnedCluster } from './support.ts'

const tmp = tempDir()
const failFile = join(tmp.dir, 'fail')
let c: SpawnedCluster
const isMsg = (re: RegExp) => (l: LogLine) => typeof l.msg === 'string' && re.test(l.msg)

beforeAll(async () => {
  c = spawnCluster([process.execPath, 'run', join(import.meta.dir, 'fixtures/bus-primary.ts')], {
    PROCESSES: '2', PORT: String(freePort()), LOG_FORMAT: 'json', BUS_PORTS: `${freePort()},${freePort()}`, FAIL_FILE: failFile,
  })
  await c.waitFor(isMsg(/^all 2 server processes ready$/), 20_000)
}, 30_000)

afterAll(async () => {
  const pids = c.childPids()
  expect(await c.stop()).toBe(0)
  expect(await allGone(pids, 5000)).toBe(true)
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
  tmp.remove()
})

test('a replacement that cannot start aborts the roll: the old processes keep serving, the log says why', async () => {
  const before = c.readyPids()
  writeFileSync(failFile, '')
  try {
    const from = c.lines.length
    c.proc.kill('SIGHUP')
    const aborted = await c.waitFor(isMsg(/^roll aborted at slot 1/), 10_000, from)
    expect(aborted.msg).toContain('refusing to start: FAIL_FILE exists')
    expect(aborted.msg).toContain('the running processes keep serving')
    await Bun.sleep(300)
    expect(c.readyPids()).toEqual(before)
    for (const pid of before.values()) expect(alive(pid)).toBe(true)
    // A failed replacement is not restarted: it was never the slot's process.
    expect(c.lines.slice(from).filter(isMsg(/restarting it in/))).toEqual([])
  } finally {
    rmSync(failFile, { force: true })
  }
})

test('a SIGHUP during a roll queues one more roll (two SIGHUPs: two rolls), every slot ends with a new process', async () => {
  const before = c.readyPids()
  const from = c.lines.length
  c.proc.kill('SIGHUP')
  await c.waitFor(isMsg(/^roll: slot 1: starting/), 10_000, from)
  c.proc.kill('SIGHUP')
  await c.waitFor(isMsg(/^SIGHUP during a roll: one more roll follows this one$/), 10_000, from)
  const first = await c.waitFor(isMsg(/^roll done/), 15_000, from)
  await c.waitFor(isMsg(/^roll done/), 15_000, c.lines.indexOf(first) + 1)
  await Bun.sleep(300)
  expect(c.lines.slice(from).filter(isMsg(/^roll done/))).toHaveLength(2)
  const after = c.readyPids()
  for (const slot of [1, 2]) expect(after.get(slot)).not.toBe(before.get(slot))
  expect(c.lines.slice(from).filter(isMsg(/^roll: slot \d: pid \d+ serves/))).toHaveLength(4)
})

test('server processes still running SHUTDOWN_TIMEOUT + 5 s after SIGTERM are killed, named in the log, and the primary exits 1', async () => {
  const s = spawnCluster([process.execPath, 'run', join(import.meta.dir, 'fixtures/bus-primary.ts')], {
    PROCESSES: '2', PORT: String(freePort()), LOG_FORMAT: 'json', BUS_PORTS: `${freePort()},${freePort()}`, STUBBORN: '1', SHUTDOWN_TIMEOUT: '100ms',
  })
  try {
    await s.waitFor(isMsg(/^all 2 server processes ready$/), 20_000)
    const pids = [...s.readyPids().values()]
    const t0 = performance.now()
    expect(await s.stop(30_000)).toBe(1)
    expect(performance.now() - t0).toBeGreaterThan(5000)
    const killed = s.lines.filter(isMsg(/still running 5100 ms after SIGTERM: killing it \(SIGKILL\)$/))
    expect(killed.map((l) => l.childPid).sort()).toEqual(pids.sort())
    expect(s.lines.some(isMsg(/^some server process did not exit cleanly/))).toBe(true)
    expect(await allGone(pids, 2000)).toBe(true)
  } finally {
    s.proc.kill('SIGKILL')
    for (const pid of s.childPids()) if (alive(pid)) process.kill(pid, 'SIGKILL')
  }
}, 30_000)
