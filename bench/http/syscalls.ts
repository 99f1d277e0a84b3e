/**
 * Syscalls per answer: highperf (full stack, from source) against raw `Bun.serve` on one URL path,
 * counted with `strace -f -c` attached to the running server while wrk sends load, divided by the
 * requests wrk completed. The issue 16 measure of the files route (a 4 KB file cost 23.4 syscalls
 * against 10.2 for raw `Bun.serve`'s `Bun.file`). strace slows the server down a lot: counts per
 * request are the figure, not the throughput.
 *
 * Needs strace and wrk (apt-get install strace wrk).
 *
 * @example
 * ```sh
 * bun bench/http/syscalls.ts /files/4k.bin   # the default
 * bun bench/http/syscalls.ts /healthz
 * # and a column for another tree (a `git archive` of an earlier commit, node_modules linked in):
 * git archive 8d23c45 | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/
 * BASE=/tmp/base bun bench/http/syscalls.ts
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startServer, stop } from '../lib/server.ts'
import { wrk } from '../lib/wrk.ts'
import { prepareFiles } from '../peers/setup.ts'

const ROOT = resolve(import.meta.dir, '../..')
const path = Bun.argv[2] ?? '/files/4k.bin'
for (const tool of ['strace', 'wrk']) {
  if (Bun.which(tool) === null) {
    console.error(`bench/http/syscalls: ${tool} is missing (apt-get install ${tool})`)
    process.exit(1)
  }
}
const tmp = mkdtempSync(join(tmpdir(), 'highperf-syscalls-'))
const files = prepareFiles(join(tmp, 'files'))

/** syscall name -> calls, from `strace -c` output. */
function parseStrace(out: string): Map<string, number> {
  const calls = new Map<string, number>()
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/)
    // % time, seconds, usecs/call, calls, [errors], syscall
    if (cols.length < 5 || !/^\d/.test(cols[0] ?? '') || cols.at(-1) === 'total') continue
    calls.set(cols.at(-1) as string, Number(cols[3]))
  }
  return calls
}

async function count(name: string, cmd: string[], env: Record<string, string>, cwd = ROOT): Promise<{ name: string; perRequest: Map<string, number>; total: number }> {
  const s = await startServer({ cmd, env, cwd, cpu: '0' })
  try {
    await wrk(`${s.url}${path}`, { seconds: 1, connections: 8, cpu: '1' }) // warm-up
    const out = join(tmp, `${name.replace(/\W+/g, '-')}.strace`)
    const tracer = Bun.spawn(['strace', '-f', '-c', '-o', out, '-p', String(s.proc.pid)], { stderr: 'ignore' })
    await Bun.sleep(1000) // attaching to every thread takes a moment
    const r = await wrk(`${s.url}${path}`, { seconds: 3, connections: 8, cpu: '1' })
    tracer.kill('SIGINT')
    await tracer.exited
    const calls = parseStrace(await Bun.file(out).text())
    const perRequest = new Map([...calls].map(([k, v]) => [k, v / r.requests] as const))
    return { name, perRequest, total: [...perRequest.values()].reduce((a, b) => a + b, 0) }
  } finally {
    await stop(s.proc)
  }
}

const highperfEnv = (dir: string) => ({
  DATA_DIR: join(tmp, dir), FILES_DIR: files, WORKERS: '1', LOG_LEVEL: 'info', ACCESS_LOG: join(tmp, `${dir}.log`),
  RATE_LIMIT_RPS: '100000000', RATE_LIMIT_BURST: '100000000',
})
const results = [
  await count('raw Bun.serve', [process.execPath, 'bench/http/raw.ts'], { RAW_FILES: files, RAW_DB: join(tmp, 'raw.sqlite') }),
  await count('highperf, full stack', [process.execPath, 'src/main.ts'], highperfEnv('data')),
]
if (process.env.BASE) results.push(await count(`highperf at ${process.env.BASE}`, [process.execPath, 'src/main.ts'], highperfEnv('base'), process.env.BASE))
rmSync(tmp, { recursive: true, force: true })
const names = [...new Set(results.flatMap((r) => [...r.perRequest].filter(([, v]) => v >= 0.05).map(([k]) => k)))].sort()
console.log(`syscalls per answer of GET ${path} (strace -f -c, wrk -c8 for 3 s, servers pinned to CPU 0)\n`)
console.log(`| syscall | ${results.map((r) => r.name).join(' | ')} |`)
console.log(`| --- | ${results.map(() => '---:').join(' | ')} |`)
for (const n of names) console.log(`| ${n} | ${results.map((r) => (r.perRequest.get(n) ?? 0).toFixed(2)).join(' | ')} |`)
console.log(`| **total** | ${results.map((r) => `**${r.total.toFixed(1)}**`).join(' | ')} |`)
