/**
 * `PROCESSES=2` from source, with real processes: both slots serve one port (which process
 * answered is read from the access log lines, each carrying its process's pid); a SIGKILLed
 * server process comes back in its slot with a growing backoff while new connections keep being
 * answered; SIGHUP rolls every slot with no refused or reset connection; SIGTERM lets a request in
 * flight finish and exits 0 with no process left; a slot that cannot start (the port taken)
 * makes the primary exit 1 with one line; a SIGKILLed primary's children drain and exit.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { RATE_TABLE_BYTES } from '../../src/cluster/rate-table.ts'
import { freePort } from '../support/process.ts'
import { allGone, alive, baseEnv, getOnce, hammer, spawnCluster, tempDir, type LogLine, type SpawnedCluster } from './support.ts'

const SOURCE = [process.execPath, 'run', 'src/main.ts']
const tmp = tempDir()
const started: SpawnedCluster[] = []
afterAll(async () => {
  for (const c of started) {
    const pids = c.childPids()
    c.proc.kill('SIGKILL')
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
  }
  tmp.remove()
})

const isMsg = (re: RegExp) => (l: LogLine) => typeof l.msg === 'string' && re.test(l.msg)

describe('PROCESSES=2 from source', () => {
  let c: SpawnedCluster
  let port: number
  beforeAll(async () => {
    port = freePort()
    c = spawnCluster(SOURCE, { ...baseEnv(port, join(tmp.dir, 'a')), ACCESS_LOG: 'stdout' })
    started.push(c)
    await c.waitFor(isMsg(/^all 2 server processes ready$/), 30_000)
  }, 40_000)

  test('the primary logs processes, workers per process and the CPUs detected, from where', () => {
    const first = c.lines.find((l) => l.role === 'primary')!
    expect(first).toMatchObject({ processes: 2, workersPerProcess: 1, port })
    expect(typeof first.cpus).toBe('number')
    expect(String(first.cpuSource)).not.toBe('')
  })

  test('both slots serve on the one port (the kernel spreads new connections)', async () => {
    const pids = c.readyPids()
    expect([...pids.keys()].sort()).toEqual([1, 2])
    const from = c.lines.length
    for (let i = 0; i < 40; i++) expect(await getOnce(port)).toBe(200)
    await Bun.sleep(300) // the access lines are written asynchronously
    const answered = new Set(c.lines.slice(from).filter((l) => l.msg === 'request').map((l) => l.pid))
    expect([...answered].sort()).toEqual([...pids.values()].sort())
  })

  test('a SIGKILLed server process comes back in its slot, with a growing backoff, while new connections are answered', async () => {
    const delays: number[] = []
    for (let kill = 0; kill < 3; kill++) {
      const victim = c.readyPids().get(1)!
      const from = c.lines.length
      process.kill(victim, 'SIGKILL')
      const died = await c.waitFor((l) => l.role === 'primary' && l.childPid === victim && l.signal === 'SIGKILL', 10_000, from)
      delays.push(died.delayMs as number)
      expect(died.msg).toContain('restarting it in')
      // New connections while slot 1 restarts: slot 2 answers every one of them.
      const load = hammer(port, 2)
      const back = await c.waitFor((l) => l.role === 'primary' && l.slot === 1 && / ready \(pid \d+\)$/.test(String(l.msg)), 15_000, from)
      const { ok, failed } = await load.stop()
      expect(failed).toEqual([])
      expect(ok).toBeGreaterThan(0)
      expect(back.childPid).not.toBe(victim)
    }
    expect(delays).toEqual([100, 200, 400])
  }, 60_000)

  test('SIGUSR1 to the primary reaches every server process; a SIGHUP sent to a server process is ignored, and said so', async () => {
    const pids = c.readyPids()
    let from = c.lines.length
    c.proc.kill('SIGUSR1')
    await c.waitFor((l) => l.slot === 1 && l.signal === 'SIGUSR1' && l.role === undefined, 10_000, from)
    await c.waitFor((l) => l.slot === 2 && l.signal === 'SIGUSR1' && l.role === undefined, 10_000, from)
    from = c.lines.length
    process.kill(pids.get(2)!, 'SIGHUP')
    const ignored = await c.waitFor(isMsg(/^SIGHUP ignored by server process 2: send it to the primary/), 10_000, from)
    expect(ignored.pid).toBe(pids.get(2))
    await Bun.sleep(200)
    expect(alive(pids.get(2)!)).toBe(true)
    expect(c.readyPids()).toEqual(pids)
  })

  test('SIGHUP rolls every slot one at a time: no refused or reset connection, a new pid in every slot', async () => {
    const before = c.readyPids()
    const from = c.lines.length
    const load = hammer(port, 4)
    await Bun.sleep(200)
    c.proc.kill('SIGHUP')
    await c.waitFor(isMsg(/^roll done/), 30_000, from)
    await Bun.sleep(200)
    const { ok, failed } = await load.stop()
    expect(failed).toEqual([])
    expect(ok).toBeGreaterThan(20)
    const after = c.readyPids()
    for (const slot of [1, 2]) expect(after.get(slot)).not.toBe(before.get(slot))
    expect(alive(before.get(1)!) || alive(before.get(2)!)).toBe(false)
  }, 40_000)

  test('SIGTERM: a request in flight finishes, every process drains, the primary exits 0, no process is left', async () => {
    const pids = [...c.readyPids().values()]
    // The rate-limit table's file exists while the primary runs, and goes with it.
    const table = `/dev/shm/highperf-rate-${c.proc.pid}`
    if (existsSync('/dev/shm')) expect(statSync(table).size).toBe(RATE_TABLE_BYTES)
    const inFlight = fetch(`http://127.0.0.1:${port}/tasks/sleep`, { method: 'POST', body: '{"ms":1000}' })
    await Bun.sleep(300)
    const code = c.stop()
    const res = await inFlight
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ slept: 1000 })
    expect(await code).toBe(0)
    expect(await allGone(pids, 5000)).toBe(true)
    expect(existsSync(table)).toBe(false)
  }, 30_000)
})

describe('PROCESSES=2: signals and failures', () => {
  test('a port already taken: the primary gives up after 3 starts of a slot, exits 1 with one line, leaves no process', async () => {
    const port = freePort()
    const squatter = Bun.listen({ hostname: '127.0.0.1', port, socket: { data() {} } })
    try {
      const c = spawnCluster(SOURCE, { ...baseEnv(port, join(tmp.dir, 'b')), LOG_LEVEL: 'debug' })
      started.push(c)
      const code = await Promise.race([c.proc.exited, Bun.sleep(30_000).then(() => 'still running')])
      expect(code).toBe(1)
      await Bun.sleep(100) // the rest of stderr
      const lines = c.stderr().split('\n').filter((l) => l !== '')
      // Each failed start printed its own line; the primary's is the last, naming the slot and the cause.
      expect(lines.every((l) => l.startsWith('highperf: cannot start: '))).toBe(true)
      const own = lines.filter((l) => l.startsWith('highperf: cannot start: server process'))
      expect(own).toHaveLength(1)
      expect(own[0]).toMatch(new RegExp(`^highperf: cannot start: server process [12] could not start \\(3 attempts\\): cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use; `))
      expect(lines.at(-1)).toBe(own[0])
      const pids = c.childPids()
      expect(pids.size).toBeGreaterThanOrEqual(3)
      expect(await allGone(pids, 2000)).toBe(true)
    } finally {
      squatter.stop(true)
    }
  }, 40_000)

  test('Ctrl-C (SIGINT to the whole process group): every process drains once, none is restarted, exit 0', async () => {
    const port = freePort()
    // setsid: the primary leads its own process group, as a shell's foreground job does.
    const c = spawnCluster(['setsid', ...SOURCE], baseEnv(port, join(tmp.dir, 'd')))
    started.push(c)
    await c.waitFor(isMsg(/^all 2 server processes ready$/), 30_000)
    const pids = [...c.readyPids().values()]
    process.kill(-c.proc.pid, 'SIGINT')
    const code = await Promise.race([c.proc.exited, Bun.sleep(20_000).then(() => 'still running')])
    expect(code).toBe(0)
    expect(await allGone(pids, 2000)).toBe(true)
    expect(c.lines.filter(isMsg(/restarting it in/))).toEqual([])
    expect(c.lines.filter(isMsg(/^shutting down$/)).map((l) => l.slot).sort()).toEqual([1, 2])
  }, 40_000)

  test('the primary SIGKILLed: its server processes notice, drain and exit', async () => {
    const port = freePort()
    const c = spawnCluster(SOURCE, baseEnv(port, join(tmp.dir, 'c')))
    started.push(c)
    await c.waitFor(isMsg(/^all 2 server processes ready$/), 30_000)
    const pids = [...c.readyPids().values()]
    c.proc.kill('SIGKILL')
    expect(await allGone(pids, 10_000)).toBe(true)
    const gone = c.lines.filter(isMsg(/the primary \(pid \d+\) is gone/))
    expect(gone.map((l) => l.pid).sort()).toEqual(pids.sort())
    expect(await getOnce(port).catch(() => 0)).toBe(0)
  }, 40_000)
})
