/**
 * The bus across two real server processes (node:cluster IPC through a real primary; the
 * processes run a fixture, test/cluster/fixtures/bus-child.ts, that drives its bus over HTTP):
 * a broadcast reaches the other process only, with the sender's slot; a gather returns every
 * process's answer in slot order, the asker's included; askPrimary is answered by the primary
 * (which may gather in turn), and an unknown or failing topic rejects with bus_unavailable.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { freePort } from '../support/process.ts'
import { alive, allGone, spawnCluster, type SpawnedCluster } from './support.ts'

let c: SpawnedCluster
const ports = [freePort(), freePort()]
const get = async (slot: number, path: string): Promise<unknown> => await (await fetch(`http://127.0.0.1:${ports[slot - 1]}${path}`)).json()

beforeAll(async () => {
  c = spawnCluster([process.execPath, 'run', join(import.meta.dir, 'fixtures/bus-primary.ts')], {
    PROCESSES: '2', PORT: String(freePort()), LOG_FORMAT: 'json', BUS_PORTS: ports.join(','),
  })
  await c.waitFor((l) => l.msg === 'all 2 server processes ready', 20_000)
}, 30_000)

afterAll(async () => {
  const pids = c.childPids()
  expect(await c.stop()).toBe(0)
  expect(await allGone(pids, 5000)).toBe(true)
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
})

test('a broadcast reaches every other process, with the sender\'s slot, and not the sender', async () => {
  expect(await get(1, '/broadcast?msg=hi')).toBe(true)
  let got: unknown = []
  for (let i = 0; i < 50 && (got as unknown[]).length === 0; i++) {
    await Bun.sleep(20)
    got = await get(2, '/received')
  }
  expect(got).toEqual([{ data: 'hi', from: 1 }])
  expect(await get(1, '/received')).toEqual([])
})

test('a gather returns every process\'s answer in slot order, the asker\'s included', async () => {
  const pids = c.readyPids()
  const expected = [{ slot: 1, data: { slot: 1, pid: pids.get(1) } }, { slot: 2, data: { slot: 2, pid: pids.get(2) } }]
  expect(await get(2, '/gather')).toEqual(expected)
  expect(await get(1, '/gather')).toEqual(expected)
})

test('askPrimary: the primary answers (gathering in turn); the built-in cluster topic lists the slots', async () => {
  const pids = c.readyPids()
  const census = await get(2, '/ask?topic=census') as { data: { asked: string; from: number; answers: Array<{ slot: number }> } }
  expect(census.data.asked).toBe('q')
  expect(census.data.from).toBe(2)
  expect(census.data.answers.map((a) => a.slot)).toEqual([1, 2])
  const cluster = await get(1, '/ask?topic=cluster') as { data: { processes: number; primaryPid: number; slots: unknown[] } }
  expect(cluster.data).toEqual({
    processes: 2,
    primaryPid: c.proc.pid,
    slots: [{ slot: 1, pid: pids.get(1), state: 'ready', restarts: 0 }, { slot: 2, pid: pids.get(2), state: 'ready', restarts: 0 }],
  })
})

test('askPrimary on a topic the primary does not answer, or whose answer throws, rejects with bus_unavailable', async () => {
  expect(await get(1, '/ask?topic=nobody')).toEqual({ error: 'the primary has no answer for nobody', code: 'bus_unavailable' })
  expect(await get(1, '/ask?topic=broken')).toEqual({ error: 'broken on purpose', code: 'bus_unavailable' })
})
