import { afterAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { SqliteMessageStore } from '../../src/store/messages.ts'
import { tempDir } from '../support/deps.ts'
import { runMessageStoreSuite } from './store-suite.ts'

const tmp = tempDir('highperf-messages-store-')
afterAll(() => tmp.remove())
let n = 0
const freshPath = () => join(tmp.dir, `messages-${++n}.sqlite`)

// The contract every messages backend keeps (PostgreSQL runs it too: ./postgres.test.ts).
runMessageStoreSuite('sqlite', async () => ({ store: SqliteMessageStore.open(freshPath()) }))

describe('SqliteMessageStore', () => {
  test('messages survive closing and reopening the file', async () => {
    const path = freshPath()
    const a = SqliteMessageStore.open(path)
    await a.create({ input: 'keep', response: 'me', model: 'm', usage: null })
    a.close()
    const b = SqliteMessageStore.open(path)
    try {
      expect(b.get(1)?.input).toBe('keep')
    } finally {
      b.close()
    }
  })
})
