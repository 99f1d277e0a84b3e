import { afterAll, describe, expect, test } from 'bun:test'
import { MemoryRateLimiter } from '../../../src/http/rate-limit/limiter.ts'
import { CLOCK_STEP_MS, SharedRateLimiter } from '../../../src/http/rate-limit/shared-limiter.ts'
import { HEADER_BYTES, PROBE, SLOT_BYTES, STALE_LOCK_MS, SharedTable, SharedTableError, TABLE_MAGIC } from '../../../src/http/rate-limit/shared-table.ts'
import { selectRateLimiter } from '../../../src/http/rate-limit/select.ts'
import { tableFile } from './support.ts'

const files: { remove(): void }[] = []
afterAll(() => { for (const f of files) f.remove() })
const newTable = (bytes?: number) => {
  const f = tableFile(bytes)
  files.push(f)
  return f.path
}

describe('SharedRateLimiter, one process', () => {
  test('makes the same decisions as the in-process limiter: burst, refill, headers', () => {
    let t = 1_700_000_000_000
    const now = () => t
    const mem = new MemoryRateLimiter({ rps: 3, burst: 5, now })
    const shared = new SharedRateLimiter({ table: newTable(), rps: 3, burst: 5, now })
    // Bursts, waits of every size (less than a token, several tokens, a full refill) and two keys.
    const steps = [0, 0, 0, 0, 0, 0, 0, 100, 250, 400, 0, 0, 0, 1000, 5000, 0, 0, 0, 0, 0, 0, 10, 333, 334, 2000]
    for (const [i, dt] of steps.entries()) {
      t += dt
      for (const key of ['203.0.113.9', 'api-token']) {
        const m = { ...mem.consume(key) }
        const s = { ...shared.consume(key) }
        expect({ step: i, ...s }).toEqual({ step: i, ...m })
      }
    }
  })

  test('a burst is allowed at once, then one request per token', () => {
    let t = 5_000
    const l = new SharedRateLimiter({ table: newTable(), rps: 1, burst: 4, now: () => t })
    const allowed = () => Array.from({ length: 6 }, () => l.consume('a').allowed).filter(Boolean).length
    expect(allowed()).toBe(4)
    const refused = l.consume('a')
    expect(refused).toMatchObject({ allowed: false, limit: 4, remaining: 0, resetSec: 4, retryAfterSec: 1 })
    t += 1000
    expect(allowed()).toBe(1)
    t += 60_000
    expect(allowed()).toBe(4) // refilled to the burst, never beyond
  })

  test('two limiters on one file share every bucket (two processes in one)', () => {
    const path = newTable()
    const a = new SharedRateLimiter({ table: path, rps: 1, burst: 4, now: () => 0 })
    const b = new SharedRateLimiter({ table: path, rps: 1, burst: 4, now: () => 0 })
    const got = Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).consume('c').allowed)
    expect(got.filter(Boolean)).toHaveLength(4)
    expect(a.slotOf('c')).toBe(b.slotOf('c'))
  })

  test('time only moves forward, except a clock stepped far back', () => {
    let t = 100_000
    const l = new SharedRateLimiter({ table: newTable(), rps: 1, burst: 2, now: () => t })
    l.consume('k'); l.consume('k') // empty
    t -= 5 // another process's stamp, a little behind: no refill, and no refill granted twice later
    expect(l.consume('k').allowed).toBe(false)
    t += 1005
    expect(l.consume('k').allowed).toBe(true) // one token for the one second since the newest stamp
    expect(l.consume('k').allowed).toBe(false)
    t -= CLOCK_STEP_MS + 60_000 // NTP stepped the clock back a minute
    expect(l.consume('k').allowed).toBe(false)
    t += 1000
    expect(l.consume('k').allowed).toBe(true) // refills again from the new time, not a minute later
  })
})

describe('the table', () => {
  test('lays itself out from the file size, once, whichever limiter maps it first', () => {
    const path = newTable(8192)
    const a = SharedTable.open(path)
    const b = SharedTable.open(path)
    expect(a.slots).toBe((8192 - HEADER_BYTES) / SLOT_BYTES)
    const header = new Int32Array(Bun.mmap(path).buffer, 0, 4)
    expect(header[0]).toBe(TABLE_MAGIC)
    a.hash('x'); b.hash('x')
    expect([a.hashA, a.hashB]).toEqual([b.hashA, b.hashB]) // one seed for all
  })

  test('refuses a missing file, a size that is not pages, another layout', () => {
    expect(() => SharedTable.open('/nonexistent/highperf-rate')).toThrow(SharedTableError)
    expect(() => SharedTable.open(newTable(1000))).toThrow(/multiple of 4096/)
    const other = newTable(4096)
    new Int32Array(Bun.mmap(other).buffer)[0] = 0x12345678
    expect(() => SharedTable.open(other)).toThrow(/holds something else/)
  })

  test('a full probe window forgets the bucket that refilled the most, never a drained one', () => {
    let t = 0
    // One page: (4096 - 64) / 32 = 126 slots; 500 keys crowd every window.
    const l = new SharedRateLimiter({ table: newTable(4096), rps: 1, burst: 10, now: () => t })
    for (let i = 0; i < 9; i++) l.consume('drained')
    const keys = Array.from({ length: 500 }, (_, i) => `10.0.${i >> 8}.${i & 255}`)
    for (const k of keys) { t += 1; l.consume(k) } // each new key takes the fullest bucket
    // The drained client (1 token left, the others >= 9) was never the fullest: it kept its bucket.
    expect(l.slotOf('drained')).toBeGreaterThanOrEqual(0)
    t += 10 // not enough to refill anything
    expect(l.consume('drained').remaining).toBe(0)
    const found = keys.filter((k) => l.slotOf(k) >= 0).length
    expect(found).toBeLessThanOrEqual(l.table.slots)
    expect(found).toBeGreaterThan(0)
  })

  test('keys whose home slots collide live side by side in the window', () => {
    const l = new SharedRateLimiter({ table: newTable(4096), rps: 1, burst: 3, now: () => 0 })
    const slots = l.table.slots
    // Find PROBE keys with one home slot.
    const byHome = new Map<number, string[]>()
    let group: string[] | undefined
    for (let i = 0; group === undefined; i++) {
      const k = `k${i}`
      l.table.hash(k)
      const home = (l.table.hashA >>> 0) % slots
      const list = byHome.get(home) ?? []
      list.push(k)
      byHome.set(home, list)
      if (list.length === PROBE) group = list
    }
    for (const k of group) { l.consume(k); l.consume(k) }
    const where = group.map((k) => l.slotOf(k))
    expect(new Set(where).size).toBe(PROBE)
    for (const k of group) expect(l.consume(k)).toMatchObject({ allowed: true, remaining: 0 })
  })

  test('a lock left by a dead process is stolen after a bounded wait', () => {
    const l = new SharedRateLimiter({ table: newTable(), rps: 1, burst: 5 })
    l.consume('victim')
    l.table.wedge(l.slotOf('victim'))
    const start = performance.now()
    const d = l.consume('victim')
    expect(d.allowed).toBe(true)
    expect(d.remaining).toBe(3)
    const waited = performance.now() - start
    expect(waited).toBeGreaterThanOrEqual(STALE_LOCK_MS - 1)
    expect(waited).toBeLessThan(2000)
    // And released normally after the steal: the next check does not wait.
    const again = performance.now()
    l.consume('victim')
    expect(performance.now() - again).toBeLessThan(STALE_LOCK_MS)
  })
})

describe('selectRateLimiter', () => {
  test('the shared table with a cluster table path; the stage default alone; none when off', () => {
    expect(selectRateLimiter({ rateLimitRps: 10, rateLimitBurst: 20, clusterRateTable: '' })).toBeUndefined()
    expect(selectRateLimiter({ rateLimitRps: 0, rateLimitBurst: 20, clusterRateTable: newTable() })).toBeUndefined()
    expect(selectRateLimiter({ rateLimitRps: 10, rateLimitBurst: 20, clusterRateTable: newTable() })).toBeInstanceOf(SharedRateLimiter)
  })
})
