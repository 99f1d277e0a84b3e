/**
 * No file of the repository carries a merge conflict left unresolved. Why: a merge of two branches
 * that both edited docs/operations.md landed with `<<<<<<< HEAD` … `>>>>>>> bullmq` in two places,
 * and no test read that document; TypeScript would have caught it in code, nothing in prose.
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(import.meta.dir, '../..')
/** A conflict marker at the start of a line: 7 of `<`, `>` or `|` followed by a space or the end, or 7 `=` alone. */
const MARKER = /^(?:<{7}|>{7}|\|{7})(?: |$)|^={7}$/m

/** Text files of the project (node_modules and build output left out). */
function projectFiles(): string[] {
  const glob = new Bun.Glob('**/*.{ts,md,json,yml,yaml,sh,go,mjs,lua,conf,html,css}')
  return [...glob.scanSync({ cwd: ROOT, dot: true })].filter((f) => !/(^|\/)(node_modules|\.git|dist|build|bench\/results)\//.test(f))
}

describe('the repository', () => {
  test('has no unresolved merge conflict in any text file', () => {
    const files = projectFiles()
    expect(files.length).toBeGreaterThan(100)
    const found = files.filter((f) => MARKER.test(readFileSync(join(ROOT, f), 'utf8'))).sort()
    expect(found).toEqual([])
  })

  test('the check sees a marker where one is', () => {
    expect(MARKER.test('text\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> branch\n')).toBe(true)
    expect(MARKER.test('a table\n| --- |\n====== six\n')).toBe(false)
  })
})
