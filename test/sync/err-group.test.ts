import { describe, expect, test } from 'bun:test'
import { ErrGroup, sleep } from '../../src/sync/index.ts'
import { flush, rng } from './rand.ts'

/** A task that waits for its signal (like a cancellable fetch) and records how it ended. */
function cancellable(log: string[], name: string, ms = 10_000) {
  return async (signal: AbortSignal) => {
    try {
      await sleep(ms, signal)
      log.push(`${name}:done`)
    } catch (err) {
      log.push(`${name}:aborted`)
      throw err
    }
  }
}

describe('ErrGroup', () => {
  test('wait resolves when every function succeeded', async () => {
    const g = new ErrGroup()
    const out: number[] = []
    for (let i = 0; i < 5; i++) g.go(async () => void out.push(i))
    await g.wait()
    expect(out.sort()).toEqual([0, 1, 2, 3, 4])
    expect(g.signal.aborted).toBe(false)
  })

  test('the first error aborts the others and wait rejects with it after they settle', async () => {
    const g = new ErrGroup()
    const log: string[] = []
    const boom = new Error('boom')
    g.go(cancellable(log, 'a'))
    g.go(cancellable(log, 'b'))
    g.go(async () => {
      await sleep(5)
      throw boom
    })
    g.go(async () => {
      await sleep(20)
      throw new Error('second')
    })
    await expect(g.wait()).rejects.toBe(boom)
    expect(g.signal.aborted).toBe(true)
    expect(g.signal.reason).toBe(boom)
    // Every started function settled before wait() answered.
    expect(log.sort()).toEqual(['a:aborted', 'b:aborted'])
    expect(g.active).toBe(0)
  })

  test('wait does not answer before a slow function that ignores the signal settles', async () => {
    const g = new ErrGroup()
    let slowDone = false
    g.go(async () => {
      await sleep(30)
      slowDone = true
    })
    g.go(async () => {
      throw new Error('fast failure')
    })
    await expect(g.wait()).rejects.toThrow('fast failure')
    expect(slowDone).toBe(true)
  })

  test('a synchronous throw counts as the function failing', async () => {
    const g = new ErrGroup()
    g.go(() => {
      throw new Error('sync')
    })
    await expect(g.wait()).rejects.toThrow('sync')
  })

  test('limit bounds concurrency under random durations, and every function runs', async () => {
    const random = rng(7)
    for (const limit of [1, 3, 8]) {
      const g = new ErrGroup({ limit })
      let running = 0
      let peak = 0
      let ran = 0
      for (let i = 0; i < 60; i++) {
        const ms = Math.floor(random() * 3)
        g.go(async () => {
          running++
          peak = Math.max(peak, running)
          await (ms === 0 ? flush() : sleep(ms))
          running--
          ran++
        })
      }
      expect(g.active).toBe(limit)
      expect(g.queued).toBe(60 - limit)
      await g.wait()
      expect(peak).toBe(limit)
      expect(ran).toBe(60)
    }
  })

  test('after the first error queued functions are dropped without being called', async () => {
    const g = new ErrGroup({ limit: 2 })
    let called = 0
    g.go(async () => {
      throw new Error('first')
    })
    g.go(async (signal) => sleep(10_000, signal))
    for (let i = 0; i < 10; i++) g.go(async () => void called++)
    await expect(g.wait()).rejects.toThrow('first')
    expect(called).toBe(0)
    expect(g.queued).toBe(0)
    // A later go() on the aborted group is not run either.
    g.go(async () => void called++)
    await expect(g.wait()).rejects.toThrow('first')
    expect(called).toBe(0)
  })

  test('the parent signal aborts the group; dropped work makes wait reject with its reason', async () => {
    const parent = new AbortController()
    const g = new ErrGroup({ limit: 1, signal: parent.signal })
    let seen: unknown
    g.go(async (signal) => {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()))
      seen = signal.reason // stops quietly, without an error
    })
    let called = false
    g.go(async () => void (called = true))
    parent.abort('client went away')
    await expect(g.wait()).rejects.toBe('client went away')
    expect(seen).toBe('client went away')
    expect(called).toBe(false)
  })

  test('a parent abort after the group finished does not fail the finished work', async () => {
    const parent = new AbortController()
    const g = new ErrGroup({ signal: parent.signal })
    g.go(async () => {})
    await g.wait()
    parent.abort()
    await g.wait() // nothing was dropped: the finished work stands
  })

  test('a parent aborted after construction but before go() runs nothing', async () => {
    const parent = new AbortController()
    const g = new ErrGroup({ signal: parent.signal })
    parent.abort('late')
    expect(g.signal.aborted).toBe(true)
    let ran = false
    g.go(async () => void (ran = true))
    await expect(g.wait()).rejects.toBe('late')
    expect(ran).toBe(false)
  })

  test('a parent aborted while the group is idle between batches stops the next go()', async () => {
    const parent = new AbortController()
    const g = new ErrGroup({ signal: parent.signal })
    g.go(async () => {})
    await g.wait()
    parent.abort('between')
    let ran = false
    g.go(async () => void (ran = true))
    await expect(g.wait()).rejects.toBe('between')
    expect(ran).toBe(false)
  })

  test('an already-aborted parent runs nothing', async () => {
    const g = new ErrGroup({ signal: AbortSignal.abort('early') })
    let ran = false
    g.go(async () => void (ran = true))
    await expect(g.wait()).rejects.toBe('early')
    expect(ran).toBe(false)
  })

  test('rejects an invalid limit', () => {
    expect(() => new ErrGroup({ limit: 0 })).toThrow(RangeError)
    expect(() => new ErrGroup({ limit: 1.5 })).toThrow(RangeError)
  })

  test('random failure points: exactly the first error is reported and nothing runs after it', async () => {
    const random = rng(99)
    for (let round = 0; round < 200; round++) {
      const limit = 1 + Math.floor(random() * 4)
      const g = new ErrGroup({ limit })
      const n = 5 + Math.floor(random() * 15)
      const failAt = new Set<number>()
      for (let i = 0; i < n; i++) if (random() < 0.15) failAt.add(i)
      const errors: Error[] = []
      let startedAfterAbort = 0
      for (let i = 0; i < n; i++) {
        const delay = Math.floor(random() * 3)
        g.go(async (signal) => {
          if (signal.aborted) startedAfterAbort++
          for (let k = 0; k < delay; k++) await flush()
          if (failAt.has(i)) {
            const e = new Error(`fail ${i}`)
            errors.push(e)
            throw e
          }
        })
      }
      const outcome = await g.wait().then(() => 'ok', (e: unknown) => e)
      expect(outcome).toBe(errors.length === 0 ? 'ok' : (errors[0] as Error))
      expect(startedAfterAbort).toBe(0)
      expect(g.active).toBe(0)
    }
  })
})
