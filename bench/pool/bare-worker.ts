/**
 * Bare ring baseline worker (bare.ts): fixed slots, no claims, no stats. In `int` mode it answers
 * [id, arg] with [id, result]; in `json` mode it decodes the JSON text, parses it, runs the cpu
 * task for `{"n": iterations}` (else echoes), stringifies the result into the response slot and
 * reads the clock once per task (see bare.ts). It rings the doorbell only while the main thread
 * sleeps.
 *
 * @example new Worker(url, { workerData: { req, res, bell, mode: 'int' } })
 */
import { workerData } from 'node:worker_threads'
import { cpuWork } from './work.ts'

const { req, res, bell, mode } = workerData as { req: SharedArrayBuffer; res: SharedArrayBuffer; bell: SharedArrayBuffer; mode: 'int' | 'json' }
const rq = new Int32Array(req)
const rs = new Int32Array(res)
const rqBuf = Buffer.from(req)
const rsU8 = new Uint8Array(res)
const b = new Int32Array(bell)
const json = mode === 'json'
const WORDS = json ? 8 : 4
const SLOTS = 4096
const H = 0, T = 16, SLEEP = 32, STOP = 48, BASE = 64
let head = Atomics.load(rq, H)
let rtail = Atomics.load(rs, T)
let spin = 64
let busyUs = 0
while (Atomics.load(rq, STOP) === 0) {
  const tail = Atomics.load(rq, T)
  if (tail === head) {
    let hit = false
    for (let i = 0; i < spin; i++) if (Atomics.load(rq, T) !== head) { hit = true; break }
    spin = hit ? Math.min(16384, spin * 2) : Math.max(64, spin >> 1)
    if (!hit) {
      Atomics.store(rq, SLEEP, 1)
      const t = Atomics.load(rq, T)
      if (t === head) Atomics.wait(rq, T, t, 1000)
      Atomics.store(rq, SLEEP, 0)
    }
    continue
  }
  while (head !== tail) {
    const s = BASE + (head & (SLOTS - 1)) * WORDS
    const id = rq[s] as number
    const arg = rq[s + 1] as number
    let text = ''
    if (json) {
      const at = (s + 2) * 4
      // The cpu task is {"n": iterations}, as the pool's bench.cpu; anything else is echoed.
      const v = JSON.parse(rqBuf.toString('utf8', at, at + arg)) as { n?: unknown } | null
      text = JSON.stringify(v !== null && typeof v === 'object' && typeof v.n === 'number' ? cpuWork(v.n) : v)
      busyUs += performance.now() // the one clock read a per-task run-time histogram needs
    }
    head = (head + 1) | 0
    Atomics.store(rq, H, head)
    const out = json ? text.length : arg > 0 ? cpuWork(arg) | 0 : arg
    while (((rtail - Atomics.load(rs, H)) | 0) >= SLOTS) Atomics.wait(rs, H, Atomics.load(rs, H), 1)
    const o = BASE + (rtail & (SLOTS - 1)) * WORDS
    rs[o] = id
    rs[o + 1] = out
    if (json) {
      const at = (o + 2) * 4
      for (let k = 0; k < text.length; k++) rsU8[at + k] = text.charCodeAt(k)
    }
    rtail = (rtail + 1) | 0
    Atomics.store(rs, T, rtail)
    if (Atomics.load(b, 16) !== 0) { Atomics.add(b, 0, 1); Atomics.notify(b, 0) }
  }
}
