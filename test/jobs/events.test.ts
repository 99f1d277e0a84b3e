import { describe, expect, test } from 'bun:test'
import { JobEvents } from '../../src/jobs/events.ts'
import { jobEventStream } from '../../src/jobs/sse.ts'
import { newJob, type Job } from '../../src/jobs/model.ts'
import type { JobEvent } from '../../src/jobs/events.ts'

describe('JobEvents', () => {
  test('delivers only to listeners of the job, and unsubscribing cleans up', () => {
    const ev = new JobEvents()
    const got: string[] = []
    const offA = ev.on('a', (e) => got.push(`a:${e.type}`))
    const offB = ev.on('b', (e) => got.push(`b:${e.type}`))
    ev.emit('a', { type: 'progress', id: 'a', progress: 1, message: '' })
    expect(got).toEqual(['a:progress'])
    offA()
    offA()
    offB()
    expect(ev.watched).toBe(0)
  })

  test('a throwing listener does not stop the others', () => {
    const ev = new JobEvents()
    let n = 0
    ev.on('a', () => { throw new Error('x') })
    ev.on('a', () => { n++ })
    ev.emit('a', { type: 'shutdown' })
    expect(n).toBe(1)
  })
})

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
