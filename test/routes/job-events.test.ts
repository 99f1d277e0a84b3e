/**
 * `GET /jobs/:id/events` as a stream (src/routes/job-events.ts): order, the snapshot race, and the
 * backpressure policy, including a raw TCP client that stops reading.
 */
import { describe, expect, test } from 'bun:test'
import { JobEvents } from '../../src/jobs/events.ts'
import { connect } from 'node:net'
import { jobEventStream, SSE_BUFFER, SSE_PROGRESS_ROOM } from '../../src/routes/job-events.ts'
import { newJob, type Job } from '../../src/jobs/model.ts'
import type { JobEvent } from '../../src/jobs/events.ts'

function feedOf(job: Job, events: JobEvents) {
  return { get: async (id: string) => (id === job.id ? job : undefined), subscribe: (id: string, fn: (e: JobEvent) => void) => events.on(id, fn) }
}

describe('jobEventStream', () => {
  test('a finished job gets one state event and the end', async () => {
    const job = { ...newJob({ task: 'echo', input: '1' }, Date.now()), state: 'succeeded' as const }
    const events = new JobEvents()
    const res = jobEventStream(feedOf(job, events), job.id, { heartbeatMs: 10_000 })
    const text = await res.text()
    expect(res.headers.get('content-type')).toStartWith('text/event-stream')
    expect(text.match(/^event: /gm)?.length).toBe(1)
    expect(text).toContain('"state":"succeeded"')
    expect(events.watched).toBe(0)
  })

  test('streams progress and state, heartbeats while quiet, and ends with the final state', async () => {
    const job = { ...newJob({ task: 'sleep', input: '{}' }, Date.now()), state: 'running' as const }
    const events = new JobEvents()
    const res = jobEventStream(feedOf(job, events), job.id, { heartbeatMs: 5 })
    const reader = res.body!.getReader()
    const chunks: string[] = []
    const read = (async () => {
      const dec = new TextDecoder()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return
        chunks.push(dec.decode(value))
      }
    })()
    await Bun.sleep(30)
    events.emit(job.id, { type: 'progress', id: job.id, progress: 50, message: 'half' })
    events.emit(job.id, { type: 'state', job: { ...job, state: 'succeeded' } })
    await read
    const text = chunks.join('')
    expect(text).toContain(': hb')
    expect(text.indexOf('event: progress')).toBeGreaterThan(text.indexOf('"state":"running"'))
    expect(text.lastIndexOf('"state":"succeeded"')).toBeGreaterThan(text.indexOf('event: progress'))
    expect(events.watched).toBe(0)
  })

  test('a client that goes away unsubscribes and stops the heartbeat', async () => {
    const job = { ...newJob({ task: 'sleep', input: '{}' }, Date.now()), state: 'queued' as const }
    const events = new JobEvents()
    const ac = new AbortController()
    const res = jobEventStream(feedOf(job, events), job.id, { heartbeatMs: 5, signal: ac.signal })
    const reader = res.body!.getReader()
    await reader.read()
    expect(events.watched).toBe(1)
    ac.abort()
    await Bun.sleep(10)
    expect(events.watched).toBe(0)
    const other = jobEventStream(feedOf(job, events), job.id, { heartbeatMs: 5 })
    const r2 = other.body!.getReader()
    await r2.read()
    await r2.cancel()
    expect(events.watched).toBe(0)
  })

  test('server shutdown ends the stream', async () => {
    const job = { ...newJob({ task: 'sleep', input: '{}' }, Date.now()), state: 'running' as const }
    const events = new JobEvents()
    const res = jobEventStream(feedOf(job, events), job.id, { heartbeatMs: 1000 })
    const text = res.text()
    await Bun.sleep(5)
    events.shutdownAll()
    expect(await text).toContain('"state":"running"')
    expect(events.watched).toBe(0)
  })
})

/** Reads the rest of an SSE body into its `event:` frames. */
async function framesOf(reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> }): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
  const dec = new TextDecoder()
  let text = ''
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += dec.decode(r.value, { stream: true })
  return [...text.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => ({ type: m[1]!, data: JSON.parse(m[2]!) as Record<string, unknown> }))
}

describe('jobEventStream snapshot', () => {
  test('state events that raced the snapshot and that it already shows are not sent again', async () => {
    const t0 = Date.now()
    const snap = { ...newJob({ task: 'sleep', input: '{}' }, t0), state: 'running' as const, attempts: 2, updatedAt: t0 + 10 }
    const events = new JobEvents()
    const feed = {
      // While the snapshot is read: an older attempt's events, and the snapshot's own event.
      get: async () => {
        events.emit(snap.id, { type: 'state', job: { ...snap, attempts: 1, updatedAt: t0 + 1 } })
        events.emit(snap.id, { type: 'state', job: { ...snap, state: 'queued', attempts: 1, updatedAt: t0 + 5 } })
        events.emit(snap.id, { type: 'state', job: snap })
        return snap
      },
      subscribe: (id: string, fn: (e: JobEvent) => void) => events.on(id, fn),
    }
    const res = jobEventStream(feed, snap.id, { heartbeatMs: 60_000 })
    const reader = res.body!.getReader()
    await reader.read()
    await Bun.sleep(5)
    events.emit(snap.id, { type: 'state', job: { ...snap, state: 'succeeded', updatedAt: t0 + 20 } })
    const got = await framesOf(reader)
    expect(got.map((f) => `${f.data.state}/${f.data.attempts}`)).toEqual(['running/2', 'succeeded/2'])
  })
})

describe('jobEventStream backpressure', () => {
  test('a client that is not reading gets coalesced progress but every state change, in order', async () => {
    const t0 = Date.now()
    const job = { ...newJob({ task: 'sleep', input: '{}' }, t0), state: 'running' as const }
    const events = new JobEvents()
    const res = jobEventStream(feedOf(job, events), job.id, { heartbeatMs: 60_000 })
    const reader = res.body!.getReader()
    await reader.read() // retry line; the snapshot is pulled next, then nothing until the client reads
    await Bun.sleep(5)
    const states = ['queued', 'running', 'queued', 'running', 'queued'] as const
    // 10 000 progress reports around 5 state changes and the end, emitted while nobody reads:
    // each emit returns at once (the runner never waits for a client).
    for (let i = 0; i < 10_000; i++) {
      events.emit(job.id, { type: 'progress', id: job.id, progress: i % 101, message: `p${i}` })
      if (i % 2000 === 1999) events.emit(job.id, { type: 'state', job: { ...job, state: states[(i - 1999) / 2000]!, updatedAt: t0 + i } })
    }
    events.emit(job.id, { type: 'state', job: { ...job, state: 'succeeded', progress: 100, updatedAt: t0 + 20_000 } })
    const got = await framesOf(reader)
    const progress = got.filter((f) => f.type === 'progress')
    expect(progress.length).toBeGreaterThan(0)
    expect(progress.length).toBeLessThanOrEqual(SSE_PROGRESS_ROOM)
    expect(got.filter((f) => f.type === 'state').map((f) => f.data.state)).toEqual(['running', ...states, 'succeeded'])
    expect(events.watched).toBe(0)
  })

  test('a client a whole buffer of state changes behind is cut off at once, without a final state', async () => {
    const t0 = Date.now()
    const job = { ...newJob({ task: 'sleep', input: '{}' }, t0), state: 'running' as const }
    const events = new JobEvents()
    const res = jobEventStream(feedOf(job, events), job.id, { heartbeatMs: 60_000 })
    const reader = res.body!.getReader()
    await reader.read()
    await Bun.sleep(5)
    for (let i = 1; i <= SSE_BUFFER; i++) events.emit(job.id, { type: 'state', job: { ...job, state: i % 2 ? 'queued' : 'running', updatedAt: t0 + i } })
    expect(events.watched).toBe(1) // a full buffer is still fine
    events.emit(job.id, { type: 'state', job: { ...job, state: 'queued', updatedAt: t0 + 1000 } })
    expect(events.watched).toBe(0) // the one that does not fit ends the subscription now, not when the client reads
    const got = await framesOf(reader)
    expect(got.length).toBe(1 + SSE_BUFFER) // the snapshot and what was buffered; the client reconnects for the rest
    expect(got.every((f) => f.type === 'state' && !isFinalState(f.data.state))).toBe(true)
  })

  test('over real HTTP, a client that stops reading stops the stream from buffering: it is cut off', async () => {
    const t0 = Date.now()
    const job = { ...newJob({ task: 'sleep', input: '{}' }, t0), state: 'running' as const }
    const events = new JobEvents()
    const server = Bun.serve({ port: 0, fetch: (req) => jobEventStream(feedOf(job, events), job.id, { heartbeatMs: 60_000, signal: req.signal }) })
    const sock = connect(server.port!, '127.0.0.1')
    try {
      let first = ''
      const gotHeaders = new Promise<void>((resolve) => sock.on('data', (b: Buffer) => {
        first += b.toString()
        if (first.includes('"state":"running"')) { sock.pause(); resolve() }
      }))
      sock.on('error', () => {})
      sock.write(`GET /jobs/${job.id}/events HTTP/1.1\r\nHost: x\r\n\r\n`)
      await gotHeaders
      // 100 KB per state event: the socket buffers fill after a few MB, Bun stops pulling, the
      // channel fills and the stream gives up on the client instead of queueing without bound.
      const big = 'x'.repeat(100_000)
      for (let i = 1; i <= 2_000 && events.watched > 0; i++) {
        events.emit(job.id, { type: 'state', job: { ...job, state: i % 2 ? 'queued' : 'running', updatedAt: t0 + i, error: { code: 'task_failed', message: big } } })
        if (i % 10 === 0) await Bun.sleep(1)
      }
      expect(events.watched).toBe(0)
    } finally {
      sock.destroy()
      await server.stop(true)
    }
  })
})

function isFinalState(s: unknown): boolean {
  return s === 'succeeded' || s === 'failed' || s === 'canceled'
}
