/**
 * src/jobs/bullmq/ui-files.ts, the list of the dashboard's UI files the binary embeds, matches the
 * installed `@bull-board/ui` (else an update of the package would ship a binary whose page asks
 * for scripts it does not carry), and the adapter serves what the page template asks for from it.
 */
import { describe, expect, test } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { UI_FILES_MODULE, uiFilesSource } from '../../../scripts/bull-board-ui.ts'
import { UI_STATIC, UI_TEMPLATES, UI_VERSION } from '../../../src/jobs/bullmq/ui-files.ts'

const ROOT = resolve(import.meta.dir, '../../..')

describe('the embedded list of bull-board UI files', () => {
  test('is what scripts/bull-board-ui.ts writes for the installed @bull-board/ui', () => {
    const installed = (JSON.parse(readFileSync(Bun.resolveSync('@bull-board/ui/package.json', ROOT), 'utf8')) as { version: string }).version
    expect(UI_VERSION).toBe(installed)
    expect(readFileSync(resolve(ROOT, UI_FILES_MODULE), 'utf8')).toBe(uiFilesSource(ROOT))
  })

  test('names existing files: the page template and every script, stylesheet and icon it asks for', () => {
    const template = UI_TEMPLATES['index.ejs']
    expect(template).toBeString()
    for (const path of [template as string, ...UI_STATIC.values()]) expect(existsSync(path)).toBe(true)
    const asked = [...readFileSync(template as string, 'utf8').matchAll(/(?:src|href)="static\/([^"]+)"/g)].map((m) => m[1] as string)
    expect(asked.length).toBeGreaterThanOrEqual(4)
    for (const name of asked) expect(UI_STATIC.has(name)).toBe(true)
    // bull-board's default favicons and the English messages, fetched by the page's scripts.
    for (const name of ['images/logo.svg', 'favicon-32x32.png', 'locales/en-US/messages.json']) expect(UI_STATIC.has(name)).toBe(true)
  })
})
