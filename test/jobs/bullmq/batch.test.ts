import { describe, expect, test } from 'bun:test'
import { AddBatcher, MAX_BATCH, MAX_IN_FLIGHT } from '../../../src/jobs/bullmq/batch.ts'

/** A send that records its batches and resolves each when told. */
function recorder() {
  const batches: number[][] = []
  const waiting: Array<{ resolve: () => void; reject: (e: unknown) => void }> = []
  const send = (entries: number[]): Promise<void> => {
    batches.push(entries)
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }))
  }
  return { batches, waiting, send }
}

describe('AddBatcher', () => {
  test('adds of one turn go as one batch; each resolves only once the batch came back', async () => {
    const r = recorder()
    const b = new AddBatcher<number>(r.send)
    let done = 0
    const all = [1, 2, 3].map((n) => b.add(n).then(() => { done++ }))
    await Bun.sleep(5)
    expect(r.batches).toEqual([[1, 2, 3]])
    expect(done).toBe(0)
    r.waiting[0]!.resolve()
    await Promise.all(all)
    expect(done).toBe(3)
    await b.idle()
  })

  test('a failed batch rejects each of its adds with its error; the next batch is independent', async () => {
    const r = recorder()
    const b = new AddBatcher<number>(r.send)
    const first = [b.add(1), b.add(2)].map((p) => p.then(() => 'ok', (e: unknown) => (e as Error).message))
    await Bun.sleep(5)
    r.waiting[0]!.reject(new Error('redis away'))
    expect(await Promise.all(first)).toEqual(['redis away', 'redis away'])
    const next = b.add(3)
    await Bun.sleep(5)
    r.waiting[1]!.resolve()
    await next
    expect(r.batches).toEqual([[1, 2], [3]])
  })

  test('a send that throws at once rejects its adds too', async () => {
    const b = new AddBatcher<number>(() => { throw new Error('boom') })
    await expect(b.add(1)).rejects.toThrow('boom')
    await b.idle()
  })

  test(`at most ${MAX_IN_FLIGHT} batches out: later adds gather into one batch sent when one returns`, async () => {
    const r = recorder()
    const b = new AddBatcher<number>(r.send)
    const ps: Promise<void>[] = []
    for (let turn = 0; turn < MAX_IN_FLIGHT + 2; turn++) {
      ps.push(b.add(turn * 10), b.add(turn * 10 + 1))
      await Bun.sleep(2)
    }
    expect(r.batches.length).toBe(MAX_IN_FLIGHT)
    r.waiting[0]!.resolve()
    await Bun.sleep(5)
    expect(r.batches.length).toBe(MAX_IN_FLIGHT + 1)
    expect(r.batches.at(-1)!.length).toBe(4)
    let idle = false
    void b.idle().then(() => { idle = true })
    for (let i = 1; i < r.waiting.length; i++) r.waiting[i]!.resolve()
    await Promise.all(ps)
    await Bun.sleep(1)
    expect(idle).toBe(true)
    expect(b.entries).toBe(ps.length)
  })

  test(`a turn with more than ${MAX_BATCH} adds is split`, async () => {
    const sizes: number[] = []
    const b = new AddBatcher<number>(async (e) => { sizes.push(e.length) })
    await Promise.all(Array.from({ length: MAX_BATCH + 10 }, (_, i) => b.add(i)))
    expect(sizes).toEqual([MAX_BATCH, 10])
  })
})
