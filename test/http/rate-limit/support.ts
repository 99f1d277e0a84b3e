/**
 * Test support for the shared rate-limit table: zero-filled table files in /dev/shm (or the
 * temporary directory) that the test removes.
 *
 * @example
 * ```ts
 * const file = tableFile(4096)
 * try { new SharedRateLimiter({ table: file.path, rps: 1, burst: 4 }) } finally { file.remove() }
 * ```
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let made = 0

/** A new zero-filled file of `bytes` bytes, where the cluster primary would make it. */
export function tableFile(bytes = 4 * 1024 * 1024): { path: string; remove(): void } {
  const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
  const path = join(dir, `highperf-rate-test-${process.pid}-${made++}-${Date.now()}`)
  writeFileSync(path, new Uint8Array(bytes))
  return { path, remove: () => rmSync(path, { force: true }) }
}
