/**
 * The compiled binary for tests that run it, built once per `bun test` run (every test file runs
 * in one process): `scripts/build.ts --no-bytecode-order` (one pass; test/binary.test.ts tests the
 * build itself with its default flags). Each caller gets its own copy, alone in an empty directory,
 * as an operator would run it.
 *
 * @example
 * ```ts
 * const binary = binaryAlone(join(tmp.dir, 'run')) // <dir>/highperf, the directory's only file
 * ```
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dir, '../..')
let built: string | undefined

/** Builds the binary on first use (throws with the build's output if it fails); its path. */
function buildOnce(): string {
  if (built !== undefined) return built
  const out = join(mkdtempSync(join(tmpdir(), 'highperf-build-')), 'highperf')
  const b = Bun.spawnSync([process.execPath, 'run', 'scripts/build.ts', '--no-bytecode-order', '--outfile', out], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  if (b.exitCode !== 0) throw new Error(`build failed (${b.exitCode}):\n${b.stdout.toString()}\n${b.stderr.toString()}`)
  built = out
  return out
}

/** Copies the binary into `dir` (created, must not exist) as its only file; returns its path. */
export function binaryAlone(dir: string): string {
  const binary = join(dir, 'highperf')
  const src = buildOnce()
  mkdirSync(dir)
  copyFileSync(src, binary)
  chmodSync(binary, 0o755)
  if (readdirSync(dir).length !== 1) throw new Error(`${dir} holds more than the binary`)
  return binary
}
