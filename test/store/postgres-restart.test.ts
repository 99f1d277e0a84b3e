/**
 * `DATABASE_URL=postgres://…` (users and messages through Bun.sql, src/store/postgres/) when
 * PostgreSQL restarts, with a real highperf process and a PostgreSQL cluster of the test's own
 * (test/support/services.ts), so the shared 5432 is never stopped:
 *
 * - stopped (`pg_ctl stop -m immediate`) and SIGKILLed under load: users and messages routes
 *   answer 503 `storage_unavailable` (or `circuit_open` once a route's breaker opens) with
 *   Retry-After, never a 500 or a hang; /healthz 200 throughout; the pool reconnects by itself;
 *   every user answered 201 is there afterwards;
 * - down at start: the server waits for it (up to START_WAIT) and starts when it comes; still down after
 *   that, exit 1 with one line.
 */
import { expect, test } from 'bun:test'
import { privatePostgres } from '../support/services.ts'
import { OutageRun, expectCleanExit, expectCleanOutage, expectWaitAtStart, healthFigures, startHighperf, type Answer } from '../support/outage.ts'
import { freePort } from '../support/process.ts'

const db = privatePostgres('the PostgreSQL restart tests')
const describePg = db.describe

interface UserView { id: number; email: string }

describePg('DATABASE_URL while PostgreSQL restarts', () => {
  test('stopped (immediate) then SIGKILLed under load: 503 storage_unavailable, never a 500 or a hang; reconnects by itself; every user answered 201 is kept', async () => {
    const srv = await startHighperf({ DATABASE_URL: db.pg().url() })
    const run = new OutageRun(srv.base)
    const created: UserView[] = []
    let n = 0
    const keep = (a: Answer) => { if (a.status === 201) created.push(a.body as UserView) }
    run.loop('create', () => ({ path: '/users', method: 'POST', body: { name: `u${n}`, email: `u${n++}@restart.test` } }), keep, 10)
    run.loop('read', () => created.length === 0 ? undefined : { path: `/users/${created[Math.floor(Math.random() * created.length)]!.id}` }, undefined, 10)
    run.loop('list', () => ({ path: '/users?limit=5' }), undefined, 50)
    run.loop('messages', () => ({ path: '/messages?limit=5' }), undefined, 100)
    const recovered: number[] = []
    recovered.push(await run.outage('create', 201, 'read', () => db.pg().stop(), () => db.pg().start()))
    recovered.push(await run.outage('create', 201, 'read', () => db.pg().kill(), () => db.pg().start()))
    await run.stop()
    console.log(`DATABASE_URL outage: ${run.summary()}; ${healthFigures(run)}; first 201 ${recovered.map((ms) => ms.toFixed(0)).join(' / ')} ms after each return; ${created.length} users created`)
    expectCleanOutage(run, ['storage_unavailable', 'circuit_open'], [200, 201])
    // Nothing answered 201 is lost: each is there, through the server and in PostgreSQL itself.
    const missing: number[] = []
    for (const u of created) if ((await fetch(`${srv.base}/users/${u.id}`)).status !== 200) missing.push(u.id)
    expect(missing).toEqual([])
    const stored = new Set(db.pg().psql('SELECT email FROM users').split('\n'))
    expect(created.filter((u) => !stored.has(u.email))).toEqual([])
    await expectCleanExit(srv)
  }, 120_000)

  test('down at start: the server waits for it and starts when it comes; still down after START_WAIT (3 s here), exit 1 with one line', async () => {
    await db.pg().stop()
    await expectWaitAtStart({
      setting: 'DATABASE_URL', url: db.pg().url(), start: () => db.pg().start(),
      nowhere: `postgres://app:s3cret@127.0.0.1:${freePort()}/nowhere`, printed: 'DATABASE_URL postgres://app:***@127.0.0.1:',
      whenReady: async (base) => { expect((await fetch(`${base}/users?limit=1`)).status).toBe(200) },
    })
  }, 60_000)
})
