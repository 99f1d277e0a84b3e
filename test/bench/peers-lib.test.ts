/**
 * The pieces bench/peers computes its table with: the process tree's CPU time and memory from
 * /proc, the SVG chart, the files and wrk script it prepares.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cpuSeconds, processTree, rssMb } from '../../bench/lib/proc.ts'
import { barChart } from '../../bench/peers/chart.ts'
import { prepareFiles, userPostScript } from '../../bench/peers/setup.ts'

const tmp = mkdtempSync(join(tmpdir(), 'highperf-peers-lib-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('bench/lib/proc', () => {
  test('a process tree holds the children, and its CPU time grows while a child works', async () => {
    // A parent shell whose child spins for a moment: the tree is both, the CPU time is the child's.
    const spin = `${process.execPath} -e "const end = Date.now() + 1500; while (Date.now() < end) {}"`
    const parent = Bun.spawn(['sh', '-c', `${spin}; sleep 5`], { stdout: 'ignore' })
    try {
      await Bun.sleep(200)
      const tree = processTree(parent.pid)
      expect(tree[0]).toBe(parent.pid)
      expect(tree.length).toBeGreaterThanOrEqual(2)
      const before = cpuSeconds(tree)
      await Bun.sleep(600)
      expect(cpuSeconds(processTree(parent.pid))).toBeGreaterThan(before)
      expect(rssMb(tree)).toBeGreaterThan(0)
    } finally {
      parent.kill('SIGKILL')
      await parent.exited
    }
  })

  test('a gone process counts for nothing', () => {
    expect(cpuSeconds([2 ** 22 + 12345])).toBe(0)
    expect(rssMb([2 ** 22 + 12345])).toBe(0)
    expect(processTree(2 ** 22 + 12345)).toEqual([2 ** 22 + 12345])
  })
})

describe('bench/peers/chart', () => {
  test('one bar per value, scaled to the largest of its group, with its figure and a legend', () => {
    const svg = barChart([
      { group: 'GET /healthz', label: 'a', value: 100, text: '100' },
      { group: 'GET /healthz', label: 'b', value: 50, text: '50' },
      { group: 'GET 1 MB file', label: 'a', value: 2, text: '2' },
      { group: 'GET 1 MB file', label: 'b', value: Number.NaN, text: 'n/a' },
    ], { title: 'req/s <1 core>', series: ['a', 'b'] })
    expect(svg).toStartWith('<svg xmlns="http://www.w3.org/2000/svg"')
    expect(svg).toContain('req/s &lt;1 core&gt;')
    const widths = [...svg.matchAll(/<rect x="150" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]))
    expect(widths).toEqual([460, 230, 460, 0])
    expect(svg).toContain('>GET 1 MB file</text>')
    expect(svg.match(/<rect x="\d+(?:\.\d+)?" y="\d+" width="12"/g)).toHaveLength(2)
  })
})

describe('bench/peers/setup', () => {
  test('the served files have their sizes and the same bytes every time', () => {
    prepareFiles(join(tmp, 'a'))
    prepareFiles(join(tmp, 'b'))
    expect(statSync(join(tmp, 'a', '4k.bin')).size).toBe(4096)
    expect(statSync(join(tmp, 'a', '1m.bin')).size).toBe(1 << 20)
    expect(readFileSync(join(tmp, 'a', '1m.bin')).equals(readFileSync(join(tmp, 'b', '1m.bin')))).toBe(true)
  })

  test('the POST /users script makes a new email per request, told apart by its tag', () => {
    const lua = userPostScript('run7')
    expect(lua).toContain('"email":"urun7-\' .. n .. \'@example.com"')
    expect(lua).toContain('n = n + 1')
  })
})
