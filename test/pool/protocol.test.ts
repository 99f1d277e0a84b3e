/**
 * The wire protocol is one file both sides share (src/pool/protocol.ts): the main thread never
 * loads the worker entrypoint, which starts a worker loop at import, and never depends on it for
 * its types either.
 */
import { expect, test } from 'bun:test'
import { Glob } from 'bun'
import { readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const WORKER = 'src/pool/worker.ts'

/** Every module specifier of a file's import and export-from statements, type-only ones included. */
function specifiers(text: string): string[] {
  return [...text.matchAll(/\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]/g)]
    .map((m) => (m[1] ?? m[2]) as string)
}

test('no source file but the worker entrypoint itself imports src/pool/worker.ts, not even for a type', () => {
  const files = [...new Glob('src/**/*.ts').scanSync(ROOT)].sort()
  const relative = files.flatMap((f) => specifiers(readFileSync(join(ROOT, f), 'utf8')).filter((s) => s.startsWith('.')))
  expect(relative.length).toBeGreaterThan(100) // the scan sees the imports at all
  const importers = files.filter((f) => f !== WORKER && specifiers(readFileSync(join(ROOT, f), 'utf8'))
    .some((s) => s.startsWith('.') && normalize(join(dirname(f), s)) === WORKER))
  expect(importers).toEqual([])
})
