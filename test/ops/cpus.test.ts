/**
 * detectCpus over fake /proc and cgroup trees (the root path is injected), then for real: the
 * affinity mask of a process started under `taskset`, and (where this test runs as root on a host
 * with a writable cgroup v1 cpu hierarchy, as CI does) a real CFS quota on a real cgroup.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdirSync, writeFileSync, rmdirSync, existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { countCpuList, detectCpus } from '../../src/ops/cpus.ts'
import { tempDir } from '../support/deps.ts'

const ROOT = resolve(import.meta.dir, '../..')
const tmp = tempDir('highperf-cpus-')
afterAll(() => tmp.remove())

let n = 0
/** A fake root holding `files` (path -> content). */
function fakeRoot(files: Record<string, string>): string {
  const root = join(tmp.dir, String(n++))
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
  }
  return root
}

const V2_MOUNT = '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n'
const V1_MOUNTS = [
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset',
].join('\n')
const status = (list: string) => `Name:\tbun\nCpus_allowed:\tffff\nCpus_allowed_list:\t${list}\nMems_allowed:\t1\n`

describe('detectCpus over fake cgroup trees', () => {
  test('cgroup v2 cpu.max of a container (cgroup namespace: the cgroup is the mount root) caps 64 cores at 2', () => {
    const root = fakeRoot({
      '/proc/self/cgroup': '0::/\n',
      '/proc/self/mountinfo': V2_MOUNT,
      '/proc/self/status': status('0-63'),
      '/sys/fs/cgroup/cpu.max': '200000 100000\n',
    })
    const d = detectCpus({ root, host: 64 })
    expect(d.count).toBe(2)
    expect(d.quota).toBe(2)
    expect(d.affinity).toBe(64)
    expect(d.source).toContain('cgroup v2 cpu.max (/sys/fs/cgroup/cpu.max: 200000 100000)')
  })

  test('a fractional quota is rounded up: 1.5 CPUs -> 2, 0.25 CPUs -> 1', () => {
    const mk = (max: string) => fakeRoot({ '/proc/self/cgroup': '0::/\n', '/proc/self/mountinfo': V2_MOUNT, '/proc/self/status': status('0-7'), '/sys/fs/cgroup/cpu.max': max })
    expect(detectCpus({ root: mk('150000 100000'), host: 8 }).count).toBe(2)
    expect(detectCpus({ root: mk('25000 100000'), host: 8 }).count).toBe(1)
    expect(detectCpus({ root: mk('400000 100000'), host: 8 }).count).toBe(4)
  })

  test('"max" is no limit: the affinity mask or the host cores decide', () => {
    const root = fakeRoot({ '/proc/self/cgroup': '0::/\n', '/proc/self/mountinfo': V2_MOUNT, '/proc/self/status': status('0-7'), '/sys/fs/cgroup/cpu.max': 'max 100000\n' })
    const d = detectCpus({ root, host: 8 })
    expect(d).toEqual({ count: 8, source: 'host cores (8; no CPU quota or affinity limit)', host: 8, affinity: 8 })
  })

  test('cgroup v2 without a namespace (a systemd service): the service cgroup and its parents are read, the smallest quota wins', () => {
    const root = fakeRoot({
      '/proc/self/cgroup': '0::/system.slice/highperf.service\n',
      '/proc/self/mountinfo': V2_MOUNT,
      '/proc/self/status': status('0-15'),
      '/sys/fs/cgroup/system.slice/highperf.service/cpu.max': '800000 100000',
      '/sys/fs/cgroup/system.slice/cpu.max': '300000 100000',
    })
    const d = detectCpus({ root, host: 16 })
    expect(d.count).toBe(3)
    expect(d.source).toContain('/sys/fs/cgroup/system.slice/cpu.max')
  })

  test('cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us under a cpu,cpuacct mount', () => {
    const root = fakeRoot({
      '/proc/self/cgroup': '12:cpuset:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n',
      '/proc/self/mountinfo': V1_MOUNTS,
      '/proc/self/status': status('0-31'),
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '250000\n',
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
    })
    const d = detectCpus({ root, host: 32 })
    expect(d.count).toBe(3)
    expect(d.quota).toBe(2.5)
    expect(d.source).toContain('cgroup v1 cpu.cfs_quota_us (/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us: 250000, period 100000)')
  })

  test('cgroup v1 inside a container: the mount shows only the container cgroup (mount root /docker/abc)', () => {
    const root = fakeRoot({
      '/proc/self/cgroup': '4:cpu,cpuacct:/docker/abc\n',
      '/proc/self/mountinfo': '32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,relatime - cgroup cgroup rw,cpu,cpuacct\n',
      '/proc/self/status': status('0-31'),
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '100000',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000',
    })
    expect(detectCpus({ root, host: 32 }).count).toBe(1)
  })

  test('v1 quota -1 is no limit', () => {
    const root = fakeRoot({
      '/proc/self/cgroup': '4:cpu,cpuacct:/\n',
      '/proc/self/mountinfo': V1_MOUNTS,
      '/proc/self/status': status('0-3'),
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '-1',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000',
    })
    expect(detectCpus({ root, host: 4 }).count).toBe(4)
  })

  test('the affinity mask wins when it is smaller than the quota, and is named', () => {
    const root = fakeRoot({ '/proc/self/cgroup': '0::/\n', '/proc/self/mountinfo': V2_MOUNT, '/proc/self/status': status('0,2,4-5'), '/sys/fs/cgroup/cpu.max': '800000 100000' })
    const d = detectCpus({ root, host: 16 })
    expect(d.count).toBe(4)
    expect(d.affinity).toBe(4)
    expect(d.source).toBe('CPU affinity mask (Cpus_allowed_list 0,2,4-5): 4 of 16 cores')
  })

  test('missing or garbage files mean "no limit from there", never a throw', () => {
    expect(detectCpus({ root: fakeRoot({}), affinity: 3, host: 8 }).count).toBe(3)
    const garbage = fakeRoot({ '/proc/self/cgroup': 'nonsense', '/proc/self/mountinfo': 'x - cgroup2', '/proc/self/status': 'Cpus_allowed_list:\tzz', '/sys/fs/cgroup/cpu.max': 'abc def' })
    const d = detectCpus({ root: garbage, affinity: 2, host: 2 })
    expect(d.count).toBe(2)
    const zero = fakeRoot({ '/proc/self/cgroup': '0::/\n', '/proc/self/mountinfo': V2_MOUNT, '/sys/fs/cgroup/cpu.max': '0 100000' })
    expect(detectCpus({ root: zero, affinity: 4, host: 4 }).count).toBe(4)
  })

  test('countCpuList reads the kernel list format', () => {
    expect(countCpuList('0-63')).toBe(64)
    expect(countCpuList('0,2,4-5\n')).toBe(4)
    expect(countCpuList('3')).toBe(1)
    expect(countCpuList('5-2')).toBeUndefined()
    expect(countCpuList('')).toBeUndefined()
  })
})

const SCRIPT = `import { detectCpus } from ${JSON.stringify(join(ROOT, 'src/ops/cpus.ts'))}; console.log(JSON.stringify(detectCpus()))`
const run = (prefix: string[]) => {
  const r = Bun.spawnSync([...prefix, process.execPath, '-e', SCRIPT], { stdout: 'pipe', stderr: 'pipe' })
  if (r.exitCode !== 0) throw new Error(r.stderr.toString())
  return JSON.parse(r.stdout.toString()) as { count: number; source: string; affinity: number }
}

describe('detectCpus for real', () => {
  test('a process started under `taskset -c 0` counts 1 CPU and says it comes from the affinity mask', () => {
    const d = run(['taskset', '-c', '0'])
    expect(d.count).toBe(1)
    expect(d.affinity).toBe(1)
    expect(d.source).toContain('CPU affinity mask (Cpus_allowed_list 0)')
  })

  // A real CFS quota: needs root and a writable cgroup v1 cpu hierarchy (this project's machines
  // have both); elsewhere the fake trees above cover the parsing.
  const CG = '/sys/fs/cgroup/cpu'
  const canQuota = process.getuid?.() === 0 && existsSync(join(CG, 'cpu.cfs_quota_us'))
  test.skipIf(!canQuota)('a process in a real cgroup with cpu.cfs_quota_us = 0.5 CPU counts 1, from the quota', () => {
    const dir = join(CG, `highperf-test-${process.pid}`)
    mkdirSync(dir)
    try {
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), '50000')
      const d = run(['sh', '-c', `echo $$ > ${dir}/cgroup.procs && exec "$0" "$@"`])
      expect(d.count).toBe(1)
      expect(d.source).toContain(`cgroup v1 cpu.cfs_quota_us (${dir}/cpu.cfs_quota_us: 50000, period 100000) = 0.5 CPUs, rounded up`)
    } finally {
      for (let i = 0; i < 50; i++) { try { rmdirSync(dir); break } catch { Bun.sleepSync(20) } }
    }
  })

  test.skipIf(!canQuota)("WORKERS' default in a real cgroup with a 1.5-CPU quota is 2 (os.availableParallelism() says 1), and --help names the quota", () => {
    const dir = join(CG, `highperf-test-w-${process.pid}`)
    mkdirSync(dir)
    try {
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), '150000')
      const inCgroup = ['sh', '-c', `echo $$ > ${dir}/cgroup.procs && exec "$0" "$@"`]
      const script = `import { loadConfig } from ${JSON.stringify(join(ROOT, 'src/config.ts'))}; const r = loadConfig([], {}); console.log(JSON.stringify({ workers: r.kind === 'config' ? r.config.workers : 0, ap: require('node:os').availableParallelism() }))`
      const r = Bun.spawnSync([...inCgroup, process.execPath, '-e', script], { stdout: 'pipe', stderr: 'pipe', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
      expect(r.stderr.toString()).toBe('')
      expect(JSON.parse(r.stdout.toString())).toEqual({ workers: 2, ap: 1 })
      const help = Bun.spawnSync([...inCgroup, process.execPath, 'run', join(ROOT, 'src/main.ts'), '--help'], { stdout: 'pipe', stderr: 'pipe', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
      expect(help.stdout.toString()).toContain(`CPUs detected: 2, from cgroup v1 cpu.cfs_quota_us (${dir}/cpu.cfs_quota_us: 150000, period 100000) = 1.5 CPUs, rounded up`)
      expect(help.stdout.toString()).toMatch(/--workers .*\[default: auto = 2 ÷ PROCESSES\]/)
      expect(help.stdout.toString()).toMatch(/--processes .*\[default: 1; auto = 2\]/)
    } finally {
      for (let i = 0; i < 50; i++) { try { rmdirSync(dir); break } catch { Bun.sleepSync(20) } }
    }
  })
})
