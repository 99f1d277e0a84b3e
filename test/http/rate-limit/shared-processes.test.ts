// The shared rate limiter across real processes: several processes map one table file and
// consume one key as fast as they can; SIGKILL does not wedge the others. The HTTP check (two
// highperf servers on one port) is in shared-http.test.ts.
import { afterAll, describe, expect, test } from 'bun:test'
import { tableFile } from './support.ts'

const HAMMER = `${import.meta.dir}/hammer.ts`
const RPS = 200
const BURST = 50
const files: { remove(): void }[] = []
const children: Bun.Subprocess[] = []
afterAll(() => {
  for (const c of children) c.kill('SIGKILL')
  for (const f of files) f.remove()
})

function spawn(args: string[]): Bun.Subprocess<'ignore', 'pipe', 'pipe'> {
  const p = Bun.spawn([process.execPath, HAMMER, ...args], { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  children.push(p)
  return p
}

async function result(p: Bun.Subprocess<'ignore', 'pipe', 'pipe'>): Promise<{ allowed: number; checks: number }> {
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`hammer exited ${code}: ${err}`)
  return JSON.parse(out)
}

/** Spawns `n` hammers on one key over `ms`, starting together once all have loaded. */
function hammers(path: string, n: number, ms: number) {
  const start = Date.now() + 1500
  const end = start + ms
  return { procs: Array.from({ length: n }, () => spawn(['hammer', path, 'client', String(RPS), String(BURST), String(start), String(end)])), ms }
}

// What one key may be granted over `ms` between all processes: the burst and the refill, plus
// the "within one burst" tolerance (shared-limiter.ts).
const bound = (ms: number) => BURST + (RPS * ms) / 1000 + BURST

describe('one table, several processes', () => {
  for (const n of [2, 4]) {
    test(`${n} processes consuming one key get one allowance between them`, async () => {
      const f = tableFile(); files.push(f)
      const { procs, ms } = hammers(f.path, n, 1000)
      const results = await Promise.all(procs.map(result))
      const total = results.reduce((s, r) => s + r.allowed, 0)
      // Each process alone would be granted ~BURST + RPS x 1 s: n times that without the table.
      expect(total).toBeLessThanOrEqual(bound(ms))
      expect(total).toBeGreaterThanOrEqual(BURST)
      for (const r of results) expect(r.checks).toBeGreaterThan(100) // everyone ran, nobody was wedged
    }, 30_000)
  }

  test('a process killed while holding a slot lock does not wedge the others', async () => {
    const f = tableFile(); files.push(f)
    const wedger = spawn(['wedge', f.path, 'client', String(RPS), String(BURST)])
    const reader = wedger.stdout.getReader()
    const { value } = await reader.read()
    expect(new TextDecoder().decode(value)).toContain('wedged')
    wedger.kill('SIGKILL')
    await wedger.exited
    const { procs, ms } = hammers(f.path, 2, 1000)
    const results = await Promise.all(procs.map(result))
    const total = results.reduce((s, r) => s + r.allowed, 0)
    expect(total).toBeGreaterThanOrEqual(BURST - 1) // the wedged holder had taken one token
    expect(total).toBeLessThanOrEqual(bound(ms))
  }, 30_000)

  test('a process SIGKILLed mid-hammer does not stop the others', async () => {
    const f = tableFile(); files.push(f)
    const { procs, ms } = hammers(f.path, 3, 1500)
    const victim = procs[0] as Bun.Subprocess<'ignore', 'pipe', 'pipe'>
    await Bun.sleep(1500 + 500)
    victim.kill('SIGKILL')
    expect(await victim.exited).not.toBe(0)
    const results = await Promise.all(procs.slice(1).map(result))
    for (const r of results) expect(r.checks).toBeGreaterThan(100)
    expect(results.reduce((s, r) => s + r.allowed, 0)).toBeLessThanOrEqual(bound(ms))
  }, 30_000)
})
