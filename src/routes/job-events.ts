/**
 * `GET /jobs/:id/events` as a Server-Sent Events stream (the route is in ./jobs.ts; the events
 * come from the runner's feed, src/jobs/events.ts): the current state first, then every
 * state and progress change, ending after the job's final state. A job already finished gets
 * one `state` event and the end. A comment line (`: hb`) after `heartbeatMs` without an event
 * keeps proxies and idle timeouts from closing a quiet stream. A client that goes away (the
 * request's signal, or the stream's cancel) unsubscribes at once; so does server shutdown.
 *
 * Shape: the job's events feed a bounded {@link Channel}; the stream is pull-based, and each
 * pull runs one `select([recvFrom(events)], { timeoutMs: heartbeatMs, signal })`, writing an
 * event, or a heartbeat on timeout. Bun pulls only while the socket takes data, so a client that
 * stops reading stops the loop, not the runner.
 *
 * Backpressure policy (the runner publishes synchronously and must never wait for a client):
 * - each stream buffers at most {@link SSE_BUFFER} events; the publisher only ever `trySend`s;
 * - `progress` events enter only while fewer than {@link SSE_PROGRESS_ROOM} events are buffered,
 *   otherwise they are dropped: progress is a level, not a log; the next one, or the next
 *   `state` (whose job carries `progress`), brings the client up to date. Half the buffer thus
 *   stays free for `state` events, which are never dropped to make room;
 * - a `state` or `shutdown` event that finds the buffer full (a client about 32 state changes
 *   behind, i.e. not reading at all) ends that stream instead of losing the event silently: the
 *   subscription is dropped at once and the stream ends after what is buffered, without a final
 *   state. As after a server shutdown, the client reconnects (`retry: 1000`) and gets the job's
 *   current state first. Memory per stream is thus bounded by the buffer, whatever the client does.
 *
 * @example
 * ```ts
 * return jobEventStream(runner, id, { heartbeatMs: 15_000, signal: request.signal })
 * // event: state\ndata: {"id":"…","state":"running",…}\n\n
 * ```
 */
import { Channel, recvFrom, select } from '../sync/index.ts'
import type { JobEvent } from '../jobs/events.ts'
import { isFinal, type Job } from '../jobs/model.ts'
import { jobJson } from '../jobs/view.ts'
import { SSE_HEADERS, sseComment, sseFrame, sseJsonFrame, sseRetry } from '../http/sse.ts'

/** What the stream reads: a job by id, and its events. */
export interface JobFeed {
  get(id: string): Promise<Job | undefined>
  /** Returns the unsubscribe function, which must be safe to call twice. */
  subscribe(id: string, listener: (e: JobEvent) => void): () => void
}

/** Options of {@link jobEventStream}. */
export interface StreamOptions {
  heartbeatMs: number
  signal?: AbortSignal
  /** Extra response headers (e.g. the request id). */
  headers?: Record<string, string>
}

/** Events one stream buffers for a client that is not reading (see the policy above). */
export const SSE_BUFFER = 64
/** Buffered events beyond which progress events are dropped; the rest is kept for state events. */
export const SSE_PROGRESS_ROOM = SSE_BUFFER / 2

const RETRY = sseRetry(1000)
const HEARTBEAT = sseComment('hb')

/**
 * The publisher's side of one stream: never waits, applies the policy above. Returns false when
 * the stream overflowed (the channel is then closed and the caller unsubscribes).
 */
function offer(events: Channel<JobEvent>, e: JobEvent): boolean {
  if (events.closed) return false
  if (e.type === 'progress') {
    if (events.length < SSE_PROGRESS_ROOM) events.trySend(e)
    return true
  }
  if (events.trySend(e)) return true
  events.close()
  return false
}

/** A raced state event the snapshot already shows (or supersedes). */
function stale(e: JobEvent, snap: Job): boolean {
  return e.type === 'state' && (e.job.updatedAt < snap.updatedAt || (e.job.updatedAt === snap.updatedAt && e.job.state === snap.state))
}

/** The frames of one stream, in order; ends on the final state, shutdown, overflow or abort (`stop`). */
async function* frames(feed: JobFeed, id: string, heartbeatMs: number, stop: AbortSignal): AsyncGenerator<Uint8Array, void, undefined> {
  const events = new Channel<JobEvent>(SSE_BUFFER)
  // Subscribed before the snapshot is read, so nothing between the two is missed.
  const off = feed.subscribe(id, (e) => {
    if (!offer(events, e)) off()
  })
  try {
    yield RETRY
    const snap = await feed.get(id)
    if (!snap) return
    yield sseJsonFrame('state', jobJson(snap))
    if (isFinal(snap.state)) return
    // Events buffered now raced the snapshot: skip the state events it already shows.
    let raced = events.length
    for (;;) {
      const r = await select([recvFrom(events)], { timeoutMs: heartbeatMs, signal: stop })
      if (r.index === -1) {
        yield HEARTBEAT
        continue
      }
      if (!r.ok) return // overflowed: the client reconnects for a fresh snapshot
      const e = r.value
      if (raced > 0) {
        raced--
        if (stale(e, snap)) continue
      }
      if (e.type === 'shutdown') return
      if (e.type === 'progress') {
        yield sseFrame('progress', e)
        continue
      }
      yield sseJsonFrame('state', jobJson(e.job))
      if (isFinal(e.job.state)) return
    }
  } finally {
    off()
    events.close()
  }
}

/** Builds the SSE response for job `id` (which the caller has checked exists). */
export function jobEventStream(feed: JobFeed, id: string, options: StreamOptions): Response {
  const stop = new AbortController()
  const it = frames(feed, id, options.heartbeatMs, stop.signal)
  // Ends the loop wherever it is: a pending select rejects; a generator parked at a yield (the
  // client is not pulling) runs its `finally` through return(), so the subscription goes at once.
  const end = (): void => {
    options.signal?.removeEventListener('abort', end)
    stop.abort()
    void it.return(undefined).catch(() => {})
  }
  if (options.signal?.aborted) end()
  else options.signal?.addEventListener('abort', end, { once: true })
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let step: IteratorResult<Uint8Array, void>
      try {
        step = await it.next()
      } catch {
        step = { done: true, value: undefined } // aborted (or the store failed): end the stream quietly
      }
      try {
        if (step.done) {
          end()
          controller.close()
        } else controller.enqueue(step.value)
      } catch { /* the client cancelled meanwhile */ }
    },
    cancel: end,
  })
  return new Response(stream, { headers: { ...options.headers, ...SSE_HEADERS } })
}
