// `bun run dev` restarts the server when a task file changes (the tasks live in the workers'
// import graph, which `bun --watch` does not follow by itself: scripts/dev.ts). A copy of the
// project in a temporary directory is run and its task file edited for real.
import { afterAll, expect, test } from 'bun:test'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitHealthy } from './support/process.ts'

const ROOT = join(import.meta.dir, '..')
const copy = mkdtempSync(join(tmpdir(), 'highperf-dev-'))
let proc: ReturnType<typeof Bun.spawn> | undefined
afterAll(async () => {
  proc?.kill('SIGKILL')
  await proc?.exited
  rmSync(copy, { recursive: true, force: true })
})

async function echoSummary(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/tasks`, { signal: AbortSignal.timeout(2000) })
    const { tasks } = (await res.json()) as { tasks: Array<{ name: string; summary: string }> }
    return tasks.find((t) => t.name === 'echo')?.summary
  } catch {
    return undefined // restarting
  }
}

test('editing a task file while `bun run dev` runs restarts the server with the new task code', async () => {
  for (const f of ['src', 'scripts', 'package.json', 'tsconfig.json', 'bunfig.toml']) cpSync(join(ROOT, f), join(copy, f), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'))
  const port = freePort()
  proc = Bun.spawn([process.execPath, 'run', 'dev'], {
    cwd: copy,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(copy, 'data'), WORKERS: '1', ACCESS_LOG: 'off', LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT: '2s' },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'ignore',
  })
  await waitHealthy(`http://127.0.0.1:${port}/readyz`, proc, 30_000)
  expect(await echoSummary(port)).toBe('Returns its input unchanged (measures the pool overhead)')

  const file = join(copy, 'src/tasks/echo.ts')
  writeFileSync(file, readFileSync(file, 'utf8').replace(/summary: '[^']*'/, "summary: 'edited while running'"))
  let summary: string | undefined
  for (let i = 0; i < 150 && summary !== 'edited while running'; i++) {
    await Bun.sleep(200)
    summary = await echoSummary(port)
  }
  expect(summary).toBe('edited while running')
  // Still the same `bun run dev`: it restarted the server, it did not exit.
  expect(proc.exitCode).toBeNull()
}, 90_000)
