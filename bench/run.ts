/**
 * `bun run bench [name ...]`: runs every benchmark `bench/<name>/index.ts` in turn (or only the
 * named ones), each in its own process, then prints the concatenated results. Each benchmark
 * writes its table to `bench/results/<name>.md` (and may add `<name>-*.md`); the summary is also written to
 * `bench/results/SUMMARY.md`.
 *
 * @example
 * ```sh
 * bun run bench            # all of them, alphabetical
 * bun run bench http pool  # just these two
 * ```
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const BENCH = import.meta.dir
const RESULTS = join(BENCH, 'results')

/** Names of the benchmarks: the folders of bench/ with an index.ts. */
export function benchmarks(): string[] {
  return readdirSync(BENCH, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(BENCH, d.name, 'index.ts')))
    .map((d) => d.name)
    .sort()
}

if (import.meta.main) {
  const all = benchmarks()
  const wanted = Bun.argv.slice(2)
  const unknown = wanted.filter((n) => !all.includes(n))
  if (unknown.length > 0) {
    process.stderr.write(`bench: no benchmark named ${unknown.join(', ')}; there are: ${all.join(', ')}\n`)
    process.exit(2)
  }
  const selected = wanted.length > 0 ? wanted : all
  mkdirSync(RESULTS, { recursive: true })
  const failed: string[] = []
  const sections: string[] = []
  for (const name of selected) {
    const result = join(RESULTS, `${name}.md`)
    // A stale table from an earlier run must not pass for this run's.
    rmSync(result, { force: true })
    process.stdout.write(`\n=== bench/${name} ===\n`)
    const started = performance.now()
    const startedAt = Date.now() - 1000
    const proc = Bun.spawn([process.execPath, join(BENCH, name, 'index.ts')], { cwd: join(BENCH, '..'), stdout: 'inherit', stderr: 'inherit' })
    const code = await proc.exited
    const secs = ((performance.now() - started) / 1000).toFixed(0)
    if (code !== 0 || !existsSync(result)) {
      failed.push(name)
      sections.push(`## ${name}\n\nFAILED (exit ${code}${existsSync(result) ? '' : `, no ${name}.md written`}) after ${secs} s\n`)
    } else {
      // <name>.md first, then any <name>-*.md the benchmark wrote in this run (e.g. jobs-store.md).
      const extra = readdirSync(RESULTS)
        .filter((f) => f.startsWith(`${name}-`) && f.endsWith('.md') && statSync(join(RESULTS, f)).mtimeMs >= startedAt)
        .sort()
      for (const f of [`${name}.md`, ...extra]) sections.push(readFileSync(join(RESULTS, f), 'utf8').trimEnd() + '\n')
    }
  }
  const summary = `# Benchmark results\n\n${sections.join('\n')}`
  writeFileSync(join(RESULTS, 'SUMMARY.md'), summary)
  process.stdout.write(`\n\n${summary}`)
  if (failed.length > 0) {
    process.stderr.write(`bench: failed: ${failed.join(', ')}\n`)
    process.exit(1)
  }
}
