/**
 * The README is part of the product: these tests fail when it drifts from the code.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { createApp } from '../src/app.ts'
import { testDeps } from './support/deps.ts'
import { configTable } from '../scripts/config-table.ts'
import { SPECS } from '../src/config.ts'

const readme = await Bun.file(new URL('../README.md', import.meta.url)).text()

describe('README', () => {
  test('its configuration table is exactly the one generated from SPECS', () => {
    expect(readme).toContain(configTable())
    for (const s of SPECS) expect(readme).toContain(`\`${s.env}\``)
  })

  test('shows the set-up and the two commands that CI runs', () => {
    expect(readme).toContain('npm install -g bun')
    expect(readme).toContain('bun install')
    expect(readme).toContain('bun start')
    expect(readme).toContain('bun test')
  })

  test('every doc it links to exists', async () => {
    for (const [, path] of readme.matchAll(/\]\(((?:docs|bench)\/[^)#]+)(?:#[^)]*)?\)/g)) {
      expect(await Bun.file(new URL(`../${path}`, import.meta.url)).exists()).toBe(true)
    }
  })

  test('its endpoint list names every route of the OpenAPI document', async () => {
    const t = await testDeps({ workers: 1 })
    afterAll(() => t.close())
    const res = await createApp(t.deps).handle(new Request('http://localhost/swagger/json'))
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> }
    const missing: string[] = []
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        const route = `${method.toUpperCase()} ${path.replaceAll(/\{(\w+)\}/g, ':$1')}`
        if (!readme.includes(route)) missing.push(route)
      }
    }
    expect(missing).toEqual([])
  })
})
