/**
 * The primary's half of the bus (./ipc-bus.ts is a server process's half): a child talks only to
 * its primary, so the primary relays broadcasts to every other live process, runs gathers (asks
 * the current process of every slot, the asker included, and returns the answers in slot order),
 * and answers `askPrimary` from {@link primaryAnswers}.
 *
 * **Registering a primary-side answer** (e.g. the merged `/metrics`): add it to
 * {@link primaryAnswers} before the primary starts, from code the primary loads (src/cluster/
 * primary.ts's `registerPrimaryAnswers`). The function gets the asker's data and a context whose
 * `gather` asks every server process, so an answer can merge what each process reports:
 *
 * ```ts
 * primaryAnswers.set('metrics', async (_data, ctx) => merge(await ctx.gather('metrics', null, 1000)))
 * ```
 *
 * @example
 * ```ts
 * const relay = new Relay(() => ({ live: sup.live(), serving: sup.serving() }))
 * const sup = new Supervisor({ …, onMessage: (child, msg) => relay.handle(child, msg) })
 * ```
 */
import type { BusData, GatheredAnswer } from './bus.ts'
import { clusterMessage, type ClusterMessage, type TaggedMessage } from './protocol.ts'

/** What a primary-side answer may use: who asked, and a gather across every server process. */
export interface PrimaryContext {
  /** The slot of the process that asked. */
  from: number
  /** Asks every server process (see `Bus.gather`) from the primary. */
  gather(topic: string, data: BusData, timeoutMs: number): Promise<GatheredAnswer[]>
}

/** The primary's answer to `askPrimary(topic, data)`. */
export type PrimaryAnswer = (data: BusData, ctx: PrimaryContext) => BusData | Promise<BusData>

/**
 * The primary's answers by topic: the one registration point for `askPrimary` (see the module
 * comment). A topic with no entry is answered with an error (the asker's promise rejects).
 *
 * @example primaryAnswers.set('uptime', () => process.uptime())
 */
export const primaryAnswers = new Map<string, PrimaryAnswer>()

/** A server process as the relay sees it. */
export interface RelayPeer {
  readonly slot: number
  send(msg: TaggedMessage): boolean
}

/** The processes to relay among: every live one, and the current one of each slot. */
export type PeerList = () => { live: readonly RelayPeer[]; serving: readonly RelayPeer[] }

/** The primary's relay; see the module comment. */
export class Relay {
  readonly #peers: PeerList
  readonly #answers: Map<string, PrimaryAnswer>
  readonly #questions = new Map<number, (has: boolean, data: BusData) => void>()
  #nextQuestion = 1

  constructor(peers: PeerList, answers: Map<string, PrimaryAnswer> = primaryAnswers) {
    this.#peers = peers
    this.#answers = answers
  }

  /** Handles one highperf message from `from` (the relay's kinds; others are ignored). */
  handle(from: RelayPeer, msg: ClusterMessage): void {
    switch (msg.kind) {
      case 'bcast':
        for (const p of this.#peers().live) {
          if (p !== from) p.send(clusterMessage({ kind: 'bcast', topic: msg.topic, data: msg.data, from: from.slot }))
        }
        return
      case 'gather':
        void this.gather(msg.topic, msg.data, msg.timeoutMs).then((answers) => {
          from.send(clusterMessage({ kind: 'gathered', id: msg.id, answers }))
        })
        return
      case 'answer':
        this.#questions.get(msg.id)?.(msg.has, msg.data)
        return
      case 'ask':
        void this.#ask(from, msg.topic, msg.data).then(
          (data) => from.send(clusterMessage({ kind: 'asked', id: msg.id, ok: true, data })),
          (err: unknown) => from.send(clusterMessage({ kind: 'asked', id: msg.id, ok: false, data: null, error: err instanceof Error ? err.message : String(err) })),
        )
        return
      default:
        return
    }
  }

  /**
   * Asks the current process of every slot to answer `topic` and returns the answers in slot order;
   * a process that has no answer, or has not answered within `timeoutMs`, is left out.
   */
  async gather(topic: string, data: BusData, timeoutMs: number): Promise<GatheredAnswer[]> {
    const asked = this.#peers().serving.map((peer) => new Promise<GatheredAnswer | undefined>((resolve) => {
      const id = this.#nextQuestion++
      const done = (answer: GatheredAnswer | undefined): void => {
        clearTimeout(timer)
        this.#questions.delete(id)
        resolve(answer)
      }
      const timer = setTimeout(() => done(undefined), Math.max(0, timeoutMs))
      this.#questions.set(id, (has, answer) => done(has ? { slot: peer.slot, data: answer } : undefined))
      if (!peer.send(clusterMessage({ kind: 'question', id, topic, data }))) done(undefined)
    }))
    const answers = (await Promise.all(asked)).filter((a): a is GatheredAnswer => a !== undefined)
    return answers.sort((a, b) => a.slot - b.slot)
  }

  async #ask(from: RelayPeer, topic: string, data: BusData): Promise<BusData> {
    const fn = this.#answers.get(topic)
    if (!fn) throw new Error(`the primary has no answer for ${topic}`)
    return await fn(data, { from: from.slot, gather: (t, d, ms) => this.gather(t, d, ms) })
  }
}
