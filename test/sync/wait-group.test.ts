import { describe, expect, test } from 'bun:test'
import { WaitGroup } from '../../src/sync/index.ts'
import { flush, rng } from './rand.ts'

describe('WaitGroup', () => {
  test('wait resolves at once when the counter is zero', async () => {
    const wg = new WaitGroup()
    await wg.wait()
    expect(wg.count).toBe(0)
  })

  test('wait resolves only when every add is matched by a done', async () => {
    const wg = new WaitGroup()
    wg.add(3)
    let woke = false
    const p = wg.wait().then(() => (woke = true))
    wg.done()
    wg.done()
    await flush()
    expect(woke).toBe(false)
    expect(wg.count).toBe(1)
    wg.done()
    await p
    expect(woke).toBe(true)
  })

  test('wakes every waiter, and can be reused after reaching zero', async () => {
    const wg = new WaitGroup()
    wg.add()
    const ps = [wg.wait(), wg.wait(), wg.wait()]
    wg.done()
    await Promise.all(ps)
    wg.add(2)
    let woke = false
    const p = wg.wait().then(() => (woke = true))
    await flush()
    expect(woke).toBe(false)
    wg.add(-2)
    await p
  })

  test('a negative counter throws and leaves the count unchanged', () => {
    const wg = new WaitGroup()
    expect(() => wg.done()).toThrow(/negative/)
    wg.add(2)
    expect(() => wg.add(-3)).toThrow(/negative/)
    expect(wg.count).toBe(2)
    expect(() => wg.add(0.5)).toThrow(RangeError)
  })

  test('an aborted wait rejects with the reason, leaves, and does not disturb other waiters', async () => {
    const wg = new WaitGroup()
    wg.add()
    const ctrl = new AbortController()
    const aborted = wg.wait(ctrl.signal)
    const other = wg.wait()
    ctrl.abort('stop')
    await expect(aborted).rejects.toBe('stop')
    expect(wg.count).toBe(1) // giving up on waiting cancels nothing
    wg.done()
    await other
    await expect(wg.wait(AbortSignal.abort())).resolves.toBeUndefined() // zero wins over an aborted signal
  })

  test('random add/done/wait interleavings never wake a waiter early or lose one', async () => {
    const random = rng(42)
    const wg = new WaitGroup()
    let count = 0
    const waiters: Array<{ woke: boolean; countAtWake: number }> = []
    for (let op = 0; op < 5_000; op++) {
      const r = random()
      if (r < 0.4) {
        const n = 1 + Math.floor(random() * 3)
        wg.add(n)
        count += n
      } else if (r < 0.8) {
        if (count > 0) {
          wg.done()
          count--
        }
      } else {
        const w = { woke: false, countAtWake: -1 }
        waiters.push(w)
        void wg.wait().then(() => {
          w.woke = true
          w.countAtWake = count
        })
      }
      // Async work finishing: callbacks run between synchronous steps.
      if (op % 5 === 0) await flush()
    }
    while (count > 0) {
      wg.done()
      count--
    }
    await flush()
    expect(waiters.every((w) => w.woke)).toBe(true)
    expect(wg.count).toBe(0)
  })
})
