import { expect, test } from 'bun:test'
import { RunQueue } from '../../src/pool/queue.ts'

interface E { priority: number; dead: boolean; name: string }
const e = (name: string, priority = 0): E => ({ name, priority, dead: false })

test('pops the highest priority first and FIFO within a priority', () => {
  const q = new RunQueue<E>()
  for (const x of [e('a'), e('b', 2), e('c'), e('d', -1), e('f', 2), e('g', 5)]) q.push(x)
  const out: string[] = []
  for (let x = q.pop(); x; x = q.pop()) out.push(x.name)
  expect(out).toEqual(['g', 'b', 'f', 'a', 'c', 'd'])
  expect(q.size).toBe(0)
})

test('canceled entries are skipped and not counted; unshift puts an entry back at the front', () => {
  const q = new RunQueue<E>()
  const items = [e('a'), e('b'), e('c')]
  items.forEach((x) => q.push(x))
  q.cancel(items[0] as E)
  q.cancel(items[2] as E)
  expect(q.size).toBe(1)
  q.unshift(e('z'))
  expect(q.pop()?.name).toBe('z')
  expect(q.pop()?.name).toBe('b')
  expect(q.pop()).toBeUndefined()
  expect(q.size).toBe(0)
})

test('stays correct over many interleaved operations (checked against a sorted model)', () => {
  const q = new RunQueue<E & { seq: number }>()
  const model: Array<E & { seq: number }> = []
  let seq = 0
  let x = 12345
  const rnd = () => { x = (x * 1103515245 + 12345) & 0x7fffffff; return x / 0x7fffffff }
  for (let i = 0; i < 20000; i++) {
    const r = rnd()
    if (r < 0.55) {
      const it = { name: String(seq), seq: seq++, priority: Math.floor(rnd() * 4), dead: false }
      q.push(it)
      model.push(it)
    } else if (r < 0.65 && model.length > 0) {
      const k = Math.floor(rnd() * model.length)
      q.cancel(model[k] as E & { seq: number })
      model.splice(k, 1)
    } else {
      model.sort((a, b) => b.priority - a.priority || a.seq - b.seq)
      expect(q.pop()?.seq).toBe(model.shift()?.seq)
    }
    expect(q.size).toBe(model.length)
  }
})

test('takeFirst picks the first matching live entry in pop order, within a bounded look, and keeps the rest in order', () => {
  const q = new RunQueue<E>()
  const items = [e('long1'), e('long2'), e('short1'), e('long3'), e('short2'), e('bg', -1)]
  items.forEach((x) => q.push(x))
  q.push(e('high', 3))
  q.cancel(items[0] as E)
  const short = (x: E) => x.name.startsWith('short')
  // Looks at 'high', 'long2' (the canceled 'long1' is not counted), then finds 'short1'.
  expect(q.takeFirst(short, 2)).toBeUndefined()
  expect(q.takeFirst(short, 3)?.name).toBe('short1')
  expect(q.size).toBe(5)
  expect(q.takeFirst((x) => x.name === 'high', 1)?.name).toBe('high') // at the head
  expect(q.takeFirst((x) => x.name === 'nope', 100)).toBeUndefined()
  const out: string[] = []
  for (let x = q.pop(); x; x = q.pop()) out.push(x.name)
  expect(out).toEqual(['long2', 'long3', 'short2', 'bg'])
})
