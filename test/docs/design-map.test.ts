/**
 * docs/design.md's map of `src/` is the tree: these tests read both (no file name of the tree is
 * written here) and fail when the map names a path that does not exist, misses a folder or a
 * top-level module, or allows less than the code imports. When a file moves, edit its row in
 * docs/design.md.
 */
import { describe, expect, test } from 'bun:test'
import { readdirSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { allowanceCycle, importViolations, parseMap, rowOf, scanImports, sourceFiles, type SourceFile } from './design-map.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const design = await Bun.file(`${ROOT}docs/design.md`).text()
const rows = parseMap(design)
const files = await sourceFiles(ROOT)

const kindOf = (path: string): 'dir' | 'file' | 'missing' => {
  try {
    return statSync(`${ROOT}${path}`).isDirectory() ? 'dir' : 'file'
  } catch {
    return 'missing'
  }
}

describe('docs/design.md: the map of src/', () => {
  test('has rows, and every src/ row says what it may import', () => {
    expect(rows.length).toBeGreaterThan(10)
    const srcRows = rows.filter((r) => r.paths.some((p) => p.startsWith('src/')))
    expect(srcRows.filter((r) => r.mayImport === undefined).map((r) => r.paths)).toEqual([])
  })

  test('every path a row names exists: a folder row (ending in /) is a folder, any other row a file', () => {
    const wrong: string[] = []
    for (const p of rows.flatMap((r) => r.paths)) {
      const kind = kindOf(p)
      if (kind !== (p.endsWith('/') ? 'dir' : 'file')) wrong.push(`${p}: ${kind}`)
    }
    expect(wrong).toEqual([])
  })

  test('every folder and every module at the top of src/ has a row of its own', () => {
    const named = new Set(rows.flatMap((r) => r.paths))
    const missing = readdirSync(`${ROOT}src`, { withFileTypes: true })
      .map((e) => (e.isDirectory() ? `src/${e.name}/` : `src/${e.name}`))
      .filter((p) => !named.has(p))
    expect(missing).toEqual([])
  })

  test('every source file belongs to a row', () => {
    expect(files.length).toBeGreaterThan(50)
    expect(files.map((f) => f.path).filter((p) => rowOf(rows, p) === undefined)).toEqual([])
  })

  test('every "may import" entry names a row of the map', () => {
    const named = new Set(rows.flatMap((r) => r.paths))
    const unknown = rows.flatMap((r) => (r.mayImport ?? []).map((a) => a.row)).filter((p) => !named.has(p))
    expect(unknown).toEqual([])
  })

  test('no file imports a row that its own row does not allow (and "(types)" rows only as types)', () => {
    // The scan must see the real imports, or an empty list of violations would mean nothing.
    expect(files.flatMap((f) => f.imports).filter((i) => i.target?.startsWith('src/')).length).toBeGreaterThan(100)
    expect(importViolations(rows, files)).toEqual([])
  })

  test('the "may import" arrows form no cycle: no import runs back up', () => {
    expect(allowanceCycle(rows)).toBeUndefined()
  })

  test('the worker side, as the map names it, loads no Elysia (so none of the server) at run time', () => {
    // "The worker side (`src/pool/worker.ts`, `src/tasks/`) must not import Elysia or the server".
    const sentence = /The worker side \(([^)]*)\)/.exec(design)
    expect(sentence).not.toBeNull()
    const roots = [...(sentence as RegExpExecArray)[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string)
    const start = files.filter((f) => roots.some((r) => (r.endsWith('/') ? f.path.startsWith(r) : f.path === r)))
    expect(start.length).toBeGreaterThan(roots.length - 1)
    const byPath = new Map(files.map((f) => [f.path, f]))
    const seen = new Set<string>()
    const packages = new Set<string>()
    const walk = (f: SourceFile) => {
      if (seen.has(f.path)) return
      seen.add(f.path)
      for (const i of f.imports) {
        if (i.typeOnly) continue // erased: the worker never loads it
        if (i.target === undefined) packages.add(i.specifier)
        else if (byPath.has(i.target)) walk(byPath.get(i.target) as SourceFile)
      }
    }
    for (const f of start) walk(f)
    // Every file of the server (app, routes, the front) imports Elysia or reaches a file that does.
    expect(packages.size).toBeGreaterThan(0)
    expect([...packages].filter((p) => p === 'elysia' || p.startsWith('@elysiajs/'))).toEqual([])
  })
})

describe('the map checker itself', () => {
  const map = parseMap([
    '| path | holds | may import |',
    '| --- | --- | --- |',
    '| `src/a/` | a | `b/` (types), `c.ts` |',
    '| `src/b/` | b | `c.ts` |',
    '| `src/c.ts` | c | nothing |',
    '| `test/` | tests | |',
  ].join('\n'))

  test('reads paths and allowances, and leaves rows with an empty cell unchecked', () => {
    expect(map).toEqual([
      { paths: ['src/a/'], mayImport: [{ row: 'src/b/', typesOnly: true }, { row: 'src/c.ts', typesOnly: false }] },
      { paths: ['src/b/'], mayImport: [{ row: 'src/c.ts', typesOnly: false }] },
      { paths: ['src/c.ts'], mayImport: [] },
      { paths: ['test/'], mayImport: undefined },
    ])
  })

  test('fails loudly when the document has no map table', () => {
    expect(() => parseMap('# design\n| folder | holds |\n')).toThrow('no "| path | holds | may import |" table')
  })

  test('reports an import of a row that is not allowed, and a run-time import of a types-only row', () => {
    const files: SourceFile[] = [
      { path: 'src/c.ts', imports: scanImports('src/c.ts', "import { x } from './b/x.ts'") },
      { path: 'src/a/one.ts', imports: scanImports('src/a/one.ts', "import { y } from '../b/y.ts'\nimport type { Z } from '../b/z.ts'\nimport { w } from './w.ts'") },
    ]
    expect(importViolations(map, files)).toEqual([
      'src/c.ts imports src/b/x.ts: row `src/c.ts` may not import `src/b/`',
      'src/a/one.ts imports src/b/y.ts at run time: row `src/a/` may import only types of `src/b/`',
    ])
  })

  test('finds a cycle among the arrows', () => {
    const cyclic = parseMap('| path | holds | may import |\n| --- | --- | --- |\n| `src/a/` | a | `b/` |\n| `src/b/` | b | `a/` |\n')
    expect(allowanceCycle(cyclic)).toEqual(['src/a/', 'src/b/', 'src/a/'])
    expect(allowanceCycle(map)).toBeUndefined()
  })

  test('reads multi-line, re-export and dynamic imports, and skips the examples in doc comments', () => {
    const text = [
      '/**',
      ' * @example',
      " * import { a } from '../nowhere.ts'",
      " * await import('../nowhere-either.ts')",
      ' */',
      'import {',
      '  b,',
      '  type C,',
      "} from '../b.ts'",
      "export type { D } from './d.ts'",
      "export * from './e.ts'",
      "import './side-effect.ts'",
      "const m = await import('elysia')",
    ].join('\n')
    expect(scanImports('src/x/y.ts', text)).toEqual([
      { specifier: '../b.ts', target: 'src/b.ts', typeOnly: false },
      { specifier: './d.ts', target: 'src/x/d.ts', typeOnly: true },
      { specifier: './e.ts', target: 'src/x/e.ts', typeOnly: false },
      { specifier: './side-effect.ts', target: 'src/x/side-effect.ts', typeOnly: false },
      { specifier: 'elysia', target: undefined, typeOnly: false },
    ])
  })
})
