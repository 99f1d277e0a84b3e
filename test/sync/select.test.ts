import { describe, expect, test } from 'bun:test'
import { Channel, ChannelClosedError, recvFrom, select, sendTo, sleep } from '../../src/sync/index.ts'
import { flush, rng } from './rand.ts'

describe('select', () => {
  test('answers with the ready case and its typed value', async () => {
    const nums = new Channel<number>(1)
    const strs = new Channel<string>(1)
    strs.trySend('x')
    const r = await select([recvFrom(nums), recvFrom(strs)])
    expect(r).toEqual({ index: 1, ok: true, value: 'x' })
    if (r.index === 1 && r.ok) expect(r.value.toUpperCase()).toBe('X')
  })

  test('picks at random among ready cases, so no channel starves', async () => {
    const a = new Channel<number>(1000)
    const b = new Channel<number>(1000)
    const counts: [number, number] = [0, 0]
    for (let i = 0; i < 400; i++) {
      a.trySend(i)
      b.trySend(i)
      const r = await select([recvFrom(a), recvFrom(b)])
      if (r.index === 0 || r.index === 1) counts[r.index]++
      // Put the unchosen value back in step so both stay ready.
      ;(r.index === 0 ? b : a).tryReceive()
    }
    expect(counts[0]).toBeGreaterThan(100)
    expect(counts[1]).toBeGreaterThan(100)
  })

  test('waits for the first channel that becomes ready', async () => {
    const a = new Channel<number>()
    const b = new Channel<number>()
    const p = select([recvFrom(a), recvFrom(b)])
    await flush()
    expect(b.trySend(2)).toBe(true) // a parked select case is a receiver
    expect(await p).toEqual({ index: 1, ok: true, value: 2 })
    // The other case was unparked: nobody is receiving on a any more.
    expect(a.waitingReceivers).toBe(0)
    expect(a.trySend(1)).toBe(false)
  })

  test('exactly one case fires even when several channels become ready in the same tick', async () => {
    for (let round = 0; round < 100; round++) {
      const a = new Channel<number>()
      const b = new Channel<number>()
      const p = select([recvFrom(a), recvFrom(b)])
      const sentA = a.trySend(1)
      const sentB = b.trySend(2)
      expect(Number(sentA) + Number(sentB)).toBe(1)
      const r = await p
      expect(r.index).toBe(sentA ? 0 : 1)
    }
  })

  test('a send case completes when a receiver arrives', async () => {
    const out = new Channel<string>()
    const never = new Channel<number>()
    const p = select([recvFrom(never), sendTo(out, 'payload')])
    await flush()
    expect(await out.receive()).toEqual({ value: 'payload', ok: true })
    expect(await p).toEqual({ index: 1, ok: true, value: undefined })
  })

  test('a send case to a buffered channel with room fires at once', async () => {
    const out = new Channel<number>(1)
    const r = await select([sendTo(out, 5)], { default: true })
    expect(r.index).toBe(0)
    expect(out.tryReceive()).toEqual({ value: 5, ok: true })
  })

  test('timeout answers index -1 and leaves no case parked', async () => {
    const a = new Channel<number>()
    const r = await select([recvFrom(a), sendTo(a, 9)], { timeoutMs: 10 })
    expect(r).toEqual({ index: -1, reason: 'timeout', ok: false, value: undefined })
    expect(a.waitingReceivers + a.waitingSenders).toBe(0)
    expect(a.trySend(1)).toBe(false) // no parked receiver
    expect(a.tryReceive()).toBeUndefined() // no parked sender
  })

  test('default answers at once when nothing is ready', async () => {
    const a = new Channel<number>()
    expect(await select([recvFrom(a)], { default: true })).toEqual({ index: -1, reason: 'default', ok: false, value: undefined })
  })

  test('abort rejects with the reason, fires no case, and unparks everything', async () => {
    const a = new Channel<number>()
    const ctrl = new AbortController()
    const p = select([recvFrom(a), sendTo(a, 1)], { signal: ctrl.signal, timeoutMs: 10_000 })
    await flush()
    ctrl.abort(new Error('cancelled'))
    await expect(p).rejects.toThrow('cancelled')
    expect(a.waitingReceivers + a.waitingSenders).toBe(0)
    expect(a.trySend(1)).toBe(false)
    await expect(select([recvFrom(a)], { signal: AbortSignal.abort('early') })).rejects.toBe('early')
  })

  test('a closed channel is a ready receive with ok:false; a send case to it rejects', async () => {
    const a = new Channel<number>()
    const b = new Channel<number>()
    const p = select([recvFrom(a), recvFrom(b)])
    a.close()
    expect(await p).toEqual({ index: 0, ok: false, value: undefined })
    expect(await select([recvFrom(a)])).toEqual({ index: 0, ok: false, value: undefined })
    await expect(select([sendTo(a, 1)])).rejects.toBeInstanceOf(ChannelClosedError)
    const parked = select([sendTo(b, 1)])
    b.close()
    await expect(parked).rejects.toBeInstanceOf(ChannelClosedError)
  })

  test('rejects a select that could never finish and a negative timeout', async () => {
    await expect(select([])).rejects.toBeInstanceOf(RangeError)
    await expect(select([], { timeoutMs: -1 })).rejects.toBeInstanceOf(RangeError)
    expect((await select([], { timeoutMs: 1 })).index).toBe(-1)
  })

  test('a select on both ends of one unbuffered channel never rendezvouses with itself', async () => {
    const a = new Channel<number>()
    const r = await select([recvFrom(a), sendTo(a, 1)], { timeoutMs: 5 })
    expect(r.index).toBe(-1)
  })

  test('a long select loop over idle channels leaves no parked cases behind', async () => {
    const idle = new Channel<number>()
    const busy = new Channel<number>(1)
    for (let i = 0; i < 500; i++) {
      const p = select([recvFrom(idle), recvFrom(busy), sendTo(idle, i)])
      busy.trySend(i)
      expect(await p).toEqual({ index: 1, ok: true, value: i })
    }
    expect(idle.waitingReceivers).toBe(0)
    expect(idle.waitingSenders).toBe(0)
    expect(busy.waitingReceivers).toBe(0)
  })

  test('many racing selects and plain receivers: every value delivered exactly once', async () => {
    const random = rng(11)
    const chans = [new Channel<number>(), new Channel<number>(2), new Channel<number>(5)]
    const total = 3_000
    const got: number[] = []
    let sent = 0
    const producers = chans.map(async (ch, k) => {
      for (let v = k; v < total; v += chans.length) {
        if (random() < 0.2) await flush()
        await ch.send(v)
        sent++
      }
    })
    const consumers = Array.from({ length: 6 }, async (_, c) => {
      while (got.length < total) {
        if (c % 2 === 0) {
          const r = await select([recvFrom(chans[0] as Channel<number>), recvFrom(chans[1] as Channel<number>), recvFrom(chans[2] as Channel<number>)], { timeoutMs: 20 })
          if (r.index !== -1 && r.ok) got.push(r.value)
        } else {
          const ch = chans[Math.floor(random() * chans.length)] as Channel<number>
          const ctrl = new AbortController()
          const t = setTimeout(() => ctrl.abort(), 5)
          const r = await ch.receive(ctrl.signal).catch(() => undefined)
          clearTimeout(t)
          if (r?.ok) got.push(r.value)
        }
      }
    })
    await Promise.all(producers)
    await Promise.all(consumers)
    expect(sent).toBe(total)
    expect(got.length).toBe(total)
    expect(new Set(got).size).toBe(total)
  })

  test('a select loop with a timeout case works as a ticker (Go: for { select { ... case <-time.After } })', async () => {
    const work = new Channel<number>(10)
    const quit = new Channel<void>()
    let handled = 0
    let idle = 0
    const loop = (async () => {
      for (;;) {
        const r = await select([recvFrom(work), recvFrom(quit)], { timeoutMs: 3 })
        if (r.index === 0) handled++
        else if (r.index === 1) return
        else idle++
      }
    })()
    for (let i = 0; i < 5; i++) work.trySend(i)
    await sleep(20)
    quit.close()
    await loop
    expect(handled).toBe(5)
    expect(idle).toBeGreaterThan(0)
  })
})

describe('select timer limits', () => {
  test('timeoutMs: Infinity waits for a case', async () => {
    const a = new Channel<number>()
    const p = select([recvFrom(a)], { timeoutMs: Infinity })
    await sleep(10)
    a.trySend(3)
    expect(await p).toEqual({ index: 0, ok: true, value: 3 })
  })
})
