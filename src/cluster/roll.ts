/**
 * The roll (SIGHUP to the primary): every slot's process replaced, one slot at a time, with no
 * moment where the slot does not listen: fork the replacement, wait for its `ready` (listening on
 * the shared port, a pool worker up), then SIGTERM the old one (it drains like any SIGTERM) and
 * wait for it to exit, then the next slot. The new processes run whatever is on disk now: the
 * binary (or the source) replaced in place is the upgrade (docs/operations.md#rolling-restart).
 *
 * A replacement that exits or is not ready in time aborts the roll: the old process keeps serving,
 * the slots already rolled keep their new processes, and the log says which slot failed and why.
 * With `net.ipv4.tcp_migrate_req=1` (./tcp-migrate.ts) no connection is refused or reset.
 *
 * @example
 * ```ts
 * const roller = new Roller(sup, log, 10_000)
 * process.on('SIGHUP', () => roller.request())
 * ```
 */
import type { Logger } from '../log.ts'
import type { Supervisor } from './supervisor.ts'

/** Serialises rolls: one at a time, a request during a roll runs one more roll after it. */
export class Roller {
  #running: Promise<boolean> | undefined
  #again = false

  /** `stopTimeoutMs`: how long an old process may drain before it is killed. */
  constructor(private readonly sup: Supervisor, private readonly log: Logger, private readonly stopTimeoutMs: number) {}

  /** True while a roll runs. */
  get rolling(): boolean {
    return this.#running !== undefined
  }

  /**
   * Starts a roll, or (during one) queues one more after it; resolves when the roll it started
   * ends (true: every slot rolled).
   */
  request(): Promise<boolean> {
    if (this.#running) {
      if (!this.#again) this.log.info('SIGHUP during a roll: one more roll follows this one')
      else this.log.info('SIGHUP during a roll: a roll is already queued after this one')
      this.#again = true
      return this.#running
    }
    this.#running = this.#loop().finally(() => { this.#running = undefined })
    return this.#running
  }

  async #loop(): Promise<boolean> {
    let ok: boolean
    do {
      this.#again = false
      ok = await this.#rollOnce()
    } while (this.#again && !this.sup.stopping)
    return ok
  }

  async #rollOnce(): Promise<boolean> {
    const t0 = performance.now()
    this.log.info({ processes: this.sup.processes }, `rolling ${this.sup.processes} server processes, one at a time`)
    for (let slot = 1; slot <= this.sup.processes; slot++) {
      if (this.sup.stopping) return false
      const old = this.sup.current(slot)
      const fresh = this.sup.spawnReplacement(slot)
      this.log.info({ slot, oldPid: old?.pid, newPid: fresh.pid }, `roll: slot ${slot}: starting pid ${fresh.pid} to replace ${old ? `pid ${old.pid}` : 'nothing (the slot is restarting)'}`)
      if (!await fresh.ready) {
        if (this.sup.stopping) return false
        const exit = await fresh.exited
        const why = fresh.fatal || (exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`)
        this.log.error({ slot, childPid: fresh.pid, reason: why }, `roll aborted at slot ${slot}: the replacement (pid ${fresh.pid}) did not become ready: ${why}; the running processes keep serving`)
        return false
      }
      if (this.sup.stopping) return false
      const replaced = this.sup.promote(fresh)
      if (replaced) {
        const exit = await this.sup.waitExit(replaced, this.stopTimeoutMs)
        this.log.info({ slot, oldPid: replaced.pid, newPid: fresh.pid, code: exit.code, signal: exit.signal }, `roll: slot ${slot}: pid ${fresh.pid} serves, pid ${replaced.pid} drained and exited`)
      }
    }
    this.log.info({ processes: this.sup.processes, ms: Math.round(performance.now() - t0) }, 'roll done: every server process was replaced')
    return true
  }
}
