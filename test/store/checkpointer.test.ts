import { afterAll, expect, test } from 'bun:test'
import type { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkpointOffThread } from '../../src/store/checkpointer.ts'
import { closeDatabase, openStore } from '../../src/store/sqlite.ts'

const dir = mkdtempSync(join(tmpdir(), 'highperf-checkpointer-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Writes ~`mb` MB in 1 KB autocommit inserts, yielding now and then (the worker runs meanwhile). */
async function fill(db: Database, mb: number): Promise<void> {
  db.run('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)')
  const insert = db.prepare('INSERT INTO t (v) VALUES (?1)')
  const row = new Uint8Array(1024)
  for (let i = 0; i < mb * 1024; i++) {
    insert.run(row)
    if (i % 500 === 0) await Bun.sleep(2)
  }
  insert.finalize()
}

const walMb = (path: string) => statSync(`${path}-wal`).size / 1024 / 1024

test('a shared store checkpoints on its thread: the WAL stays bounded though the commits never checkpoint', async () => {
  const path = join(dir, 'shared.sqlite')
  const db = openStore(path, { exclusive: false, checkpointOffThread: true }, (d) => d)
  try {
    expect(db.query('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 0 })
    await fill(db, 40)
    await Bun.sleep(300) // a last checkpoint, then the next write starts the log over
    db.run('INSERT INTO t (v) VALUES (1)')
    expect(walMb(path)).toBeLessThan(16) // 40 MB and more without checkpoints
  } finally {
    closeDatabase(db, [])
  }
}, 60_000)

test('without the thread the same writes grow the WAL (the test above can fail)', async () => {
  const path = join(dir, 'none.sqlite')
  const db = openStore(path, { exclusive: false }, (d) => d)
  try {
    db.run('PRAGMA wal_autocheckpoint = 0')
    await fill(db, 20)
    expect(walMb(path)).toBeGreaterThan(16)
  } finally {
    closeDatabase(db, [])
  }
}, 60_000)

test('a checkpoint thread that cannot open the database hands checkpoints back to the commits', async () => {
  let failed = false
  checkpointOffThread(dir /* a directory, not a database */, () => { failed = true })
  for (let i = 0; i < 200 && !failed; i++) await Bun.sleep(10)
  expect(failed).toBe(true)
})
