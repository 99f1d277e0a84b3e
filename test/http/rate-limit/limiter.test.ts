import { describe, expect, test } from 'bun:test'
import { DEFAULT_MAX_CLIENTS, INITIAL_CAPACITY, MemoryRateLimiter } from '../../../src/http/rate-limit/limiter.ts'

const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`

describe('MemoryRateLimiter table', () => {
  test('starts small and grows with the clients it sees, never past maxClients', () => {
    const l = new MemoryRateLimiter({ rps: 10, burst: 10, now: () => 0 })
    expect(l.maxClients).toBe(DEFAULT_MAX_CLIENTS)
    expect(l.capacity).toBe(INITIAL_CAPACITY)
    for (let i = 0; i < INITIAL_CAPACITY; i++) l.consume(ip(i))
    expect(l.capacity).toBe(INITIAL_CAPACITY) // full, not grown yet
    l.consume(ip(INITIAL_CAPACITY))
    expect(l.capacity).toBe(INITIAL_CAPACITY * 4)
    expect(l.size).toBe(INITIAL_CAPACITY + 1)
    for (let i = 0; i < DEFAULT_MAX_CLIENTS * 2; i++) l.consume(ip(i))
    expect(l.capacity).toBe(DEFAULT_MAX_CLIENTS)
    expect(l.size).toBe(DEFAULT_MAX_CLIENTS)
  })

  test('a growth keeps every bucket and the eviction order', () => {
    const l = new MemoryRateLimiter({ rps: 10, burst: 10, maxClients: 2000, now: () => 0 })
    for (let i = 0; i < INITIAL_CAPACITY; i++) l.consume(ip(i)) // 9 tokens left each
    l.consume(ip(0)) // client 0 becomes the most recently used: 8 left
    for (let i = INITIAL_CAPACITY; i < 2000; i++) l.consume(ip(i)) // grows to 2000, nobody evicted
    expect(l.capacity).toBe(2000)
    expect(l.consume(ip(5)).remaining).toBe(8) // kept across the growth, with its tokens
    // Two new clients evict the two least recently used: 1 and 2 (0 and 5 were used again).
    l.consume('new-a')
    l.consume('new-b')
    expect(l.size).toBe(2000)
    expect(l.consume(ip(0)).remaining).toBe(7)
    expect(l.consume(ip(3)).remaining).toBe(8)
    expect(l.consume(ip(1)).remaining).toBe(9) // evicted: a fresh bucket
  })

  test('a bound below the initial capacity is the capacity from the start', () => {
    const l = new MemoryRateLimiter({ rps: 1, burst: 1, maxClients: 3, now: () => 0 })
    expect(l.capacity).toBe(3)
    for (const k of ['a', 'b', 'c', 'd']) l.consume(k)
    expect(l.size).toBe(3)
    expect(() => new MemoryRateLimiter({ rps: 1, burst: 1, maxClients: 0 })).toThrow(RangeError)
  })
})
