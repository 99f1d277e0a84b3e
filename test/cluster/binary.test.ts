/**
 * `PROCESSES=2` in the COMPILED binary, copied alone into an empty directory (the one-pass build the
 * binary tests share, test/support/binary.ts): the primary forks the binary itself (node:cluster passes the embedded program
 * path as an argument, which the server processes drop: src/main.ts `commandArgs`), both processes
 * serve the port, flags reach them (`--processes 2 --workers 1`), SIGHUP rolls them, SIGTERM
 * drains them and exits 0 with no process left.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { binaryAlone } from '../support/binary.ts'
import { freePort } from '../support/process.ts'
import { alive, allGone, getOnce, spawnCluster, tempDir, type SpawnedCluster } from './support.ts'

const tmp = tempDir()
const runDir = join(tmp.dir, 'run')
const binary = join(runDir, 'highperf')
let c: SpawnedCluster | undefined

beforeAll(() => {
  // Built once per test run, shared with the other binary tests (test/support/binary.ts).
  expect(binaryAlone(runDir)).toBe(binary)
  expect(readdirSync(runDir)).toEqual(['highperf'])
}, 120_000)

afterAll(() => {
  if (c) {
    c.proc.kill('SIGKILL')
    for (const pid of c.childPids()) if (alive(pid)) process.kill(pid, 'SIGKILL')
  }
  tmp.remove()
})

test('the binary alone with --processes 2: both processes serve, SIGHUP rolls them, SIGTERM exits 0 and leaves no process', async () => {
  const port = freePort()
  c = spawnCluster([binary, '--processes', '2', '--workers', '1'], { PORT: String(port), HOST: '127.0.0.1', RATE_LIMIT_RPS: '0', LOG_FORMAT: 'json' }, runDir)
  await c.waitFor((l) => l.msg === 'all 2 server processes ready', 30_000)
  const first = c.readyPids()
  let from = c.lines.length
  for (let i = 0; i < 40; i++) expect(await getOnce(port)).toBe(200)
  await Bun.sleep(300)
  expect(new Set(c.lines.slice(from).filter((l) => l.msg === 'request').map((l) => l.pid))).toEqual(new Set(first.values()))

  from = c.lines.length
  c.proc.kill('SIGHUP')
  await c.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('roll done'), 30_000, from)
  const rolled = c.readyPids()
  for (const slot of [1, 2]) expect(rolled.get(slot)).not.toBe(first.get(slot))
  expect(await getOnce(port)).toBe(200)

  const pids = c.childPids()
  expect(await c.stop()).toBe(0)
  expect(await allGone(pids, 5000)).toBe(true)
  expect(c.stderr()).toBe('')
  expect(readdirSync(runDir).sort()).toEqual(['data', 'highperf'])
}, 60_000)
