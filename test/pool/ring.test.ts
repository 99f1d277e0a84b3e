import { describe, expect, test } from 'bun:test'
import { Ring, type SideChannel } from '../../src/pool/ring.ts'
import { REQ_QUEUED, REQ_STOLEN, REQ_TAKEN } from '../../src/pool/protocol.ts'

/** An in-thread side channel: a FIFO of copies. */
function fifoSide(): SideChannel & { queue: Uint8Array[] } {
  const queue: Uint8Array[] = []
  return { queue, send: (b) => { queue.push(b.slice()) }, recv: () => queue.shift() as Uint8Array }
}

function pair(capacity: number) {
  const sab = Ring.allocate(capacity)
  const side = fifoSide()
  return { w: new Ring(sab, side), r: new Ring(sab, side), side }
}

function payload(seed: number, n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 255
  return b
}

function readOne(r: Ring): { id: number; aux: number; bytes: Uint8Array } {
  expect(r.poll()).toBe(true)
  const out = { id: r.id, aux: r.aux, bytes: r.bytes() }
  r.release()
  return out
}

describe('ring', () => {
  test('text() decodes UTF-8 like TextDecoder: multi-byte characters, and a leading BOM dropped', () => {
    const { w, r } = pair(1024)
    for (const s of ['{"a":"é€😀"}', '\uFEFF{"bom":1}', '']) {
      expect(w.writeBytes(REQ_QUEUED, 1, 0, new TextEncoder().encode(s))).toBe(true)
      expect(r.poll()).toBe(true)
      expect(r.text()).toBe(new TextDecoder().decode(new TextEncoder().encode(s)))
      r.release()
    }
  })

  test('text() gives the same string on its ASCII fast path and its UTF-8 path, at every length', () => {
    const { w, r } = pair(1 << 12)
    const enc = new TextEncoder()
    const dec = new TextDecoder()
    for (let n = 0; n <= 300; n++) {
      // Pure ASCII (the Latin-1 fast path up to 256 bytes), then one non-ASCII byte at the end,
      // in the middle and at the start (the UTF-8 path), then invalid UTF-8 (replacement chars).
      const ascii = Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 7) % 95))).join('')
      const variants: Uint8Array[] = [enc.encode(ascii), enc.encode(ascii + 'é'), enc.encode(ascii.slice(0, n >> 1) + '€' + ascii.slice(n >> 1)), enc.encode('😀' + ascii)]
      const invalid = enc.encode(ascii + 'x')
      invalid[invalid.length - 1] = 0xff
      variants.push(invalid)
      for (const bytes of variants) {
        expect(w.writeBytes(REQ_QUEUED, 1, 0, bytes)).toBe(true)
        expect(r.poll()).toBe(true)
        expect(r.text()).toBe(dec.decode(bytes))
        r.release()
      }
    }
  })

  test('an empty ring polls false and a written message reads back with its header', () => {
    const { w, r } = pair(256)
    expect(r.poll()).toBe(false)
    expect(w.writeBytes(REQ_QUEUED, 42, 7, payload(1, 10))).toBe(true)
    const m = readOne(r)
    expect(m).toEqual({ id: 42, aux: 7, bytes: payload(1, 10) })
    expect(r.poll()).toBe(false)
    expect(w.drained()).toBe(true)
  })

  test('wraps correctly at every offset with every payload length up to maxInline', () => {
    const cap = 256
    const { w, r } = pair(cap)
    // Advance the ring by 16 bytes at a time (a zero-length message is exactly one header), so
    // each round starts at the next offset; then write lengths 0..maxInline across the wrap.
    for (let start = 0; start < cap * 2; start += 16) {
      for (let len = 0; len <= w.maxInline; len++) {
        const p = payload(start + len, len)
        expect(w.writeBytes(REQ_QUEUED, len, start, p)).toBe(true)
        expect(w.writeBytes(REQ_QUEUED, len + 1000, start, payload(len, (len * 5) % 40))).toBe(true)
        const a = readOne(r)
        expect(a.id).toBe(len)
        expect(a.bytes).toEqual(p)
        const b = readOne(r)
        expect(b.id).toBe(len + 1000)
        expect(b.bytes).toEqual(payload(len, (len * 5) % 40))
      }
      expect(w.writeBytes(REQ_QUEUED, -5, 0, new Uint8Array(0))).toBe(true)
      readOne(r)
    }
    expect(r.poll()).toBe(false)
  })

  test('strings are encoded in place, including multi-byte characters across the wrap', () => {
    const { w, r } = pair(256)
    const texts = ['', 'a', '"é"', '{"k":"😀😀😀"}', 'x'.repeat(21), '€'.repeat(20)]
    for (let round = 0; round < 200; round++) {
      const t = texts[round % texts.length] as string
      expect(w.writeString(REQ_QUEUED, round, 0, t)).toBe(true)
      expect(r.poll()).toBe(true)
      expect(r.text()).toBe(t)
      r.release()
    }
  })

  test('detects full: writes fail without side effects until the reader frees space', () => {
    const { w, r } = pair(256)
    let n = 0
    while (w.writeBytes(REQ_QUEUED, n, 0, payload(n, 40))) n++
    expect(n).toBe(256 / 64) // 16-byte header + 40 bytes → 64 bytes each
    expect(w.used()).toBe(256)
    expect(w.writeBytes(REQ_QUEUED, 99, 0, new Uint8Array(0))).toBe(false)
    expect(readOne(r).id).toBe(0)
    expect(w.writeBytes(REQ_QUEUED, n, 0, payload(n, 40))).toBe(true)
    for (let i = 1; i <= n; i++) expect(readOne(r)).toEqual({ id: i, aux: 0, bytes: payload(i, 40) })
    expect(r.poll()).toBe(false)
  })

  test('a message that does not fit before the end pads to it and starts again at offset 0', () => {
    const { w, r } = pair(256)
    // Fill 192 bytes, free them, then a 64-byte message fits only after padding the last 64.
    for (let i = 0; i < 3; i++) expect(w.writeBytes(REQ_QUEUED, i, 0, payload(i, 48))).toBe(true)
    for (let i = 0; i < 3; i++) readOne(r)
    expect(w.writeBytes(REQ_QUEUED, 10, 0, payload(10, 60))).toBe(true) // 80 bytes: pad 64 + 80 at 0
    expect(readOne(r)).toEqual({ id: 10, aux: 0, bytes: payload(10, 60) })
  })

  test('payloads larger than the ring take the side path, in order with inline ones', () => {
    const { w, r, side } = pair(256)
    const sizes = [10, 1000, 0, 64, 65, 5000, 3]
    sizes.forEach((n, i) => expect(w.writeBytes(REQ_QUEUED, i, 0, payload(i, n))).toBe(true))
    expect(side.queue.length).toBe(3) // above maxInline (64): 1000, 65, 5000
    sizes.forEach((n, i) => expect(readOne(r)).toEqual({ id: i, aux: 0, bytes: payload(i, n) }))
    expect(w.writeString(REQ_QUEUED, 9, 0, 'z'.repeat(10_000))).toBe(true)
    expect(r.poll()).toBe(true)
    expect(r.text()).toBe('z'.repeat(10_000))
    r.release()
  })

  test('claim and steal race on the state word: exactly one wins', () => {
    const { w, r } = pair(256)
    w.writeBytes(REQ_QUEUED, 1, 0, payload(1, 4))
    const p1 = w.lastPos
    w.writeBytes(REQ_QUEUED, 2, 0, payload(2, 4))
    const p2 = w.lastPos
    expect(w.steal(p2, 2)).toBe(true)
    expect(w.steal(p2, 2)).toBe(false)
    expect(r.poll()).toBe(true)
    expect(r.kind).toBe(REQ_QUEUED)
    expect(r.claim()).toBe(true)
    expect(w.steal(p1, 1)).toBe(false) // taken
    r.release()
    expect(r.poll()).toBe(true)
    expect(r.kind).toBe(REQ_STOLEN)
    expect(r.claim()).toBe(false)
    r.skip()
    expect(w.steal(p1, 1)).toBe(false) // consumed
    expect(REQ_TAKEN).not.toBe(REQ_STOLEN)
  })

  test('a stolen side-path message is skipped together with its side payload', () => {
    const { w, r, side } = pair(256)
    w.writeBytes(REQ_QUEUED, 1, 0, payload(1, 4000))
    expect(w.steal(w.lastPos, 1)).toBe(true)
    w.writeBytes(REQ_QUEUED, 2, 0, payload(2, 3000))
    expect(r.poll()).toBe(true)
    r.skip()
    expect(readOne(r)).toEqual({ id: 2, aux: 0, bytes: payload(2, 3000) })
    expect(side.queue.length).toBe(0)
  })

  test('rejects a capacity that is not a power of two', () => {
    expect(() => Ring.allocate(1000)).toThrow(RangeError)
  })
})
