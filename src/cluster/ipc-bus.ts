/**
 * The {@link Bus} of a server process in a cluster: node:cluster IPC to the primary, which relays
 * (./relay.ts). A broadcast goes to the primary, which sends it on to every other process; a gather
 * is asked of the primary, which asks every live process (this one included) and returns the
 * answers in slot order; `askPrimary` is answered by the primary itself.
 *
 * Never throws on send: with the primary gone (the pipe closed) a broadcast is dropped, a gather
 * returns this process's own answer only, and `askPrimary` rejects with a {@link BusError}.
 *
 * @example
 * ```ts
 * const bus = new IpcBus(config.clusterSlot)   // in a server process started by the primary
 * bus.on('job-cancel', (data, from) => …)
 * const all = await bus.gather('pool-stats', null, 500)
 * ```
 */
import { BusError, LocalBus, type BusData, type GatheredAnswer } from './bus.ts'
import { asClusterMessage, clusterMessage, type ClusterMessage, type TaggedMessage } from './protocol.ts'

/** The pipe to the primary: `process` in a real server process. */
export interface IpcChannel {
  /** Sends one message; false or a throw when the pipe is closed. */
  send(msg: TaggedMessage): boolean
  /** Listens to every message on the pipe (highperf's and others'); returns the unsubscribe function. */
  listen(listener: (raw: unknown) => void): () => void
}

/**
 * This process's pipe to its primary (node:cluster IPC).
 *
 * @example new IpcBus(1, processChannel())
 */
export function processChannel(): IpcChannel {
  return {
    send: (msg) => process.send?.(msg) ?? false,
    listen: (listener) => {
      process.on('message', listener)
      return () => { process.off('message', listener) }
    },
  }
}

/** How much longer than the gather's own timeout a process waits for the primary's reply. */
const GATHER_GRACE_MS = 250

interface Pending {
  resolve(msg: ClusterMessage | undefined): void
  timer: ReturnType<typeof setTimeout>
}

/** The bus of a server process started by the primary; see the module comment. */
export class IpcBus extends LocalBus {
  override readonly clustered = true
  readonly #channel: IpcChannel
  readonly #pending = new Map<number, Pending>()
  readonly #unlisten: () => void
  #nextId = 1

  constructor(slot: number, channel: IpcChannel = processChannel()) {
    super(slot)
    this.#channel = channel
    this.#unlisten = channel.listen((raw) => this.#receive(raw))
  }

  override broadcast(topic: string, data: BusData): void {
    this.#send({ kind: 'bcast', topic, data })
  }

  override async gather(topic: string, data: BusData, timeoutMs: number): Promise<GatheredAnswer[]> {
    const reply = await this.#request((id) => ({ kind: 'gather', id, topic, data, timeoutMs }), timeoutMs + GATHER_GRACE_MS)
    if (reply?.kind === 'gathered') return reply.answers
    // No primary to relay (gone, or too slow): this process's own answer is all there is.
    return await super.gather(topic, data, timeoutMs)
  }

  override async askPrimary(topic: string, data: BusData, timeoutMs: number): Promise<BusData> {
    const reply = await this.#request((id) => ({ kind: 'ask', id, topic, data }), timeoutMs)
    if (reply === undefined) throw new BusError(`the primary did not answer ${topic} within ${timeoutMs} ms`)
    if (reply.kind !== 'asked' || !reply.ok) throw new BusError(reply.kind === 'asked' && reply.error ? reply.error : `the primary has no answer for ${topic}`)
    return reply.data
  }

  /** Stops listening to the pipe; pending requests end as if timed out. */
  close(): void {
    this.#unlisten()
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer)
      this.#pending.delete(id)
      p.resolve(undefined)
    }
  }

  /** Sends a request and resolves with its reply, or undefined after `timeoutMs` or when it cannot be sent. */
  #request(make: (id: number) => ClusterMessage, timeoutMs: number): Promise<ClusterMessage | undefined> {
    const id = this.#nextId++
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.#pending.delete(id); resolve(undefined) }, Math.max(0, timeoutMs))
      this.#pending.set(id, { resolve, timer })
      if (!this.#send(make(id))) {
        clearTimeout(timer)
        this.#pending.delete(id)
        resolve(undefined)
      }
    })
  }

  #send(msg: ClusterMessage): boolean {
    try {
      return this.#channel.send(clusterMessage(msg))
    } catch {
      return false // the pipe is closed: the primary is gone
    }
  }

  #receive(raw: unknown): void {
    const msg = asClusterMessage(raw)
    if (!msg) return
    switch (msg.kind) {
      case 'bcast':
        this.deliver(msg.topic, msg.data, msg.from ?? 0)
        return
      case 'question':
        void this.answerLocally(msg.topic, msg.data).then((data) => {
          this.#send({ kind: 'answer', id: msg.id, has: data !== undefined, data: data ?? null })
        })
        return
      case 'gathered':
      case 'asked': {
        const p = this.#pending.get(msg.id)
        if (!p) return
        clearTimeout(p.timer)
        this.#pending.delete(msg.id)
        p.resolve(msg)
        return
      }
      default:
        return
    }
  }
}
