/**
 * What a server under benchmark costs, read from `/proc`: the CPU time and resident memory of a
 * process and all its descendants (cluster workers, a Node cluster's children), so a server of
 * several processes is measured whole.
 *
 * @example
 * ```ts
 * import { processTree, cpuSeconds, rssMb } from '../lib/proc.ts'
 * const pids = processTree(s.proc.pid)
 * const before = cpuSeconds(pids)
 * // ... load ...
 * const used = cpuSeconds(processTree(s.proc.pid)) - before
 * ```
 */
import { readdirSync, readFileSync } from 'node:fs'

const CLK_TCK = Number(Bun.spawnSync(['getconf', 'CLK_TCK']).stdout.toString().trim()) || 100

/** Fields of `/proc/<pid>/stat` after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/**
 * `root` and every live descendant of it.
 *
 * @example processTree(process.pid) // [1234, 1240, 1241]
 */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>()
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid)) continue
    const f = statFields(pid)
    if (f === null) continue
    const ppid = Number(f[1])
    const list = children.get(ppid)
    if (list) list.push(pid)
    else children.set(ppid, [pid])
  }
  const out: number[] = []
  const todo = [root]
  while (todo.length > 0) {
    const pid = todo.pop() as number
    out.push(pid)
    todo.push(...(children.get(pid) ?? []))
  }
  return out
}

/**
 * User + system CPU seconds the processes have used so far (all their threads; tick resolution).
 *
 * @example cpuSeconds(processTree(pid)) // 1.23
 */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0
  for (const pid of pids) {
    const f = statFields(pid)
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    if (f !== null) ticks += Number(f[11]) + Number(f[12])
  }
  return ticks / CLK_TCK
}

/**
 * Resident memory of the processes in MB (VmRSS summed; shared pages of several processes count
 * once per process, as `ps` shows them).
 *
 * @example rssMb(processTree(pid)) // 61.4
 */
export function rssMb(pids: readonly number[]): number {
  let kb = 0
  for (const pid of pids) {
    try {
      kb += Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] ?? 0)
    } catch { /* gone */ }
  }
  return kb / 1024
}
