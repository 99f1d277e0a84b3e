import { describe, expect, test } from 'bun:test'
import { Semaphore } from '../../src/sync/index.ts'
import { flush, rng } from './rand.ts'

describe('Semaphore', () => {
  test('admits up to capacity at once and queues the rest', async () => {
    const sem = new Semaphore(2)
    await sem.acquire()
    await sem.acquire()
    expect(sem.available).toBe(0)
    let third = false
    const p = sem.acquire().then(() => (third = true))
    await flush()
    expect(third).toBe(false)
    expect(sem.waiting).toBe(1)
    sem.release()
    await p
    expect(third).toBe(true)
    expect(sem.waiting).toBe(0)
    expect(sem.available).toBe(0)
  })

  test('serves waiters in FIFO order', async () => {
    const sem = new Semaphore(1)
    await sem.acquire()
    const order: number[] = []
    const ps = [0, 1, 2, 3, 4].map((i) => sem.acquire().then(() => order.push(i)))
    for (let i = 0; i < 5; i++) {
      sem.release()
      await flush()
    }
    await Promise.all(ps)
    expect(order).toEqual([0, 1, 2, 3, 4])
  })

  test('a heavy waiter at the head blocks lighter ones behind it (no starvation)', async () => {
    const sem = new Semaphore(4)
    await sem.acquire(undefined, 3)
    const order: string[] = []
    const heavy = sem.acquire(undefined, 4).then(() => order.push('heavy'))
    const light = sem.acquire(undefined, 1).then(() => order.push('light'))
    await flush()
    expect(order).toEqual([]) // 1 unit is free, but light must not pass heavy
    expect(sem.tryAcquire()).toBe(false) // nor may tryAcquire barge
    sem.release(3)
    await heavy
    expect(order).toEqual(['heavy'])
    sem.release(4)
    await light
    expect(order).toEqual(['heavy', 'light'])
  })

  test('an aborted waiter rejects with the reason and leaves the queue', async () => {
    const sem = new Semaphore(1)
    await sem.acquire()
    const ctrl = new AbortController()
    const p = sem.acquire(ctrl.signal)
    expect(sem.waiting).toBe(1)
    const reason = new Error('gone')
    ctrl.abort(reason)
    await expect(p).rejects.toBe(reason)
    expect(sem.waiting).toBe(0)
    sem.release()
    expect(sem.available).toBe(1) // the aborted waiter did not take the unit
  })

  test('aborting the blocking head wakes the waiters it was holding back', async () => {
    const sem = new Semaphore(3)
    await sem.acquire(undefined, 2)
    const ctrl = new AbortController()
    const heavy = sem.acquire(ctrl.signal, 3)
    let got = false
    const light = sem.acquire(undefined, 1).then(() => (got = true))
    await flush()
    expect(got).toBe(false)
    ctrl.abort()
    await expect(heavy).rejects.toThrow()
    await light
    expect(got).toBe(true)
  })

  test('an already-aborted signal rejects even when units are free', async () => {
    const sem = new Semaphore(1)
    await expect(sem.acquire(AbortSignal.abort('nope'))).rejects.toBe('nope')
    expect(sem.available).toBe(1)
  })

  test('a grant and an abort in the same tick: the grant wins and the unit is held', async () => {
    const sem = new Semaphore(1)
    await sem.acquire()
    const ctrl = new AbortController()
    const p = sem.acquire(ctrl.signal)
    sem.release()
    ctrl.abort()
    await p // resolved, not rejected
    expect(sem.available).toBe(0)
  })

  test('releasing more than held throws and changes nothing', () => {
    const sem = new Semaphore(2)
    expect(() => sem.release()).toThrow(/released more than held/)
    expect(sem.tryAcquire()).toBe(true)
    expect(() => sem.release(2)).toThrow()
    expect(sem.available).toBe(1)
  })

  test('rejects invalid capacities and weights', async () => {
    expect(() => new Semaphore(0)).toThrow(RangeError)
    expect(() => new Semaphore(1.5)).toThrow(RangeError)
    const sem = new Semaphore(2)
    await expect(sem.acquire(undefined, 3)).rejects.toBeInstanceOf(RangeError)
    await expect(sem.acquire(undefined, 0)).rejects.toBeInstanceOf(RangeError)
    expect(() => sem.tryAcquire(-1)).toThrow(RangeError)
  })

  test('use() releases after success and after failure', async () => {
    const sem = new Semaphore(1)
    expect(await sem.use(async () => 7)).toBe(7)
    await expect(sem.use(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(sem.available).toBe(1)
  })

  test('use() never runs fn when aborted while waiting', async () => {
    const sem = new Semaphore(1)
    await sem.acquire()
    const ctrl = new AbortController()
    let ran = false
    const p = sem.use(async () => (ran = true), ctrl.signal)
    ctrl.abort()
    await expect(p).rejects.toThrow()
    expect(ran).toBe(false)
    expect(sem.available).toBe(0)
  })

  for (const seed of [1, 2, 3]) {
    test(`10k random acquire/release/abort/tryAcquire ops keep every invariant (seed ${seed})`, async () => {
      const random = rng(seed)
      const capacity = 1 + Math.floor(random() * 6)
      const sem = new Semaphore(capacity)
      type W = { id: number; weight: number; ctrl?: AbortController; state: 'pending' | 'held' | 'aborted' | 'released' }
      const all: W[] = []
      const held: W[] = []
      const grantOrder: number[] = []
      let nextId = 0
      let heldWeight = 0
      for (let op = 0; op < 10_000; op++) {
        const r = random()
        if (r < 0.4) {
          const w: W = { id: nextId++, weight: 1 + Math.floor(random() * capacity), state: 'pending' }
          if (random() < 0.5) w.ctrl = new AbortController()
          all.push(w)
          sem.acquire(w.ctrl?.signal, w.weight).then(
            () => {
              expect(w.state).toBe('pending')
              w.state = 'held'
              held.push(w)
              heldWeight += w.weight
              grantOrder.push(w.id)
            },
            () => {
              expect(w.state).toBe('pending')
              w.state = 'aborted'
            },
          )
        } else if (r < 0.75) {
          if (held.length > 0) {
            const w = held.splice(Math.floor(random() * held.length), 1)[0] as W
            w.state = 'released'
            heldWeight -= w.weight
            sem.release(w.weight)
          }
        } else if (r < 0.9) {
          const pend = all.filter((w) => w.state === 'pending' && w.ctrl && !w.ctrl.signal.aborted)
          if (pend.length > 0) (pend[Math.floor(random() * pend.length)] as W).ctrl?.abort(new Error('abort'))
        } else {
          const weight = 1 + Math.floor(random() * capacity)
          if (sem.tryAcquire(weight)) {
            const w: W = { id: -1, weight, state: 'held' }
            held.push(w)
            heldWeight += weight
          }
        }
        if (op % 7 === 0 || op > 9_990) {
          await flush()
          const pending = all.filter((w) => w.state === 'pending')
          // Never more than capacity held; the semaphore's count matches what callers hold.
          expect(heldWeight).toBeLessThanOrEqual(capacity)
          expect(capacity - sem.available).toBe(heldWeight)
          // Aborted waiters are gone from the queue.
          expect(sem.waiting).toBe(pending.length)
          // No lost wakeup: the first waiter really cannot be served.
          if (pending.length > 0) expect((pending[0] as W).weight).toBeGreaterThan(sem.available)
        }
      }
      // Drain: releasing everything serves every remaining waiter.
      while (held.length > 0 || all.some((w) => w.state === 'pending')) {
        const w = held.pop()
        if (w) {
          heldWeight -= w.weight
          sem.release(w.weight)
        }
        await flush()
      }
      expect(sem.available).toBe(capacity)
      // FIFO: grants happen in arrival order.
      for (let i = 1; i < grantOrder.length; i++) expect(grantOrder[i] as number).toBeGreaterThan(grantOrder[i - 1] as number)
      expect(grantOrder.length + all.filter((w) => w.state === 'aborted').length).toBe(all.length)
    })
  }
})
