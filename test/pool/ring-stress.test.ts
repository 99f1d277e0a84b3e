/**
 * Millions of messages through real Workers: every message is echoed back by a worker and checked
 * byte for byte against what was sent, in order, per stream (one stream per worker).
 */
import { afterAll, expect, test } from 'bun:test'
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads'
import { Ring, type SideChannel } from '../../src/pool/ring.ts'
import { REQ_QUEUED, WORDS_PER_LINE } from '../../src/pool/protocol.ts'

const RING_TAIL = WORDS_PER_LINE
const RING_SLEEP = WORDS_PER_LINE * 2

const WORKER = new URL('./fixtures/ring-echo-worker.ts', import.meta.url)
const workers: Worker[] = []
afterAll(async () => { await Promise.all(workers.map((w) => w.terminate())) })

/** Deterministic pseudo-random generator (xorshift32). */
function rng(seed: number) {
  let x = seed | 1
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 4294967296 }
}

function fill(id: number, n: number): Uint8Array {
  const b = new Uint8Array(n)
  let v = (id * 2654435761) >>> 0
  for (let i = 0; i < n; i++) { v = (v * 1664525 + 1013904223) >>> 0; b[i] = v >>> 24 }
  return b
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

interface Stream { count: number; size: (id: number) => number; slow: boolean; burst: number; capacity: number }

/** Runs one stream through one worker; resolves with how many messages came back intact and in order. */
async function runStream(s: Stream): Promise<{ ok: number; bad: number }> {
  const req = Ring.allocate(s.capacity)
  const res = Ring.allocate(s.capacity)
  const { port1, port2 } = new MessageChannel()
  const side: SideChannel = {
    send: (b) => port1.postMessage(b, [b.buffer as ArrayBuffer]),
    recv: () => {
      const m = receiveMessageOnPort(port1)
      if (!m) throw new Error('side message missing on the main side')
      return m.message as Uint8Array
    },
  }
  const w = new Worker(WORKER, { workerData: { req, res, port: port2, slow: s.slow }, transferList: [port2] })
  workers.push(w)
  const out = new Ring(req, side)
  const back = new Ring(res, side)
  let sent = 0
  let expected = 0
  let bad = 0
  let ended = false
  let sentEnd = false
  while (!ended) {
    let progress = false
    // A burst of writes, as many as fit.
    for (let k = 0; k < s.burst && sent < s.count; k++) {
      const n = s.size(sent)
      // Small payloads are checked through their id and length (cheap), big ones byte for byte.
      const bytes = n <= 64 ? smallPayload(sent, n) : fill(sent, n)
      if (!out.writeBytes(REQ_QUEUED, sent, 0, bytes)) break
      sent++
      progress = true
    }
    if (sent === s.count && !sentEnd && out.writeBytes(REQ_QUEUED, -1, 0, new Uint8Array(0))) { sentEnd = true; progress = true }
    while (back.poll()) {
      progress = true
      const id = back.id
      if (id === -1) { back.release(); ended = true; break }
      const n = s.size(id)
      const ok = id === expected && back.length === n &&
        (n <= 64 ? checkSmall(back.u8, back.payloadOffset, id, n) : same(back.bytes(), fill(id, n)))
      if (!ok) bad++
      expected = id + 1
      back.release()
    }
    if (!progress) {
      // Park like the pool does: SLEEP=1 on the response ring makes the worker's next publish
      // notify TAIL, which resolves the waitAsync (2 ms cap for the rare missed window).
      Atomics.store(back.i32, RING_SLEEP, 1)
      await Atomics.waitAsync(back.i32, RING_TAIL, Atomics.load(back.i32, RING_TAIL), 2).value
      Atomics.store(back.i32, RING_SLEEP, 0)
    }
  }
  return { ok: expected - bad, bad }
}

const smallBuf = new Uint8Array(64)
function smallPayload(id: number, n: number): Uint8Array {
  for (let i = 0; i < n; i++) smallBuf[i] = (id + i * 13) & 255
  return smallBuf.subarray(0, n)
}
function checkSmall(u8: Uint8Array, off: number, id: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (u8[off + i] !== ((id + i * 13) & 255)) return false
  return true
}

test('2M small messages through two workers arrive intact, once, in order', async () => {
  const sizeA = (id: number) => (id * 7919) % 65 // 0..64 bytes
  const sizeB = (id: number) => (id * 104729) % 49
  const [a, b] = await Promise.all([
    runStream({ count: 1_000_000, size: sizeA, slow: false, burst: 512, capacity: 1 << 14 }),
    runStream({ count: 1_000_000, size: sizeB, slow: true, burst: 64, capacity: 4096 }),
  ])
  expect(a).toEqual({ ok: 1_000_000, bad: 0 })
  expect(b).toEqual({ ok: 1_000_000, bad: 0 })
}, 60_000)

test('random sizes from 0 B to 4x the ring, with a slow consumer and bursts, arrive intact', async () => {
  const cap = 4096
  const r = rng(12345)
  const sizes = Array.from({ length: 20_000 }, () => {
    const x = r()
    // Mostly small, some near the inline limit and the ring size, some several times the ring.
    return x < 0.7 ? Math.floor(r() * 200) : x < 0.9 ? Math.floor(r() * cap * 0.3) : Math.floor(r() * cap * 4)
  })
  const got = await runStream({ count: sizes.length, size: (id) => sizes[id] as number, slow: true, burst: 200, capacity: cap })
  expect(got).toEqual({ ok: sizes.length, bad: 0 })
}, 60_000)
