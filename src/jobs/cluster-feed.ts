/**
 * Job events across the server processes of one host: an SSE client may reach any process, and
 * the job may run in any other (they share `jobs.sqlite`, docs/jobs.md#several-processes).
 *
 * How (over the {@link Bus}, best effort, with the store as the safety net):
 * - a process whose {@link JobEvents} gets its first listener for a job broadcasts
 *   `jobs:watch {ids, on: true}`, and `{on: false}` when the last one leaves; every
 *   {@link WATCH_REFRESH_MS}-ish poll it repeats the ids it still watches, so a process that
 *   restarted learns them, and a watch whose process died is forgotten after
 *   {@link WATCH_TTL_POLLS} polls without a repeat;
 * - every process keeps the ids watched elsewhere; {@link ClusterFeed.publish} emits locally and,
 *   only for such an id, broadcasts `jobs:event {id, event}`; the others emit it to their
 *   listeners. A job nobody watches costs one Map lookup, as before;
 * - the watcher reads its watched jobs that no local run owns from the store every poll and emits
 *   a `state` event when the state changed, or is final: a final state always arrives, even when
 *   a message was lost or the watch reached the owner after the job ended.
 *
 * Alone (LOCAL_BUS) nothing is broadcast and the poll only covers jobs other processes started on
 * the same file without a bus (`REUSE_PORT`).
 *
 * @example
 * ```ts
 * const feed = new ClusterFeed(events, bus, (id) => store.get(id), (id) => running.has(id))
 * feed.publish(job.id, { type: 'state', job })   // local listeners + watchers elsewhere
 * feed.close()
 * ```
 */
import type { Bus, BusData } from '../cluster/bus.ts'
import type { JobEvent, JobEvents } from './events.ts'
import { isFinal, type Job, type JobState } from './model.ts'

/** How often a watcher re-reads its jobs from the store and repeats its watch list, ms. */
export const WATCH_REFRESH_MS = 1000
/** Polls without a repeat after which a watch from another process is forgotten. */
export const WATCH_TTL_POLLS = 3

const WATCH = 'jobs:watch'
const EVENT = 'jobs:event'

interface WatchMessage { ids: string[]; on: boolean }
interface Seen { state: JobState; updatedAt: number }
interface EventMessage { id: string; event: JobEvent }

/** Cross-process publishing of job events; see the module comment. */
export class ClusterFeed {
  /** Ids watched in other processes: id → slot → until (epoch ms). */
  readonly #remote = new Map<string, Map<number, number>>()
  /** The last state delivered locally per watched id: the poll emits only changes, the bus repeats none. */
  readonly #seen = new Map<string, Seen>()
  readonly #offs: Array<() => void> = []
  readonly #timer: ReturnType<typeof setInterval>
  #polling = false

  constructor(
    private readonly events: JobEvents,
    private readonly bus: Bus,
    private readonly read: (id: string) => Promise<Job | undefined>,
    private readonly runsHere: (id: string) => boolean,
    private readonly pollMs: number = WATCH_REFRESH_MS,
  ) {
    events.setWatchHooks((id, on) => {
      if (!on) this.#seen.delete(id)
      this.bus.broadcast(WATCH, { ids: [id], on })
    })
    this.#offs.push(
      bus.on(WATCH, (data, from) => this.#onWatch(data as unknown as WatchMessage, from)),
      bus.on(EVENT, (data) => {
        const m = data as unknown as EventMessage
        const before = this.#seen.get(m.id)
        // The poll may have delivered this state already (it read the store before the message came).
        if (m.event.type === 'state' && before && before.state === m.event.job.state && before.updatedAt >= m.event.job.updatedAt) return
        this.#deliver(m.id, m.event)
      }),
    )
    this.#timer = setInterval(() => { void this.#poll() }, pollMs)
    this.#timer.unref?.()
  }

  /** Emits `event` to this process's listeners and, when another process watches `id`, to it. */
  publish(id: string, event: JobEvent): void {
    this.#deliver(id, event)
    const slots = this.#remote.get(id)
    if (!slots) return
    const now = Date.now()
    for (const [slot, until] of slots) if (until < now) slots.delete(slot)
    if (slots.size === 0) {
      this.#remote.delete(id)
      return
    }
    this.bus.broadcast(EVENT, { id, event } as unknown as BusData)
  }

  /** Ids other processes watch now (tests). */
  get watchedElsewhere(): number {
    return this.#remote.size
  }

  /** Stops the poll and the bus listeners. */
  close(): void {
    clearInterval(this.#timer)
    for (const off of this.#offs.splice(0)) off()
    this.events.setWatchHooks(undefined)
  }

  #deliver(id: string, event: JobEvent): void {
    if (event.type === 'state' && this.events.has(id)) this.#seen.set(id, { state: event.job.state, updatedAt: event.job.updatedAt })
    this.events.emit(id, event)
  }

  #onWatch(m: WatchMessage, from: number): void {
    const until = Date.now() + this.pollMs * WATCH_TTL_POLLS
    for (const id of m.ids) {
      let slots = this.#remote.get(id)
      if (m.on) {
        if (!slots) this.#remote.set(id, (slots = new Map()))
        slots.set(from, until)
      } else if (slots) {
        slots.delete(from)
        if (slots.size === 0) this.#remote.delete(id)
      }
    }
  }

  /** Repeats the watch list and re-reads the watched jobs no local run owns (the safety net). */
  async #poll(): Promise<void> {
    if (this.#polling) return
    this.#polling = true
    try {
      const ids = this.events.ids()
      if (ids.length === 0) return
      this.bus.broadcast(WATCH, { ids, on: true })
      for (const id of ids) {
        if (this.runsHere(id)) continue
        const job = await this.read(id).catch(() => undefined)
        if (!job || !this.events.has(id)) continue
        const before = this.#seen.get(id)
        if (before && before.updatedAt > job.updatedAt) continue // an event newer than this read came meanwhile
        this.#seen.set(id, { state: job.state, updatedAt: job.updatedAt })
        // A change since the last state delivered here; the first read only records (the stream
        // sent its own snapshot), unless the job already ended.
        if (before ? before.state !== job.state : isFinal(job.state)) this.events.emit(id, { type: 'state', job })
      }
    } finally {
      this.#polling = false
    }
  }
}
