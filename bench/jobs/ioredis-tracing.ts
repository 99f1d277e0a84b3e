/**
 * bench/jobs/ioredis-tracing.ts: what ioredis 6's per-command tracing costs on Bun 1.4.5 while
 * nobody listens, and what src/node-compat.ts saves. Calls ioredis's own `traceCommand`
 * with the context a BullMQ moveToFinished builds (14 keys, 9 arguments, two of them Buffers),
 * 200 000 times, in a fresh process per variant, alternating; CPU µs per command, medians. No Redis.
 *
 * @example
 * ```sh
 * bun bench/jobs/ioredis-tracing.ts   # ROUNDS=5
 * ```
 */
import { fillTracingChannelHasSubscribers } from '../../src/node-compat.ts'
import { writeResult } from '../lib/report.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 5)
const N = 200_000

interface Tracing {
  traceCommand(fn: () => Promise<number>, ctx: () => unknown): Promise<number>
  sanitizeArgs(name: string, args: unknown[]): string[]
}

async function child(fill: boolean): Promise<void> {
  if (fill) fillTracingChannelHasSubscribers()
  const { traceCommand, sanitizeArgs } = (await import('ioredis/built/tracing.js')) as unknown as Tracing
  const args = [...Array.from({ length: 14 }, (_, i) => `bull:highperf:key${i}`), '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', String(Date.now()), 'returnvalue', '"{\\"value\\":1}"', 'completed', '1', 'bull:highperf:', Buffer.alloc(120, 7), Buffer.alloc(40, 1)]
  let sink = 0
  const t0 = process.cpuUsage()
  for (let i = 0; i < N; i++) {
    const p = Promise.resolve(i)
    void traceCommand(() => p, () => ({ command: 'evalsha', args: sanitizeArgs('evalsha', args), database: 0, serverAddress: '127.0.0.1', serverPort: 6379 })).then((v) => { sink += v })
    if (i % 1000 === 0) await Promise.resolve()
  }
  await Bun.sleep(0)
  const u = process.cpuUsage(t0)
  process.stdout.write(String(sink > 0 ? (u.user + u.system) / N : NaN))
}

if (process.argv[2] === 'child') {
  await child(process.argv[3] === 'fill')
  process.exit(0)
}

const runs: Record<'as is' | 'with the getter', number[]> = { 'as is': [], 'with the getter': [] }
for (let r = 0; r < ROUNDS; r++) {
  for (const v of r % 2 ? (['with the getter', 'as is'] as const) : (['as is', 'with the getter'] as const)) {
    const p = Bun.spawnSync([process.execPath, import.meta.path, 'child', v === 'as is' ? 'none' : 'fill'])
    runs[v].push(Number(p.stdout.toString()))
  }
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const md = [
  `Command: \`bun bench/jobs/ioredis-tracing.ts\` (ROUNDS=${ROUNDS}, ${N} commands per run). Bun ${Bun.version}, ${new Date().toISOString()}. Median CPU per command.`,
  '',
  '| ioredis tracing (nobody subscribed) | µs per command |',
  '| --- | ---: |',
  `| as is on Bun (hasSubscribers undefined: traced) | ${med(runs['as is']).toFixed(2)} |`,
  `| with src/node-compat.ts (skipped) | ${med(runs['with the getter']).toFixed(2)} |`,
  '',
].join('\n')
writeResult('jobs-ioredis-tracing', md)
