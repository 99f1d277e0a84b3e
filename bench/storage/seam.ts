/**
 * bench/storage/seam.ts: what the store seam (a store answers a value or a promise,
 * src/store/maybe.ts) costs the bun:sqlite fast path: a point read `users.get(id)` called
 * directly, through `andThen` as the routes call it now, and through `async`/`await` (what an
 * all-async interface would cost every request).
 *
 * @example
 * ```sh
 * bun bench/storage/seam.ts
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bench, run, summary } from 'mitata'
import { SqliteUserStore, type User, type UserStore } from '../../src/store/users.ts'
import { andThen } from '../../src/store/maybe.ts'

const dir = mkdtempSync(join(tmpdir(), 'highperf-bench-seam-'))
const sqlite = SqliteUserStore.open(join(dir, 'users.sqlite'), { exclusive: true })
await Promise.all(Array.from({ length: 1000 }, (_, i) => sqlite.create({ name: `u${i}`, email: `u${i}@example.com` })))
const users: UserStore = sqlite
let id = 0
const next = () => (id = (id % 1000) + 1)
const body = (u: User | null) => (u === null ? '' : u.email)

summary(() => {
  bench('direct: SqliteUserStore.get', () => body(sqlite.get(next())))
  bench('seam: andThen(users.get(id), …) (the routes)', () => andThen(users.get(next()), body))
  bench('all-async: await users.get(id)', async () => body(await users.get(next())))
})
await run()
sqlite.close()
rmSync(dir, { recursive: true, force: true })
