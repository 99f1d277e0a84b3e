import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { SqliteMessageStore } from '../../src/store/messages.ts'
import { tempDir } from '../support/deps.ts'

const tmp = tempDir('highperf-messages-store-')
afterAll(() => tmp.remove())
let n = 0
const freshPath = () => join(tmp.dir, `messages-${++n}.sqlite`)

describe('SqliteMessageStore', () => {
  test('stores an exchange and reads it back, usage and system included', () => {
    const store = SqliteMessageStore.open(freshPath())
    try {
      const m = store.create({ input: 'Hola "amigo"\n', system: 'Be brief', response: '¡Hola!', model: 'm-1', usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 } })
      expect(m).toEqual({ id: 1, input: 'Hola "amigo"\n', system: 'Be brief', response: '¡Hola!', model: 'm-1', usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 }, createdAt: expect.any(String) })
      expect(new Date(m.createdAt).toISOString()).toBe(m.createdAt)
      expect(store.get(1)).toEqual(m)
      expect(store.get(2)).toBeNull()
    } finally {
      store.close()
    }
  })

  test('a missing system prompt and missing usage are null', () => {
    const store = SqliteMessageStore.open(freshPath())
    try {
      expect(store.create({ input: 'x', response: 'y', model: 'm', usage: null })).toMatchObject({ system: null, usage: null })
    } finally {
      store.close()
    }
  })

  test('keyset paging visits every message once, in id order, for random page sizes', () => {
    const store = SqliteMessageStore.open(freshPath())
    try {
      const total = 57
      for (let i = 0; i < total; i++) store.create({ input: `in ${i}`, response: `out ${i}`, model: 'm', usage: null })
      for (const limit of [1, 2, 7, 10, 56, 57, 100]) {
        const seen: number[] = []
        let page = store.list({ limit })
        for (;;) {
          seen.push(...page.items.map((m) => m.id))
          if (page.nextCursor === null) break
          page = store.list({ limit, after: Number(page.nextCursor) })
        }
        expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1))
      }
      expect(store.count()).toBe(total)
    } finally {
      store.close()
    }
  })

  test('messages survive closing and reopening the file', () => {
    const path = freshPath()
    const a = SqliteMessageStore.open(path)
    a.create({ input: 'keep', response: 'me', model: 'm', usage: null })
    a.close()
    const b = SqliteMessageStore.open(path)
    try {
      expect(b.get(1)?.input).toBe('keep')
    } finally {
      b.close()
    }
  })
})
