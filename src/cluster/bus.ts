/**
 * The cluster bus: how the server processes of one host (`PROCESSES` > 1) tell each other about
 * job events and cancels, and how one of them answers a question about all of them (`/metrics`,
 * `/pool`). The primary relays every message (node:cluster IPC: a child talks only to its
 * primary); a process running alone gets {@link LOCAL_BUS}, which delivers nothing and answers
 * `gather` from this process only, so code written against the bus needs no "am I clustered?"
 * branch.
 *
 * Messages are plain JSON values (they cross a pipe). Delivery is best effort: a process that is
 * restarting misses what was sent meanwhile, so a user of the bus keeps a slower path that does
 * not depend on it (the job store, which every process reads).
 *
 * @example
 * ```ts
 * bus.on('job-cancel', (data) => runner.abortLocal((data as { id: string }).id))
 * bus.broadcast('job-cancel', { id })
 * const pools = await bus.gather('pool-stats', null, 500) // [{ slot: 1, data: {...} }, ...]
 * ```
 */

/** A JSON value: what a bus message may carry. */
export type BusData = null | boolean | number | string | BusData[] | { [key: string]: BusData }

/** Receives a broadcast: its data and the slot of the process that sent it. */
export type BusListener = (data: BusData, from: number) => void

/** Answers a {@link Bus.gather} in this process. */
export type BusAnswer = (data: BusData) => BusData | Promise<BusData>

/** One process's answer to a {@link Bus.gather}. */
export interface GatheredAnswer {
  /** The slot of the process that answered (1..PROCESSES; 0 for a process running alone). */
  slot: number
  data: BusData
}

/** The messages between the server processes of one host; see the module comment. */
export interface Bus {
  /** This process's slot: 1..PROCESSES in a cluster, 0 alone. */
  readonly slot: number
  /** True when other processes may be listening (a cluster). */
  readonly clustered: boolean
  /** Sends `data` on `topic` to every other server process (not to this one). Never throws. */
  broadcast(topic: string, data: BusData): void
  /** Listens to broadcasts on `topic` from other processes; returns the unsubscribe function. */
  on(topic: string, listener: BusListener): () => void
  /** Sets how this process answers {@link gather} on `topic` (one answer per topic). */
  answer(topic: string, fn: BusAnswer): void
  /**
   * Asks every server process, this one included, and returns their answers in slot order; a
   * process that has not answered within `timeoutMs` (or has no answer for `topic`) is left out.
   */
  gather(topic: string, data: BusData, timeoutMs: number): Promise<GatheredAnswer[]>
  /** Asks the primary itself (e.g. the merged metrics); rejects after `timeoutMs` or alone. */
  askPrimary(topic: string, data: BusData, timeoutMs: number): Promise<BusData>
}

/** An error of the bus: no primary to ask, or no answer in time. */
export class BusError extends Error {
  readonly code = 'bus_unavailable'
  constructor(message: string) {
    super(message)
    this.name = 'BusError'
  }
}

/**
 * A process's own bus when it is not part of a cluster, and the local half of every bus: keeps
 * the answers registered here and runs them for `gather`.
 *
 * @example
 * ```ts
 * const bus = new LocalBus()
 * bus.answer('pool-stats', () => ({ alive: 2 }))
 * await bus.gather('pool-stats', null, 100) // [{ slot: 0, data: { alive: 2 } }]
 * ```
 */
export class LocalBus implements Bus {
  readonly clustered: boolean = false
  protected readonly listeners = new Map<string, Set<BusListener>>()
  protected readonly answers = new Map<string, BusAnswer>()

  constructor(readonly slot: number = 0) {}

  broadcast(_topic: string, _data: BusData): void {}

  on(topic: string, listener: BusListener): () => void {
    let set = this.listeners.get(topic)
    if (!set) this.listeners.set(topic, (set = new Set()))
    set.add(listener)
    return () => { this.listeners.get(topic)?.delete(listener) }
  }

  answer(topic: string, fn: BusAnswer): void {
    this.answers.set(topic, fn)
  }

  async gather(topic: string, data: BusData, _timeoutMs: number): Promise<GatheredAnswer[]> {
    const own = await this.answerLocally(topic, data)
    return own === undefined ? [] : [{ slot: this.slot, data: own }]
  }

  askPrimary(topic: string, _data: BusData, _timeoutMs: number): Promise<BusData> {
    return Promise.reject(new BusError(`no primary to ask for ${topic}: this process runs alone`))
  }

  /** Delivers a broadcast received from `from` to this process's listeners (a throwing one does not stop the others). */
  deliver(topic: string, data: BusData, from: number): void {
    const set = this.listeners.get(topic)
    if (!set) return
    for (const fn of [...set]) {
      try { fn(data, from) } catch { /* one broken listener must not break the others */ }
    }
  }

  /** This process's answer on `topic`, or undefined when it has none (or it threw). */
  async answerLocally(topic: string, data: BusData): Promise<BusData | undefined> {
    const fn = this.answers.get(topic)
    if (!fn) return undefined
    try {
      return await fn(data)
    } catch {
      return undefined
    }
  }
}

/** The bus of a process running alone: delivers nothing, gathers from this process only. */
export const LOCAL_BUS: Bus = new LocalBus(0)

/**
 * Buses of `n` processes joined in memory, for tests of code that uses the bus (one process
 * plays every slot): a broadcast reaches the others after a macrotask, as over a pipe.
 *
 * @example
 * ```ts
 * const [a, b] = memoryHub(2)
 * b.on('hello', (d, from) => console.log(d, from)) // 'hi' 1
 * a.broadcast('hello', 'hi')
 * ```
 */
export function memoryHub(n: number, primary: (topic: string, data: BusData) => BusData | Promise<BusData> = () => null): LocalBus[] {
  const buses: HubBus[] = []
  for (let slot = 1; slot <= n; slot++) buses.push(new HubBus(slot, buses, primary))
  return buses
}

class HubBus extends LocalBus {
  override readonly clustered = true
  constructor(slot: number, private readonly peers: HubBus[], private readonly primary: (topic: string, data: BusData) => BusData | Promise<BusData>) {
    super(slot)
  }

  override broadcast(topic: string, data: BusData): void {
    const copy = JSON.stringify(data)
    setTimeout(() => {
      for (const p of this.peers) if (p !== this) p.deliver(topic, JSON.parse(copy) as BusData, this.slot)
    }, 0)
  }

  override async gather(topic: string, data: BusData, _timeoutMs: number): Promise<GatheredAnswer[]> {
    const out: GatheredAnswer[] = []
    for (const p of this.peers) {
      const a = await p.answerLocally(topic, JSON.parse(JSON.stringify(data)) as BusData)
      if (a !== undefined) out.push({ slot: p.slot, data: JSON.parse(JSON.stringify(a)) as BusData })
    }
    return out
  }

  override async askPrimary(topic: string, data: BusData, _timeoutMs: number): Promise<BusData> {
    return await this.primary(topic, data)
  }
}
