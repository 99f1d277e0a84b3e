/**
 * SharedCounts (several processes on one jobs.sqlite): `fresh()`, what /metrics reads, answers
 * counts at most ALL_MAX_AGE_MS old, whereas `all()` (the status page) answers the last read and
 * refreshes behind. Found by test/cluster/metrics-whole-host.test.ts: a scrape got the counts of
 * the scrape before (0 succeeded after 3 jobs succeeded).
 */
import { expect, test } from 'bun:test'
import { ALL_MAX_AGE_MS, SharedCounts } from '../../src/jobs/shared-counts.ts'
import type { JobState } from '../../src/jobs/model.ts'

function fakeStore() {
  const store = {
    succeeded: 0,
    reads: 0,
    async count() { return 0 },
    async counts(): Promise<Record<JobState, number>> {
      store.reads++
      await Bun.sleep(1)
      return { queued: 0, running: 0, succeeded: store.succeeded, failed: 0, canceled: 0 }
    },
  }
  return store
}

test('fresh() reads again once the last read is older than ALL_MAX_AGE_MS; all() answers the last read', async () => {
  let now = 1_000_000
  const store = fakeStore()
  const counts = new SharedCounts(store, () => now)
  await counts.load()
  store.succeeded = 3
  now += ALL_MAX_AGE_MS + 1
  expect(counts.all().succeeded).toBe(0) // the last read; refreshing behind
  await Bun.sleep(5)
  store.succeeded = 5
  now += ALL_MAX_AGE_MS + 1
  expect((await counts.fresh()).succeeded).toBe(5)
  // Within the age: no read.
  const reads = store.reads
  store.succeeded = 6
  expect((await counts.fresh()).succeeded).toBe(5)
  expect(store.reads).toBe(reads)
})

test('concurrent fresh() calls share one read', async () => {
  let now = 1_000_000
  const store = fakeStore()
  const counts = new SharedCounts(store, () => now)
  await counts.load()
  now += ALL_MAX_AGE_MS + 1
  store.succeeded = 2
  const reads = store.reads
  const all = await Promise.all([counts.fresh(), counts.fresh(), counts.fresh()])
  expect(all.map((c) => c.succeeded)).toEqual([2, 2, 2])
  expect(store.reads).toBe(reads + 1)
})
