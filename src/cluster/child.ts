/**
 * A server process's side of the cluster (`PROCESSES` > 1, started by the primary with its slot in
 * `HIGHPERF_CLUSTER_SLOT`): its {@link IpcBus}, telling the primary it is ready or why it could not
 * start, noticing that the primary is gone, and ignoring SIGHUP (the primary rolls the processes).
 * `main.ts` loads it only in such a process.
 *
 * Why node:cluster is loaded here although nothing below calls it: Bun (like Node) sets up a
 * cluster child when node:cluster is first loaded, and that adds a `disconnect` listener which
 * calls `process.exit(0)` the moment the pipe to the primary closes: in-flight requests would be
 * cut and running jobs left for the lease to expire. Loading it now, then removing that listener,
 * lets {@link ClusterMember.onPrimaryGone} drain instead, whatever loads node:cluster later
 * (prom-client's cluster metrics do). It is imported dynamically: the bundler hoists a static
 * import of a built-in module to the top of the binary's bundle, where every process (a single
 * one too) would load it.
 *
 * @example
 * ```ts
 * const member = await joinCluster(config.clusterSlot, log)
 * const srv = await startServer({ ...config, reusePort: true }, { log, bus: member.bus })
 * member.reportReady(() => Object.values(srv.deps.lifecycle.checks()).every(Boolean))
 * member.onPrimaryGone(() => void srv.shutdown())
 * ```
 */
import type { Logger } from '../log.ts'
import { IpcBus } from './ipc-bus.ts'
import { clusterMessage } from './protocol.ts'

/** How often a starting process checks whether it is ready (listening, a pool worker up). */
const READY_POLL_MS = 20
/** How long `fatal` waits for its message to reach the primary before the process exits anyway. */
const FATAL_SEND_MS = 1000

/** This process as a member of the cluster. */
export interface ClusterMember {
  /** This process's slot, 1..PROCESSES. */
  readonly slot: number
  /** The bus to the other server processes, through the primary. */
  readonly bus: IpcBus
  /** Tells the primary `ready` once `isReady()` holds (checked every 20 ms until it does). */
  reportReady(isReady: () => boolean): void
  /** Tells the primary why this process cannot start (one line); resolves once sent, or after 1 s. */
  fatal(message: string): Promise<void>
  /** Runs `fn` once when the pipe to the primary closes (the primary died): drain and exit. */
  onPrimaryGone(fn: () => void): void
}

/**
 * Joins the cluster this process was started into: see the module comment.
 *
 * @example const member = await joinCluster(2, log)
 */
export async function joinCluster(slot: number, log: Logger): Promise<ClusterMember> {
  // See the module comment: keep Bun's cluster child from exiting at once on disconnect.
  await import('node:cluster')
  for (const listener of process.listeners('disconnect')) process.off('disconnect', listener)
  const primaryPid = process.ppid
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP', primaryPid }, `SIGHUP ignored by server process ${slot}: send it to the primary (pid ${primaryPid}), which restarts the processes one at a time`)
  })
  const bus = new IpcBus(slot)
  const send = (msg: Parameters<typeof clusterMessage>[0], done?: () => void): void => {
    try {
      process.send?.(clusterMessage(msg), undefined, undefined, () => done?.())
    } catch {
      done?.() // the primary is gone already
    }
  }
  return {
    slot,
    bus,
    reportReady(isReady) {
      const poll = (): void => {
        if (isReady()) send({ kind: 'ready' })
        else setTimeout(poll, READY_POLL_MS)
      }
      poll()
    },
    fatal(message) {
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, FATAL_SEND_MS)
        send({ kind: 'fatal', message }, () => { clearTimeout(timer); resolve() })
      })
    },
    onPrimaryGone(fn) {
      let gone = false
      const once = (): void => {
        if (gone) return
        gone = true
        log.warn({ primaryPid }, `server process ${slot}: the primary (pid ${primaryPid}) is gone; draining and exiting`)
        bus.close()
        fn()
      }
      process.on('disconnect', once)
      if (process.connected === false) once()
    },
  }
}
