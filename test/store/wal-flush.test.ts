/**
 * The WAL's write-behind (src/store/wal-flush.ts): one flush per `every` commits, never two at
 * once, never a descriptor closed under a flush still running, nothing thrown when there is no
 * WAL; and the users store flushes its real WAL as it commits, and lets go of it when closed.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { fstatSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { WalFlusher, type SyncFile } from '../../src/store/wal-flush.ts'
import { SqliteUserStore } from '../../src/store/users.ts'
import { tempDir } from '../support/deps.ts'

const tmp = tempDir('highperf-wal-flush-')
afterAll(() => tmp.remove())

/** A stand-in for fdatasync that records its calls and completes only when told. */
function recorder(): { sync: SyncFile; calls: number[]; finish(): void } {
  const calls: number[] = []
  const pending: Array<() => void> = []
  return {
    calls,
    sync: (fd, done) => {
      calls.push(fd)
      pending.push(() => done(null))
    },
    finish: () => pending.splice(0).forEach((f) => f()),
  }
}

/** Descriptors of this process open on `path`. */
const openOn = (path: string) => readdirSync('/proc/self/fd').filter((fd) => {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).startsWith(path)
  } catch {
    return false
  }
}).length

describe('WalFlusher', () => {
  test('flushes once every `every` commits, never while its last flush still runs, then at once', () => {
    const wal = join(tmp.dir, 'a.sqlite-wal')
    writeFileSync(wal, 'x')
    const r = recorder()
    const f = new WalFlusher(wal, 4, r.sync)
    for (let i = 0; i < 3; i++) f.committed()
    expect(r.calls).toHaveLength(0)
    f.committed()
    expect(r.calls).toHaveLength(1)
    for (let i = 0; i < 8; i++) f.committed() // the first flush is still running
    expect(r.calls).toHaveLength(1)
    r.finish()
    f.committed() // the commits made meanwhile are due: flushed at the next one
    expect(r.calls).toHaveLength(2)
    r.finish()
    for (let i = 0; i < 3; i++) f.committed()
    expect(r.calls).toHaveLength(2)
    f.committed()
    expect(r.calls).toHaveLength(3)
    r.finish()
    f.close()
  })

  test('closing while a flush runs keeps the descriptor open until that flush ends', () => {
    const wal = join(tmp.dir, 'b.sqlite-wal')
    writeFileSync(wal, 'x')
    const r = recorder()
    const f = new WalFlusher(wal, 1, r.sync)
    f.committed()
    const fd = r.calls[0] as number
    f.close()
    expect(() => fstatSync(fd)).not.toThrow()
    expect(openOn(wal)).toBe(1)
    f.committed() // closed: no new flush
    expect(r.calls).toHaveLength(1)
    r.finish()
    expect(openOn(wal)).toBe(0)
  })

  test('a WAL that does not exist yet is no error: no flush until it does', () => {
    const wal = join(tmp.dir, 'c.sqlite-wal')
    const r = recorder()
    const f = new WalFlusher(wal, 1, r.sync)
    expect(() => f.committed()).not.toThrow()
    expect(r.calls).toHaveLength(0)
    writeFileSync(wal, 'x')
    f.committed()
    expect(r.calls).toHaveLength(1)
    r.finish()
    f.close()
    expect(openOn(wal)).toBe(0)
  })
})

describe('the users store flushes its WAL behind its writes', () => {
  test('64 inserts open the WAL for flushing; closing the store closes it', async () => {
    const path = join(tmp.dir, 'users.sqlite')
    const users = SqliteUserStore.open(path, { exclusive: true })
    // One at a time: 64 commits (a batch of 64 would be one).
    for (let i = 0; i < 64; i++) await users.create({ name: 'A', email: `a${i}@example.com` })
    // SQLite's own descriptor, and the flusher's.
    expect(openOn(`${path}-wal`)).toBe(2)
    await Bun.sleep(50) // the flush ends in the thread pool
    users.close()
    expect(openOn(`${path}-wal`)).toBe(0)
    const again = SqliteUserStore.open(path, { exclusive: true })
    expect(again.count()).toBe(64)
    again.close()
  })
})
