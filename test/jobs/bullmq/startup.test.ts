// JOBS_URL that does not answer at start: a StartupError naming the URL (password masked) and the fix, nothing left running.
import { expect, test } from 'bun:test'
import { join } from 'node:path'
import { buildDeps } from '../../../src/deps.ts'
import { testConfig } from '../../../src/config.ts'
import { silentLogger } from '../../../src/log.ts'
import { StartupError } from '../../../src/startup/error.ts'
import { tempDir } from '../../support/deps.ts'
import { freePort } from '../../support/process.ts'

test('a JOBS_URL nobody answers on is a start-up error naming it, its password masked', async () => {
  const tmp = tempDir('highperf-jobs-url-')
  const url = `redis://:s3cret@127.0.0.1:${freePort()}`
  try {
    const err = await buildDeps(testConfig({ dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1, jobsUrl: url, shutdownTimeout: 500, startWait: 1000 }), silentLogger()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StartupError)
    const e = err as StartupError
    expect(e.code).toBe('jobs_url')
    expect(e.message).toContain('JOBS_URL redis://:***@127.0.0.1')
    expect(e.message).not.toContain('s3cret')
    expect(e.message).toContain('unset: jobs on bun:sqlite')
  } finally {
    tmp.remove()
  }
}, 30_000)
