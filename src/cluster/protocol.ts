/**
 * The messages between the primary and its server processes over node:cluster IPC: one JSON
 * object per message, tagged with the key `highperf`, so they never collide with prom-client's
 * own cluster messages (`{ type: 'prom-client:…' }`) or anything else that uses the same channel.
 *
 * Child → primary: `ready` (listening and a pool worker up), `fatal` (why it could not start, sent
 * before exiting 1), `bcast`, `gather`, `ask`, `answer` (its reply to a `question`).
 * Primary → child: `bcast` (relayed, with the sender's slot), `question` (answer `topic` for a
 * gather), `gathered` (the answers of a gather, by slot), `asked` (the primary's own answer).
 *
 * @example
 * ```ts
 * process.send?.(clusterMessage({ kind: 'ready' }))
 * process.on('message', (m) => { const msg = asClusterMessage(m); if (msg?.kind === 'bcast') … })
 * ```
 */
import type { BusData, GatheredAnswer } from './bus.ts'

/** The tag every highperf cluster message carries (its value is the protocol version). */
export const TAG = 'highperf'

/** A message between the primary and a server process (without its tag). */
export type ClusterMessage =
  | { kind: 'ready' }
  | { kind: 'fatal'; message: string }
  | { kind: 'bcast'; topic: string; data: BusData; from?: number }
  | { kind: 'gather'; id: number; topic: string; data: BusData; timeoutMs: number }
  | { kind: 'question'; id: number; topic: string; data: BusData }
  | { kind: 'answer'; id: number; has: boolean; data: BusData }
  | { kind: 'gathered'; id: number; answers: GatheredAnswer[] }
  | { kind: 'ask'; id: number; topic: string; data: BusData }
  | { kind: 'asked'; id: number; ok: boolean; data: BusData; error?: string }

/** A message as it crosses the pipe: the message plus its tag. */
export type TaggedMessage = ClusterMessage & { [TAG]: 1 }

/**
 * Tags `msg` for sending.
 *
 * @example process.send?.(clusterMessage({ kind: 'ready' }))
 */
export function clusterMessage(msg: ClusterMessage): TaggedMessage {
  return { ...msg, [TAG]: 1 }
}

/**
 * `raw` as a highperf cluster message, or undefined when it is someone else's (prom-client's…).
 *
 * @example asClusterMessage({ type: 'prom-client:getMetricsReq' }) // undefined
 */
export function asClusterMessage(raw: unknown): ClusterMessage | undefined {
  if (typeof raw !== 'object' || raw === null || (raw as Record<string, unknown>)[TAG] !== 1) return undefined
  const kind = (raw as { kind?: unknown }).kind
  return typeof kind === 'string' ? raw as ClusterMessage : undefined
}
