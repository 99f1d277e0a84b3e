/**
 * `PROCESSES=auto` counts the CPUs this process may use, not the host's cores (issue: operations):
 * started under `taskset`, the affinity mask decides how many server processes run. The cgroup
 * quota side of the same detection is tested over fake and real cgroups in test/ops/cpus.test.ts.
 */
import { afterAll, expect, test } from 'bun:test'
import { availableParallelism } from 'node:os'
import { freePort } from '../support/process.ts'
import { baseEnv, spawnCluster, tempDir } from './support.ts'

const tmp = tempDir()
afterAll(() => tmp.remove())

const env = (port: number, dir: string) => ({ ...baseEnv(port, dir), PROCESSES: 'auto', WORKERS: 'auto' })

test('PROCESSES=auto under `taskset -c 0` runs one server process with one worker and no primary', async () => {
  const c = spawnCluster(['taskset', '-c', '0', process.execPath, 'run', 'src/main.ts'], env(freePort(), `${tmp.dir}/one`))
  try {
    const line = await c.waitFor((l) => l.msg === 'highperf listening' || l.role === 'primary')
    expect(line.role).toBeUndefined()
    expect(line).toMatchObject({ processes: 1, workers: 1, cpus: 1 })
    expect(String(line.cpuSource)).toContain('CPU affinity mask')
  } finally {
    expect(await c.stop()).toBe(0)
  }
})

test.skipIf(availableParallelism() < 2)('PROCESSES=auto under `taskset -c 0,1` runs a primary with two server processes of one worker each', async () => {
  const c = spawnCluster(['taskset', '-c', '0,1', process.execPath, 'run', 'src/main.ts'], env(freePort(), `${tmp.dir}/two`))
  try {
    const line = await c.waitFor((l) => l.role === 'primary' || l.msg === 'highperf listening')
    expect(line).toMatchObject({ role: 'primary', processes: 2, workersPerProcess: 1, cpus: 2 })
    await c.waitFor((l) => l.msg === 'all 2 server processes ready')
  } finally {
    expect(await c.stop()).toBe(0)
  }
})
