/**
 * `GET /jobs/:id/events` as a Server-Sent Events stream: the current state first, then every
 * state and progress change, ending after the job's final state. A job already finished gets
 * one `state` event and the end. Comment lines (`: hb`) every `heartbeatMs` keep proxies and
 * idle timeouts from closing a quiet stream. A client that goes away (the request's signal, or
 * the stream's cancel) unsubscribes and stops the heartbeat; so does server shutdown.
 *
 * @example
 * ```ts
 * return jobEventStream(runner, id, { heartbeatMs: 15_000, signal: request.signal })
 * // event: state\ndata: {"id":"…","state":"running",…}\n\n
 * ```
 */
import type { JobEvent } from './events.ts'
import { isFinal, viewOf, type Job } from './model.ts'

/** What the stream reads: a job by id, and its events. */
export interface JobFeed {
  get(id: string): Promise<Job | undefined>
  subscribe(id: string, listener: (e: JobEvent) => void): () => void
}

/** Options of {@link jobEventStream}. */
export interface StreamOptions {
  heartbeatMs: number
  signal?: AbortSignal
  /** Extra response headers (e.g. the request id). */
  headers?: Record<string, string>
}

const encoder = new TextEncoder()

function frame(event: string, data: unknown): Uint8Array {
  return encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
}

/** Builds the SSE response for job `id` (which the caller has checked exists). */
export function jobEventStream(feed: JobFeed, id: string, options: StreamOptions): Response {
  let stop: () => void = () => {}
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      let closed = false
      let snapshotSent = false
      let lastState = ''
      const pending: JobEvent[] = []
      const send = (bytes: Uint8Array): void => {
        if (closed) return
        try { controller.enqueue(bytes) } catch { stop() }
      }
      const onEvent = (e: JobEvent): void => {
        if (!snapshotSent) { pending.push(e); return }
        if (e.type === 'shutdown') return stop()
        if (e.type === 'progress') return send(frame('progress', e))
        lastState = e.job.state
        send(frame('state', viewOf(e.job)))
        if (isFinal(e.job.state)) stop()
      }
      const heartbeat = setInterval(() => send(encoder.encode(': hb\n\n')), options.heartbeatMs)
      const off = feed.subscribe(id, onEvent)
      const onAbort = (): void => stop()
      stop = () => {
        if (closed) return
        closed = true
        off()
        clearInterval(heartbeat)
        options.signal?.removeEventListener('abort', onAbort)
        try { controller.close() } catch { /* already closed by the client */ }
      }
      if (options.signal?.aborted) return stop()
      options.signal?.addEventListener('abort', onAbort, { once: true })
      send(encoder.encode('retry: 1000\n\n'))
      const job = await feed.get(id)
      snapshotSent = true
      if (!job) return stop()
      lastState = job.state
      send(frame('state', viewOf(job)))
      if (isFinal(job.state)) return stop()
      // Events that raced the snapshot: drop state events the snapshot already shows.
      for (const e of pending.splice(0)) {
        if (e.type === 'state' && e.job.state === lastState && e.job.updatedAt <= job.updatedAt) continue
        onEvent(e)
        if (closed) return
      }
    },
    cancel() {
      stop()
    },
  })
  return new Response(stream, {
    headers: {
      ...options.headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    },
  })
}
