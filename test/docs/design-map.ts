/**
 * Reading docs/design.md's map of `src/` and the real imports of `src/**`, so that
 * design-map.test.ts can hold one against the other. Nothing here knows a file name of the tree:
 * the rows come from the document and the files from the disk, so moving a file means editing
 * a row of the map, never this file.
 *
 * The map is the markdown table whose header is `| path | holds | may import |`:
 * - "path": one or more backticked paths (`src/http/`, `src/main.ts`); a folder ends with `/`.
 * - "may import": backticked paths relative to `src/` (`http/`, `config.ts`), each optionally
 *   followed by `(types)` (only `import type` / `export type` of it); text outside backticks is
 *   prose ("nothing"). An empty cell (rows such as `test/`) means the row is not checked.
 *
 * @example
 * ```ts
 * const map = parseMap(await Bun.file('docs/design.md').text())
 * const files = await sourceFiles('.')
 * importViolations(map, files) // [] when every import is one its row allows
 * ```
 */
import { Glob } from 'bun'
import { dirname, join, normalize } from 'node:path'

/** What one row of the map allows its files to import. */
export interface Allowance {
  /** The row imported, as the map names it (`src/http/`). */
  row: string
  /** Only type imports (`(types)` in the cell). */
  typesOnly: boolean
}

/** One row of the map. */
export interface MapRow {
  /** Its paths from the repository root (`src/http/`, `src/main.ts`). */
  paths: string[]
  /** Undefined when the row's "may import" cell is empty (not a `src/` row). */
  mayImport: Allowance[] | undefined
}

/** One import statement (or dynamic `import()`) of a source file. */
export interface SourceImport {
  /** As written (`../errors.ts`, `elysia`). */
  specifier: string
  /** For a relative import: the target from the repository root (`src/errors.ts`). */
  target: string | undefined
  /** `import type …` / `export type … from`: erased at run time. */
  typeOnly: boolean
}

/** A source file and its imports. */
export interface SourceFile {
  /** From the repository root, `/`-separated (`src/http/front/index.ts`). */
  path: string
  imports: SourceImport[]
}

const HEADER = /^\|\s*path\s*\|\s*holds\s*\|\s*may import\s*\|\s*$/

/**
 * The rows of the map table in `markdown`; throws when there is no such table (the test must not
 * pass vacuously because the table was renamed).
 *
 * @example parseMap('| path | holds | may import |\n| --- | --- | --- |\n| `src/a.ts` | a | `b/` (types) |')
 * // [{ paths: ['src/a.ts'], mayImport: [{ row: 'src/b/', typesOnly: true }] }]
 */
export function parseMap(markdown: string): MapRow[] {
  const lines = markdown.split('\n')
  const at = lines.findIndex((l) => HEADER.test(l.trim()))
  if (at < 0) throw new Error('no "| path | holds | may import |" table in the document')
  const rows: MapRow[] = []
  for (const line of lines.slice(at + 2)) {
    if (!line.trim().startsWith('|')) break
    const cells = line.trim().slice(1, -1).split('|').map((c) => c.trim())
    if (cells.length !== 3) throw new Error(`map row without three cells: ${line}`)
    const [pathCell, , importCell] = cells as [string, string, string]
    const paths = [...pathCell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string)
    if (paths.length === 0) throw new Error(`map row names no path: ${line}`)
    const mayImport = importCell === ''
      ? undefined
      : [...importCell.matchAll(/`([^`]+)`(\s*\(types\))?/g)].map((m) => ({ row: `src/${m[1]}`, typesOnly: m[2] !== undefined }))
    rows.push({ paths, mayImport })
  }
  return rows
}

// An import or re-export statement at the start of a line (so not inside a `* @example` comment
// line): the clause may span lines but holds no `=`, `(`, `)`, quote or `;`, so the match cannot
// run on into the next statement.
const STATIC = /^[ \t]*(import|export)\b([^'";=()]*?)\bfrom\s*['"]([^'"]+)['"]|^[ \t]*import\s*['"]([^'"]+)['"]/gm
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g

/**
 * The imports of one source text; relative ones are resolved against `path`.
 *
 * @example scanImports('src/a/b.ts', "import type { X } from '../c.ts'")
 * // [{ specifier: '../c.ts', target: 'src/c.ts', typeOnly: true }]
 */
export function scanImports(path: string, text: string): SourceImport[] {
  const out: SourceImport[] = []
  const resolveFrom = (specifier: string) => specifier.startsWith('.') ? normalize(join(dirname(path), specifier)) : undefined
  for (const m of text.matchAll(STATIC)) {
    const specifier = (m[3] ?? m[4]) as string
    out.push({ specifier, target: resolveFrom(specifier), typeOnly: m[2] !== undefined && /^\s*type\s/.test(m[2]) })
  }
  for (const m of text.matchAll(DYNAMIC)) {
    const lineStart = text.lastIndexOf('\n', m.index) + 1
    if (/^\s*(\*|\/\/)/.test(text.slice(lineStart, m.index))) continue // in a comment
    const specifier = m[1] as string
    out.push({ specifier, target: resolveFrom(specifier), typeOnly: false })
  }
  return out
}

/** Every `.ts` file under `src/` of the repository at `root`, with its imports. */
export async function sourceFiles(root: string): Promise<SourceFile[]> {
  const files: SourceFile[] = []
  for (const path of [...new Glob('src/**/*.ts').scanSync({ cwd: root })].sort()) {
    files.push({ path, imports: scanImports(path, await Bun.file(join(root, path)).text()) })
  }
  return files
}

/**
 * The row a repository path belongs to: the most specific row whose path is it or a folder
 * containing it; undefined when none is.
 *
 * @example rowOf(rows, 'src/http/front/index.ts') // the `src/http/` row, or `src/http/front/` if the map has one
 */
export function rowOf(rows: readonly MapRow[], path: string): { row: MapRow; path: string } | undefined {
  let best: { row: MapRow; path: string } | undefined
  for (const row of rows) {
    for (const p of row.paths) {
      const holds = p.endsWith('/') ? path.startsWith(p) : path === p
      if (holds && (best === undefined || p.length > best.path.length)) best = { row, path: p }
    }
  }
  return best
}

/**
 * Every import of `files` that its row does not allow, as readable sentences. Imports of
 * packages, of files outside `src/` and within one row are not judged; a file with no row is
 * judged by the coverage check, not here.
 *
 * @example importViolations(rows, files) // ['src/sync/retry.ts imports src/http/auth/index.ts: row `src/sync/` may not import `src/http/`']
 */
export function importViolations(rows: readonly MapRow[], files: readonly SourceFile[]): string[] {
  const out: string[] = []
  for (const file of files) {
    const from = rowOf(rows, file.path)
    if (from === undefined || from.row.mayImport === undefined) continue
    for (const imp of file.imports) {
      if (imp.target === undefined || !imp.target.startsWith('src/')) continue
      const to = rowOf(rows, imp.target)
      if (to === undefined) {
        out.push(`${file.path} imports ${imp.target}, which no row of the map holds`)
        continue
      }
      if (to.row === from.row) continue
      const allowed = from.row.mayImport.find((a) => to.row.paths.includes(a.row))
      if (allowed === undefined) {
        out.push(`${file.path} imports ${imp.target}: row \`${from.path}\` may not import \`${to.path}\``)
      } else if (allowed.typesOnly && !imp.typeOnly) {
        out.push(`${file.path} imports ${imp.target} at run time: row \`${from.path}\` may import only types of \`${to.path}\``)
      }
    }
  }
  return out
}

/**
 * A cycle among the rows' "may import" arrows, as the list of row paths around it, or undefined.
 *
 * @example allowanceCycle(rows) // undefined, or ['src/a/', 'src/b/', 'src/a/']
 */
export function allowanceCycle(rows: readonly MapRow[]): string[] | undefined {
  const byPath = new Map<string, MapRow>()
  for (const row of rows) for (const p of row.paths) byPath.set(p, row)
  const name = (row: MapRow) => row.paths[0] as string
  const done = new Set<MapRow>()
  const stack: MapRow[] = []
  const visit = (row: MapRow): string[] | undefined => {
    if (done.has(row)) return undefined
    const at = stack.indexOf(row)
    if (at >= 0) return [...stack.slice(at), row].map(name)
    stack.push(row)
    for (const a of row.mayImport ?? []) {
      const next = byPath.get(a.row)
      const cycle = next === undefined ? undefined : visit(next)
      if (cycle) return cycle
    }
    stack.pop()
    done.add(row)
    return undefined
  }
  for (const row of rows) {
    const cycle = visit(row)
    if (cycle) return cycle
  }
  return undefined
}
