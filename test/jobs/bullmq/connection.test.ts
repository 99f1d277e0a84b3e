/**
 * openBackend's PostgreSQL backend (src/jobs/bullmq/connection.ts) against a PostgreSQL of the
 * test's own, stopped and started by the test: BullMQ 6.7 memoizes a failed start-up, so a Queue
 * or Worker created while PostgreSQL was away never worked again; through openBackend it works as
 * soon as PostgreSQL is back. Also: within the start window, a refused connection is retried.
 */
import { expect, test } from 'bun:test'
import { openBackend } from '../../../src/jobs/bullmq/connection.ts'
import { privatePostgres } from '../../support/services.ts'

const db = privatePostgres('the PostgreSQL connection tests')
const describePg = db.describe

describePg('openBackend(postgres://…) when PostgreSQL is away', () => {
  test('a Queue and a Worker created while it is down start once it is back (no memoized failure), no uncaught error', async () => {
    await db.pg().stop()
    const backend = openBackend(db.pg().url(), { namespace: 'conn_test', startWaitMs: 0 })
    const queue = new backend.Queue('q', backend.queueOptions())
    queue.on('error', () => {})
    const ran: string[] = []
    const worker = new backend.Worker('q', async (job) => { ran.push(String(job.id)) }, { ...backend.blockingOptions(), runRetryDelay: 100 } as never)
    worker.on('error', () => {})
    try {
      expect(await queue.waitUntilReady().then(() => 'ready', (err: Error) => err.message)).toContain('ECONNREFUSED')
      await Bun.sleep(500)
      await db.pg().start()
      await queue.waitUntilReady()
      const job = await queue.add('j', {})
      for (let i = 0; !ran.includes(String(job.id)); i++) {
        if (i > 200) throw new Error('the worker never ran the job: its failed start stuck')
        await Bun.sleep(50)
      }
    } finally {
      await worker.close()
      await queue.close()
      await backend.close()
    }
  }, 30_000)

  test('at start a refused connection is retried within startWaitMs', async () => {
    await db.pg().stop()
    const backend = openBackend(db.pg().url(), { namespace: 'conn_test', startWaitMs: 8000 })
    const queue = new backend.Queue('q', backend.queueOptions())
    queue.on('error', () => {})
    try {
      const ready = queue.waitUntilReady()
      await Bun.sleep(1000)
      await db.pg().start()
      await ready
    } finally {
      await queue.close()
      await backend.close()
    }
  }, 30_000)
})
