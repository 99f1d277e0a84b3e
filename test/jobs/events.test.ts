import { describe, expect, test } from 'bun:test'
import { JobEvents } from '../../src/jobs/events.ts'

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
