/**
 * How many CPUs this process may really use: the smallest of the host's cores, the CPU affinity
 * mask and the cgroup CPU quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), the
 * quota rounded up. `WORKERS`' default is this count (src/config.ts); the one-host cluster's
 * `PROCESSES=auto` is meant to use the same function when it arrives.
 *
 * Why not `os.availableParallelism()` alone: Bun's answers from the affinity mask
 * (`taskset -c 0 bun -e 'console.log(require("os").availableParallelism())'` prints 1 on a
 * 2-core host), but a container limited with `--cpus=2` on a 64-core host keeps all 64 cores in
 * its mask and is throttled by the CFS quota instead: 64 worker threads would fight for 2 CPUs.
 *
 * Where the cgroup files are: `/proc/self/cgroup` names this process's cgroup per hierarchy and
 * `/proc/self/mountinfo` where each hierarchy is mounted and which part of it (a container sees
 * its own cgroup as the mount's root). The quota of every ancestor up to the mount point binds
 * too, so the smallest one found on the way up wins. Everything is read synchronously, once, at
 * start: a few small files (~0.1 ms). A file that is missing or unreadable means "no limit from
 * there", never an error: the count falls back to the affinity mask.
 *
 * @example
 * ```ts
 * detectCpus()                        // { count: 2, source: 'cgroup v2 cpu.max (/sys/fs/cgroup/cpu.max: 200000 100000)', ... }
 * detectCpus({ root: '/tmp/fake' })  // reads /tmp/fake/proc/self/cgroup etc. (tests)
 * ```
 */
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { join, posix } from 'node:path'

/** What {@link detectCpus} found. */
export interface CpuDetection {
  /** CPUs to plan for: at least 1. */
  count: number
  /** Where `count` comes from, for `--help` and the start-up log line. */
  source: string
  /** Cores the host has (`os.cpus().length`). */
  host: number
  /** CPUs the affinity mask allows (`os.availableParallelism()`, which Bun takes from sched_getaffinity). */
  affinity: number
  /** The binding cgroup quota in CPUs (fractional, e.g. 1.5), when there is one. */
  quota?: number
}

/** Inputs of {@link detectCpus}; each has the real machine's value as default (tests inject). */
export interface DetectOptions {
  /** Prefix of every path read: `/proc/self/cgroup` is read as `<root>/proc/self/cgroup`. Default ''. */
  root?: string
  /** CPUs the affinity mask allows. Default `os.availableParallelism()`. */
  affinity?: number
  /** The host's cores. Default `os.cpus().length`. */
  host?: number
}

/** A cgroup quota found in one file. */
interface Quota {
  cpus: number
  where: string
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** One cgroup mount from /proc/self/mountinfo: what part of the hierarchy it shows, and where. */
interface Mount {
  version: 1 | 2
  /** v1: the controllers in the super options (`cpu`, `cpuacct`…). */
  controllers: string[]
  root: string
  point: string
}

// mountinfo line: "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu"
// (id, parent, dev, root, mount point, options, optional fields…, '-', fs type, source, super options)
function cgroupMounts(text: string): Mount[] {
  const out: Mount[] = []
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ')
    if (dash === -1) continue
    const left = line.slice(0, dash).split(' ')
    const right = line.slice(dash + 3).split(' ')
    const type = right[0]
    if (type !== 'cgroup' && type !== 'cgroup2') continue
    const root = unescapeMount(left[3] ?? '/')
    const point = unescapeMount(left[4] ?? '')
    if (point === '') continue
    const controllers = type === 'cgroup' ? (right[2] ?? '').split(',') : []
    out.push({ version: type === 'cgroup2' ? 2 : 1, controllers, root, point })
  }
  return out
}

// mountinfo escapes space, tab, newline and backslash as \040 etc.
const unescapeMount = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

/** This process's cgroup path per hierarchy from /proc/self/cgroup: v2 under '', v1 under each controller. */
function cgroupPaths(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = line.match(/^\d+:([^:]*):(.*)$/)
    if (!m) continue
    const [, list = '', path = '/'] = m
    if (list === '') out.set('', path)
    else for (const c of list.split(',')) out.set(c, path)
  }
  return out
}

/**
 * The directories to look in, leaf first, up to the mount point: the cgroup's path made relative
 * to what the mount shows. A path outside the mount's root (a container whose cgroup namespace
 * hides the host's path) leaves only the mount point itself.
 */
function dirsUpward(mount: Mount, cgroup: string): string[] {
  let rel: string
  if (mount.root === '/') rel = cgroup
  else if (cgroup === mount.root) rel = '/'
  else if (cgroup.startsWith(`${mount.root}/`)) rel = cgroup.slice(mount.root.length)
  else rel = '/'
  const dirs: string[] = []
  for (let r = posix.normalize(`/${rel}`); ; r = posix.dirname(r)) {
    dirs.push(posix.join(mount.point, r))
    if (r === '/') break
  }
  return dirs
}

function v2Quota(root: string, dirs: string[]): Quota | undefined {
  let best: Quota | undefined
  for (const dir of dirs) {
    const file = join(dir, 'cpu.max')
    const text = read(join(root, file))?.trim()
    if (text === undefined) continue
    // "max 100000" (no limit) or "200000 100000": quota and period in µs.
    const [q, p] = text.split(/\s+/)
    const quota = Number(q)
    const period = Number(p ?? '100000')
    if (q === 'max' || !(quota > 0) || !(period > 0)) continue
    const cpus = quota / period
    if (best === undefined || cpus < best.cpus) best = { cpus, where: `cgroup v2 cpu.max (${file}: ${text})` }
  }
  return best
}

function v1Quota(root: string, dirs: string[]): Quota | undefined {
  let best: Quota | undefined
  for (const dir of dirs) {
    const qFile = join(dir, 'cpu.cfs_quota_us')
    const q = read(join(root, qFile))?.trim()
    const p = read(join(root, dir, 'cpu.cfs_period_us'))?.trim()
    if (q === undefined || p === undefined) continue
    const quota = Number(q)
    const period = Number(p)
    // -1: no limit.
    if (!(quota > 0) || !(period > 0)) continue
    const cpus = quota / period
    if (best === undefined || cpus < best.cpus) best = { cpus, where: `cgroup v1 cpu.cfs_quota_us (${qFile}: ${q}, period ${p})` }
  }
  return best
}

/** The binding cgroup CPU quota of this process, if any (v2 first: a hybrid host has both). */
function cgroupQuota(root: string): Quota | undefined {
  const self = read(join(root, '/proc/self/cgroup'))
  const mountinfo = read(join(root, '/proc/self/mountinfo'))
  if (self === undefined || mountinfo === undefined) return undefined
  const paths = cgroupPaths(self)
  const mounts = cgroupMounts(mountinfo)
  let best: Quota | undefined
  const consider = (q: Quota | undefined) => { if (q !== undefined && (best === undefined || q.cpus < best.cpus)) best = q }
  const v2Path = paths.get('')
  for (const m of mounts) {
    if (m.version === 2 && v2Path !== undefined) consider(v2Quota(root, dirsUpward(m, v2Path)))
    if (m.version === 1 && m.controllers.includes('cpu')) {
      const path = paths.get('cpu')
      if (path !== undefined) consider(v1Quota(root, dirsUpward(m, path)))
    }
  }
  return best
}

/** CPUs in a list such as `0-3,8,10-11` (`Cpus_allowed_list`); undefined when it does not parse. */
export function countCpuList(list: string): number | undefined {
  let n = 0
  for (const part of list.trim().split(',')) {
    const m = part.match(/^(\d+)(?:-(\d+))?$/)
    if (!m) return undefined
    const lo = Number(m[1])
    const hi = m[2] === undefined ? lo : Number(m[2])
    if (hi < lo) return undefined
    n += hi - lo + 1
  }
  return n > 0 ? n : undefined
}

/** The affinity mask's size from `<root>/proc/self/status`, else `os.availableParallelism()`. */
function affinityCpus(root: string): { cpus: number; where: string } {
  const list = read(join(root, '/proc/self/status'))?.match(/^Cpus_allowed_list:\s*(\S+)/m)?.[1]
  const n = list === undefined ? undefined : countCpuList(list)
  if (n !== undefined) return { cpus: n, where: `CPU affinity mask (Cpus_allowed_list ${list})` }
  // Bun's availableParallelism() reads the mask too, but also applies a v1 cgroup quota rounded
  // DOWN (1.5 CPUs -> 1, measured with Bun 1.4.5): only a fallback, it cannot say which it was.
  return { cpus: Math.max(1, availableParallelism()), where: 'os.availableParallelism()' }
}

/**
 * The CPUs this process may use and where that number comes from (see the module comment).
 *
 * @example
 * ```ts
 * const { count, source } = detectCpus()
 * log.info({ cpus: count, cpuSource: source }, 'highperf listening')
 * ```
 */
export function detectCpus(options: DetectOptions = {}): CpuDetection {
  const root = options.root ?? ''
  const mask = options.affinity === undefined ? affinityCpus(root) : { cpus: Math.max(1, options.affinity), where: 'CPU affinity mask' }
  const affinity = mask.cpus
  // os.cpus() can be empty where /proc/cpuinfo is hidden: the mask is then the best host figure.
  const host = Math.max(affinity, options.host ?? cpus().length)
  const quota = cgroupQuota(root)
  // The smallest wins; on a tie the most specific reason is named (quota, then mask, then host).
  let count = host
  let source = `host cores (${host}; no CPU quota or affinity limit)`
  if (affinity < count || (affinity === count && affinity < host)) {
    count = affinity
    source = `${mask.where}: ${affinity} of ${host} cores`
  }
  if (quota !== undefined) {
    // A quota of 1.5 CPUs lets 2 threads run most of the time: rounded up, never below 1.
    const q = Math.max(1, Math.ceil(quota.cpus - 1e-9))
    if (q <= count) {
      count = q
      source = `${quota.where} = ${+quota.cpus.toFixed(3)} CPUs, rounded up`
    }
  }
  const out: CpuDetection = { count, source, host, affinity }
  if (quota !== undefined) out.quota = quota.cpus
  return out
}
