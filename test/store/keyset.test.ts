/**
 * Keyset paging (src/store/keyset.ts) on a real bun:sqlite file: the pager both stores share.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { openDatabase } from '../../src/store/sqlite.ts'
import { KeysetPager } from '../../src/store/keyset.ts'
import { tempDir } from '../support/deps.ts'

const tmp = tempDir('highperf-keyset-')
afterAll(() => tmp.remove())
let n = 0

function table(rows: number) {
  const db = openDatabase(join(tmp.dir, `t-${++n}.sqlite`))
  db.run('CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)')
  const insert = db.prepare('INSERT INTO t (v) VALUES (?1)')
  for (let i = 1; i <= rows; i++) insert.run(`v${i}`)
  insert.finalize()
  return { db, pager: new KeysetPager<{ id: number; v: string }>(db, 'SELECT id, v FROM t') }
}

describe('KeysetPager', () => {
  test('pages in id order; the last page has a null cursor, even when the rows divide evenly', () => {
    const { db, pager } = table(6)
    const first = pager.page({ limit: 3 })
    expect(first.rows.map((r) => r.id)).toEqual([1, 2, 3])
    expect(first.nextCursor).toBe('3')
    const second = pager.page({ limit: 3, after: Number(first.nextCursor) })
    expect(second).toEqual({ rows: [{ id: 4, v: 'v4' }, { id: 5, v: 'v5' }, { id: 6, v: 'v6' }], nextCursor: null })
    expect(pager.page({ limit: 3, after: 6 })).toEqual({ rows: [], nextCursor: null })
    db.close()
  })

  test('rows deleted or added between pages never make a client skip or repeat one', () => {
    const { db, pager } = table(5)
    const first = pager.page({ limit: 2 })
    db.run('DELETE FROM t WHERE id IN (1, 3)')
    db.run("INSERT INTO t (v) VALUES ('late')")
    const seen = first.rows.map((r) => r.id)
    for (let cursor = first.nextCursor; cursor !== null;) {
      const page = pager.page({ limit: 2, after: Number(cursor) })
      seen.push(...page.rows.map((r) => r.id))
      cursor = page.nextCursor
    }
    expect(seen).toEqual([1, 2, 4, 5, 6])
    db.close()
  })

  test('a limit below 1 or fractional is clamped to a whole page of at least one row', () => {
    const { db, pager } = table(3)
    expect(pager.page({ limit: 0 }).rows).toHaveLength(1)
    expect(pager.page({ limit: 2.9 }).rows).toHaveLength(2)
    db.close()
  })

  test('its statements are the ones the store finalizes on close', () => {
    const { db, pager } = table(1)
    expect(pager.statements).toHaveLength(2)
    for (const s of pager.statements) s.finalize()
    db.close()
  })
})
