import { describe, expect, test } from 'bun:test'
import { Channel, ChannelClosedError, WaitGroup, sleep } from '../../src/sync/index.ts'
import { flush, rng } from './rand.ts'

describe('Channel', () => {
  test('a buffered channel queues up to capacity, then send waits for room', async () => {
    const ch = new Channel<number>(2)
    await ch.send(1)
    await ch.send(2)
    expect(ch.length).toBe(2)
    let sent = false
    const p = ch.send(3).then(() => (sent = true))
    await flush()
    expect(sent).toBe(false)
    expect(await ch.receive()).toEqual({ value: 1, ok: true })
    await p
    expect(sent).toBe(true)
    expect(await ch.receive()).toEqual({ value: 2, ok: true })
    expect(await ch.receive()).toEqual({ value: 3, ok: true })
    expect(ch.length).toBe(0)
  })

  test('an unbuffered send completes only when a receiver takes the value (rendezvous)', async () => {
    const ch = new Channel<string>()
    let sent = false
    const p = ch.send('hi').then(() => (sent = true))
    await flush()
    expect(sent).toBe(false)
    expect(ch.length).toBe(0)
    expect(await ch.receive()).toEqual({ value: 'hi', ok: true })
    await p
    expect(sent).toBe(true)
    // And the other way round: a waiting receiver gets the value directly.
    const r = ch.receive()
    expect(ch.trySend('direct')).toBe(true)
    expect(await r).toEqual({ value: 'direct', ok: true })
    expect(ch.trySend('nobody')).toBe(false)
  })

  test('trySend and tryReceive never wait', () => {
    const ch = new Channel<number>(1)
    expect(ch.tryReceive()).toBeUndefined()
    expect(ch.trySend(1)).toBe(true)
    expect(ch.trySend(2)).toBe(false)
    expect(ch.tryReceive()).toEqual({ value: 1, ok: true })
    expect(ch.tryReceive()).toBeUndefined()
  })

  test('close: pending receivers get ok:false and pending senders reject', async () => {
    const full = new Channel<number>(1)
    full.trySend(0)
    const blockedSend = full.send(1)
    const empty = new Channel<number>()
    const r1 = empty.receive()
    const r2 = empty.receive()
    expect(empty.waitingReceivers).toBe(2)
    expect(full.waitingSenders).toBe(1)
    const outcomes: unknown[] = []
    r1.then((r) => outcomes.push(r))
    r2.then((r) => outcomes.push(r))
    blockedSend.catch((e: unknown) => outcomes.push(e))
    empty.close()
    full.close()
    await flush() // everything settles at close, without any further operation
    expect(outcomes.slice(0, 2)).toEqual([
      { value: undefined, ok: false },
      { value: undefined, ok: false },
    ])
    expect(outcomes[2]).toBeInstanceOf(ChannelClosedError)
    expect(empty.waitingReceivers).toBe(0)
    expect(full.waitingSenders).toBe(0)
  })

  test('close: buffered values drain first, then every receive is ok:false; sends reject', async () => {
    const ch = new Channel<number>(3)
    await ch.send(1)
    await ch.send(2)
    ch.close()
    expect(ch.closed).toBe(true)
    await expect(ch.send(3)).rejects.toBeInstanceOf(ChannelClosedError)
    expect(() => ch.trySend(3)).toThrow(ChannelClosedError)
    expect(await ch.receive()).toEqual({ value: 1, ok: true })
    expect(ch.tryReceive()).toEqual({ value: 2, ok: true })
    expect(await ch.receive()).toEqual({ value: undefined, ok: false })
    expect(await ch.receive()).toEqual({ value: undefined, ok: false })
    expect(ch.tryReceive()).toBeUndefined()
    ch.close() // idempotent
  })

  test('for await drains the channel and ends at close', async () => {
    const ch = new Channel<number>(1)
    const got: number[] = []
    const consumer = (async () => {
      for await (const v of ch) got.push(v)
    })()
    for (let i = 0; i < 10; i++) await ch.send(i)
    ch.close()
    await consumer
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  test('breaking out of for await leaves the remaining values in the channel', async () => {
    const ch = new Channel<number>(5)
    for (let i = 0; i < 5; i++) ch.trySend(i)
    for await (const v of ch) if (v === 1) break
    expect(ch.length).toBe(3)
  })

  test('an aborted receive leaves the queue and does not swallow the next value', async () => {
    const ch = new Channel<number>()
    const ctrl = new AbortController()
    const aborted = ch.receive(ctrl.signal)
    expect(ch.waitingReceivers).toBe(1)
    ctrl.abort(new Error('bye'))
    await expect(aborted).rejects.toThrow('bye')
    expect(ch.waitingReceivers).toBe(0)
    expect(ch.trySend(1)).toBe(false) // nobody is waiting any more
    const r = ch.receive()
    expect(ch.trySend(2)).toBe(true)
    expect(await r).toEqual({ value: 2, ok: true })
  })

  test('an aborted send leaves the queue: its value is never received', async () => {
    const ch = new Channel<number>()
    const ctrl = new AbortController()
    const p = ch.send(1, ctrl.signal)
    const q = ch.send(2)
    ctrl.abort()
    await expect(p).rejects.toThrow()
    expect(await ch.receive()).toEqual({ value: 2, ok: true })
    await q
    await expect(ch.send(3, AbortSignal.abort())).rejects.toThrow()
    expect(ch.tryReceive()).toBeUndefined()
  })

  test('rejects a negative or fractional capacity', () => {
    expect(() => new Channel(-1)).toThrow(RangeError)
    expect(() => new Channel(1.5)).toThrow(RangeError)
  })

  for (const capacity of [0, 1, 4, 64]) {
    test(`many producers and consumers: every value once, per-producer order kept (capacity ${capacity})`, async () => {
      const random = rng(capacity + 1)
      const ch = new Channel<[number, number]>(capacity)
      const producers = 8
      const perProducer = 400
      const consumers = 5
      const received: Array<[number, number]> = []
      const wg = new WaitGroup()
      wg.add(producers)
      for (let p = 0; p < producers; p++) {
        void (async () => {
          for (let i = 0; i < perProducer; i++) {
            if (random() < 0.1) await flush()
            await ch.send([p, i])
          }
          wg.done()
        })()
      }
      // Each consumer checks that it sees every producer's values in increasing order (the
      // channel is FIFO); across consumers only "exactly once" is defined, as in Go.
      const consumerDone = Array.from({ length: consumers }, async () => {
        const last = new Array<number>(producers).fill(-1)
        const take = (v: [number, number]) => {
          const [p, i] = v
          expect(i).toBeGreaterThan(last[p] as number)
          last[p] = i
          received.push(v)
        }
        for (;;) {
          // Random aborted receives must never lose a value.
          if (random() < 0.2) {
            const ctrl = new AbortController()
            const r = ch.receive(ctrl.signal)
            ctrl.abort()
            const res = await r.catch(() => undefined)
            if (res === undefined) continue
            if (!res.ok) return
            take(res.value)
            continue
          }
          const r = await ch.receive()
          if (!r.ok) return
          take(r.value)
          if (random() < 0.1) await flush()
        }
      })
      await wg.wait()
      ch.close()
      await Promise.all(consumerDone)
      expect(received.length).toBe(producers * perProducer)
      expect(new Set(received.map(([p, i]) => p * perProducer + i)).size).toBe(producers * perProducer)
    })
  }

  test('one consumer sees each producer\'s values in send order', async () => {
    const ch = new Channel<[number, number]>(3)
    const wg = new WaitGroup()
    wg.add(4)
    for (let p = 0; p < 4; p++) {
      void (async () => {
        for (let i = 0; i < 200; i++) await ch.send([p, i])
        wg.done()
      })()
    }
    void wg.wait().then(() => ch.close())
    const next = [0, 0, 0, 0]
    let n = 0
    for await (const [p, i] of ch) {
      expect(i).toBe(next[p] as number)
      next[p] = i + 1
      n++
    }
    expect(n).toBe(800)
  })

  test('close while producers and consumers are blocked: no value is lost or duplicated', async () => {
    const random = rng(5)
    for (let round = 0; round < 50; round++) {
      const ch = new Channel<number>(Math.floor(random() * 3))
      let nextValue = 0
      const accepted = new Set<number>()
      const rejected = new Set<number>()
      const received: number[] = []
      const sends: Promise<void>[] = []
      for (let i = 0; i < 20; i++) {
        const v = nextValue++
        sends.push(ch.send(v).then(() => void accepted.add(v), () => void rejected.add(v)))
      }
      const recvs = Array.from({ length: 10 }, async () => {
        for (;;) {
          const r = await ch.receive()
          if (!r.ok) return
          received.push(r.value)
        }
      })
      for (let k = Math.floor(random() * 4); k > 0; k--) await flush()
      ch.close()
      await Promise.all(sends)
      await Promise.all(recvs)
      expect(new Set(received).size).toBe(received.length)
      expect(received.sort((a, b) => a - b)).toEqual([...accepted].sort((a, b) => a - b))
      expect(accepted.size + rejected.size).toBe(20)
    }
  })

  test('a slow consumer applies backpressure to a fast producer', async () => {
    const ch = new Channel<number>(2)
    let produced = 0
    const producer = (async () => {
      for (let i = 0; i < 10; i++) {
        await ch.send(i)
        produced++
      }
      ch.close()
    })()
    await sleep(5)
    expect(produced).toBeLessThanOrEqual(2)
    let n = 0
    for await (const _ of ch) n++
    await producer
    expect(n).toBe(10)
  })
})
