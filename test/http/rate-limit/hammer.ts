/**
 * A child process for the cross-process tests of the shared rate limiter (spawned by
 * shared-processes.test.ts, not a test itself).
 *
 * `hammer PATH KEY RPS BURST START_AT END_AT`: waits until START_AT (epoch ms), consumes KEY as
 * fast as it can until END_AT, prints `{"allowed":n,"checks":n}`.
 * `wedge PATH KEY RPS BURST`: takes the key's slot, then leaves its lock held as a process
 * SIGKILLed inside the critical section would, prints `wedged` and waits to be killed.
 *
 * @example bun test/http/rate-limit/hammer.ts hammer /dev/shm/t k 100 50 1700000000000 1700000001000
 */
import { SharedRateLimiter } from '../../../src/http/rate-limit/shared-limiter.ts'

const [mode, path, key, rps, burst, startAt, endAt] = process.argv.slice(2)
const limiter = new SharedRateLimiter({ table: path as string, rps: Number(rps), burst: Number(burst) })
if (mode === 'wedge') {
  limiter.consume(key as string)
  limiter.table.wedge(limiter.slotOf(key as string))
  console.log('wedged')
  setInterval(() => {}, 1000)
} else {
  const start = Number(startAt)
  const end = Number(endAt)
  while (Date.now() < start) await Bun.sleep(1)
  let allowed = 0
  let checks = 0
  while (Date.now() < end) {
    if (limiter.consume(key as string).allowed) allowed++
    checks++
  }
  console.log(JSON.stringify({ allowed, checks }))
}
