/**
 * The docs name files, folders and headings; these tests fail when one of them does not exist.
 * Read: README.md, docs/*.md, bench/README.md and the comments of src/ (which point at docs
 * sections). Paths under a folder that .gitignore lists (bench/results/, written by the benches)
 * and templates (`src/tasks/<name>.ts`) are not checked.
 */
import { describe, expect, test } from 'bun:test'
import { Glob } from 'bun'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')
const DOCS = ['README.md', 'bench/README.md', ...[...new Glob('docs/*.md').scanSync(ROOT)].sort()]
const SOURCES = [...new Glob('src/**/*.ts').scanSync(ROOT)].sort()

// Folders .gitignore names outright (`bench/results/`): generated, so absent from a fresh clone.
const IGNORED = read('.gitignore').split('\n').map((l) => l.trim()).filter((l) => l.includes('/') && !/[*?[!#]/.test(l))

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

const headings = (doc: string) => new Set(read(doc).split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, ''))))

// A repository path, bare or in backticks: a known top folder, then path characters. Not when a
// template (`<name>`, `*`, `{a,b}`) follows, and not inside a longer path or URL.
const PATH = /(?<![\w./@:-])((?:src|test|bench|docs|scripts|\.ci)\/[\w./-]*[\w/])(#[\w-]+)?(?![<*{])/g

// A brace list of paths, as shells expand it: `test/llm/{sse,wire}.test.ts`.
const BRACES = /(?<![\w./@:-])((?:src|test|bench|docs|scripts|\.ci)\/[\w./-]*)\{([\w.,-]+)\}([\w./-]*[\w/])?/g

/** What is wrong with each path (and `#anchor` of a doc) that `text` names. */
function missingPaths(text: string): string[] {
  const out: string[] = []
  for (const m of text.matchAll(BRACES)) {
    for (const part of (m[2] as string).split(',')) {
      const path = `${m[1]}${part}${m[3] ?? ''}`
      if (!existsSync(join(ROOT, path))) out.push(path)
    }
  }
  for (const m of text.matchAll(PATH)) {
    const path = m[1] as string
    if (IGNORED.some((dir) => path.startsWith(dir))) continue
    if (!existsSync(join(ROOT, path))) out.push(path)
    else if (m[2] !== undefined && path.endsWith('.md') && !headings(path).has(m[2].slice(1))) out.push(`${path}${m[2]} (no such heading)`)
  }
  return out
}

describe('paths and anchors the docs name exist', () => {
  test('the scan finds paths at all (or an empty list below would mean nothing)', () => {
    expect(DOCS.length).toBeGreaterThan(8)
    expect(DOCS.flatMap((d) => [...read(d).matchAll(PATH)]).length).toBeGreaterThan(100)
  })

  test.each(DOCS)('every path and docs anchor that %s names exists', (doc) => {
    expect(missingPaths(read(doc))).toEqual([])
  })

  test.each(DOCS)('every relative link of %s reaches a file, and a heading of it when it has #anchor', (doc) => {
    const wrong: string[] = []
    for (const m of read(doc).matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1] as string
      if (/^[a-z]+:/i.test(link)) continue // https:, mailto:
      const [path = '', anchor] = link.split('#')
      const target = path === '' ? doc : normalize(join(dirname(doc), path))
      if (!existsSync(join(ROOT, target))) wrong.push(link)
      else if (anchor !== undefined && target.endsWith('.md') && !headings(target).has(anchor)) wrong.push(`${link} (no such heading)`)
    }
    expect(wrong).toEqual([])
  })

  test('every path and docs anchor a comment in src/ names exists', () => {
    const wrong = SOURCES.flatMap((f) => missingPaths(read(f)).map((p) => `${f}: ${p}`))
    expect(wrong).toEqual([])
  })

  test('the checks catch a missing file, a missing heading and a broken link, and skip templates', () => {
    expect(missingPaths('see src/pool/nowhere.ts and docs/pool.md#no-such-section')).toEqual(['src/pool/nowhere.ts', 'docs/pool.md#no-such-section (no such heading)'])
    expect(missingPaths('write `src/tasks/<name>.ts`; see docs/pool.md#files and bench/results/pool.md')).toEqual([])
    expect(missingPaths('test/llm/{sse,wire,nope}.test.ts')).toEqual(['test/llm/nope.test.ts'])
    expect(slug('Startup time and memory')).toBe('startup-time-and-memory')
    expect(slug('`POOL_WAKE`: message or waitAsync?')).toBe('pool_wake-message-or-waitasync')
  })
})
