/**
 * Preloaded before every test file (bunfig.toml `[test] preload`): the per-test timeout for tests
 * that set none. Why: integration tests start real servers, workers, browsers and databases; at
 * Bun's 5 s default they failed when the machine was loaded (main.test.ts's graceful shutdown waits
 * on a 3 s request, and at a load average of 16 its process took seconds to start). bunfig's
 * `[test] timeout` key, which this project set before, is not read by Bun 1.4.5.
 *
 * @example
 * ```toml
 * [test]
 * preload = ["./test/support/default-timeout.ts"]
 * ```
 */
import { setDefaultTimeout } from 'bun:test'

setDefaultTimeout(60_000)
