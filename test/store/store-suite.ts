/**
 * The users and messages store contracts as test suites, written against the interfaces only
 * (src/store/users.ts `UserStore`, src/store/messages.ts `MessageStore`), so bun:sqlite and
 * PostgreSQL run the same tests: every call is awaited, which costs the synchronous store nothing.
 *
 * @example
 * ```ts
 * runUserStoreSuite('sqlite', async () => ({ store: SqliteUserStore.open(path) }))
 * ```
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import type { UserStore } from '../../src/store/users.ts'
import type { MessageStore } from '../../src/store/messages.ts'

/** A fresh, empty store and how to dispose of it. */
export interface Fixture<S> {
  store: S
  cleanup?: () => Promise<void> | void
}

async function caught(run: () => unknown): Promise<unknown> {
  try {
    await run()
  } catch (err) {
    return err
  }
  return undefined
}

function expectConflict(err: unknown): void {
  expect(err).toBeInstanceOf(AppError)
  expect((err as AppError).code).toBe('conflict')
  expect((err as AppError).status).toBe(409)
}

/** Registers the UserStore contract tests under `describe(name)`. */
export function runUserStoreSuite(name: string, make: () => Promise<Fixture<UserStore>>): void {
  describe(`UserStore contract: ${name}`, () => {
    let fx: Fixture<UserStore>
    let users: UserStore
    beforeEach(async () => {
      fx = await make()
      users = fx.store
    })
    afterEach(async () => {
      await users.close()
      await fx.cleanup?.()
    })

    test('creates, reads and deletes a user; ids are JSON numbers', async () => {
      const ada = await users.create({ name: 'Ada', email: 'ada@example.com' })
      expect(ada).toMatchObject({ id: 1, name: 'Ada', email: 'ada@example.com' })
      expect(typeof ada.id).toBe('number')
      expect(new Date(ada.createdAt).toISOString()).toBe(ada.createdAt)
      expect(await users.get(ada.id)).toEqual(ada)
      expect(await users.get(999)).toBeNull()
      expect(await users.delete(ada.id)).toBe(true)
      expect(await users.delete(ada.id)).toBe(false)
      expect(await users.get(ada.id)).toBeNull()
    })

    test('a duplicate email, in any case, is a conflict and stores nothing', async () => {
      await users.create({ name: 'Ada', email: 'ada@example.com' })
      expectConflict(await caught(() => users.create({ name: 'Other', email: 'ADA@Example.COM' })))
      expect(await users.count()).toBe(1)
    })

    test('update changes the given fields; another user\'s email is a conflict, one\'s own in another case is not', async () => {
      const ada = await users.create({ name: 'Ada', email: 'ada@example.com' })
      const bob = await users.create({ name: 'Bob', email: 'bob@example.com' })
      expect(await users.update(ada.id, { name: 'Ada L.' })).toEqual({ ...ada, name: 'Ada L.' })
      expect(await users.update(ada.id, { email: 'ADA@example.com' })).toEqual({ ...ada, name: 'Ada L.', email: 'ADA@example.com' })
      expectConflict(await caught(() => users.update(bob.id, { email: 'ada@EXAMPLE.com' })))
      expect(await users.get(bob.id)).toEqual(bob)
      expect(await users.update(999, { name: 'nobody' })).toBeNull()
    })

    test('ids are never reused after a delete', async () => {
      const a = await users.create({ name: 'a', email: 'a@x.io' })
      const b = await users.create({ name: 'b', email: 'b@x.io' })
      await users.delete(b.id)
      const c = await users.create({ name: 'c', email: 'c@x.io' })
      expect(c.id).toBeGreaterThan(b.id)
      expect(a.id).toBeLessThan(b.id)
    })

    test('keyset paging visits every user exactly once for random page sizes, with deletes in between', async () => {
      for (let i = 0; i < 67; i++) await users.create({ name: `u${i}`, email: `u${i}@x.io` })
      for (let round = 0; round < 10; round++) {
        const limit = 1 + Math.floor(Math.random() * 30)
        const seen: number[] = []
        let page = await users.list({ limit })
        for (;;) {
          expect(page.items.length).toBeLessThanOrEqual(limit)
          seen.push(...page.items.map((u) => u.id))
          if (page.nextCursor === null) break
          expect(page.items.length).toBe(limit)
          page = await users.list({ limit, after: Number(page.nextCursor) })
        }
        expect(seen.length).toBe(await users.count())
        expect(new Set(seen).size).toBe(seen.length)
        expect([...seen].sort((x, y) => x - y)).toEqual(seen)
        await users.delete(seen[Math.floor(Math.random() * seen.length)]!)
      }
      expect(await users.count()).toBe(57)
    })

    test('the last page has no cursor, even when it is exactly full', async () => {
      for (let i = 0; i < 4; i++) await users.create({ name: `u${i}`, email: `u${i}@x.io` })
      const first = await users.list({ limit: 2 })
      expect(first.nextCursor).toBe(String(first.items[1]!.id))
      const second = await users.list({ limit: 2, after: Number(first.nextCursor) })
      expect(second.items.length).toBe(2)
      expect(second.nextCursor).toBeNull()
      expect(await users.list({ limit: 5, after: 1_000_000 })).toEqual({ items: [], nextCursor: null })
      expect((await users.list({ limit: 0 })).items.length).toBe(1)
    })

    test('concurrent creations of one email: exactly one wins, the others are conflicts', async () => {
      const outcomes = await Promise.allSettled(Array.from({ length: 20 }, async () => users.create({ name: 'race', email: 'race@example.com' })))
      expect(outcomes.filter((o) => o.status === 'fulfilled').length).toBe(1)
      for (const o of outcomes) if (o.status === 'rejected') expectConflict(o.reason)
      expect(await users.count()).toBe(1)
    })
  })
}

/** Registers the MessageStore contract tests under `describe(name)`. */
export function runMessageStoreSuite(name: string, make: () => Promise<Fixture<MessageStore>>): void {
  describe(`MessageStore contract: ${name}`, () => {
    let fx: Fixture<MessageStore>
    let store: MessageStore
    beforeEach(async () => {
      fx = await make()
      store = fx.store
    })
    afterEach(async () => {
      await store.close()
      await fx.cleanup?.()
    })

    test('stores an exchange and reads it back, usage and system included', async () => {
      const m = await store.create({ input: 'Hola "amigo"\n', system: 'Be brief', response: '¡Hola!', model: 'm-1', usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 } })
      expect(m).toEqual({ id: 1, input: 'Hola "amigo"\n', system: 'Be brief', response: '¡Hola!', model: 'm-1', usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 }, createdAt: expect.any(String) })
      expect(new Date(m.createdAt).toISOString()).toBe(m.createdAt)
      expect(await store.get(1)).toEqual(m)
      expect(await store.get(2)).toBeNull()
    })

    test('a missing system prompt and missing usage are null', async () => {
      expect(await store.create({ input: 'x', response: 'y', model: 'm', usage: null })).toMatchObject({ system: null, usage: null })
    })

    test('keyset paging visits every message once, in id order, for several page sizes', async () => {
      const total = 27
      for (let i = 0; i < total; i++) await store.create({ input: `in ${i}`, response: `out ${i}`, model: 'm', usage: null })
      for (const limit of [1, 2, 7, 26, 27, 100]) {
        const seen: number[] = []
        let page = await store.list({ limit })
        for (;;) {
          seen.push(...page.items.map((m) => m.id))
          if (page.nextCursor === null) break
          page = await store.list({ limit, after: Number(page.nextCursor) })
        }
        expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1))
      }
      expect(await store.count()).toBe(total)
    })
  })
}
