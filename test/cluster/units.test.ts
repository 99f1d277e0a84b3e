/**
 * The primary's small parts on their own: the restart backoff (doubling from 100 ms to 10 s, reset
 * after 30 s ready), the rate-limit table file (4 MiB of zeros, named with the pid, stale ones of
 * dead primaries removed), and tcp_migrate_req (left alone when on, turned on when possible, a
 * warning naming the fix when not).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { Backoff } from '../../src/cluster/backoff.ts'
import { createRateTable, RATE_TABLE_BYTES } from '../../src/cluster/rate-table.ts'
import { ensureTcpMigrateReq } from '../../src/cluster/tcp-migrate.ts'
import { withoutFileCapabilities } from '../support/process.ts'
import { tempDir } from './support.ts'

const tmp = tempDir()
afterAll(() => tmp.remove())

/** A logger whose lines are kept. */
function capture(): { log: pino.Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = []
  const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s) as { level: number; msg: string }) } })
  return { log, lines }
}

describe('Backoff', () => {
  test('doubles from 100 ms to at most 10 s', () => {
    const b = new Backoff()
    expect(Array.from({ length: 10 }, () => b.next(0))).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000])
  })

  test('starts over once the process that died had been ready for 30 s', () => {
    const b = new Backoff()
    b.next(0); b.next(1000); b.next(29_999)
    expect(b.next(29_999)).toBe(800)
    expect(b.next(30_000)).toBe(100)
    expect(b.next(5)).toBe(200)
  })
})

describe('the rate-limit table file', () => {
  test('4 MiB of zeros named with the pid; remove() unlinks it; stale files of dead primaries are removed', () => {
    const { log } = capture()
    const stale = join(tmp.dir, 'highperf-rate-999999999')
    const other = join(tmp.dir, 'unrelated')
    writeFileSync(stale, 'x')
    writeFileSync(other, 'x')
    const table = createRateTable(log, tmp.dir)
    expect(table.path).toBe(join(tmp.dir, `highperf-rate-${process.pid}`))
    expect(statSync(table.path).size).toBe(RATE_TABLE_BYTES)
    expect(readFileSync(table.path).every((b) => b === 0)).toBe(true)
    expect(existsSync(stale)).toBe(false)
    expect(existsSync(other)).toBe(true)
    table.remove()
    table.remove()
    expect(existsSync(table.path)).toBe(false)
  })
})

describe('tcp_migrate_req', () => {
  test('already 1: left alone, nothing logged', () => {
    const { log, lines } = capture()
    const path = join(tmp.dir, 'on')
    writeFileSync(path, '1\n')
    expect(ensureTcpMigrateReq(log, path)).toBe('was-on')
    expect(lines).toEqual([])
  })

  test('0 and writable: set to 1, and said so', () => {
    const { log, lines } = capture()
    const path = join(tmp.dir, 'off')
    writeFileSync(path, '0\n')
    expect(ensureTcpMigrateReq(log, path)).toBe('turned-on')
    expect(readFileSync(path, 'utf8').trim()).toBe('1')
    expect(lines.map((l) => l.msg)).toEqual([expect.stringContaining('set net.ipv4.tcp_migrate_req=1')])
  })

  test('0 and not writable: one warning naming the fixes', async () => {
    const path = join(tmp.dir, 'readonly')
    writeFileSync(path, '0\n')
    chmodSync(path, 0o444)
    // As root the file is writable whatever its mode: run the check without that power.
    const cmd = withoutFileCapabilities([process.execPath, '-e', `
      import pino from 'pino'
      import { ensureTcpMigrateReq } from '${join(import.meta.dir, '../../src/cluster/tcp-migrate.ts')}'
      console.log(ensureTcpMigrateReq(pino({ level: 'info' }), ${JSON.stringify(path)}))`])
    if (!cmd) return // root without setpriv: cannot take the power away
    const p = Bun.spawnSync(cmd, { cwd: join(import.meta.dir, '../..'), stdout: 'pipe', stderr: 'pipe' })
    const out = p.stdout.toString().trim().split('\n')
    expect(out.at(-1)).toBe('off')
    const warning = JSON.parse(out[0]!) as { level: number; msg: string }
    expect(warning.level).toBe(40)
    for (const fix of ['sysctl -w net.ipv4.tcp_migrate_req=1', '/etc/sysctl.d/', 'docker run --sysctl net.ipv4.tcp_migrate_req=1', 'CAP_NET_ADMIN']) expect(warning.msg).toContain(fix)
    expect(readFileSync(path, 'utf8').trim()).toBe('0')
  })

  test('missing (not Linux, an old kernel): a warning, nothing else', () => {
    const { log, lines } = capture()
    expect(ensureTcpMigrateReq(log, join(tmp.dir, 'missing'))).toBe('unknown')
    expect(lines).toHaveLength(1)
    expect(lines[0]!.level).toBe(40)
  })
})
