/**
 * Swagger UI in a real browser: Debian's headless Chromium, driven by playwright-core, opens
 * /swagger on a real server, finds every documented operation, and runs "Try it out" on
 * GET /healthz. Every request the page makes must stay on the server's own host: the UI works
 * offline because highperf serves its assets itself.
 *
 * Skipped (with a message) only when /usr/bin/chromium is missing; `.ci/run` installs it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import type { BrowserContext } from 'playwright-core'
import { testConfig } from '../src/config.ts'
import { silentLogger } from '../src/log.ts'
import { startServer, type RunningServer } from '../src/server.ts'
import { tempDir } from './support/deps.ts'
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from './support/browser.ts'

const haveChromium = HAVE_CHROMIUM
if (!haveChromium) console.warn(`swagger.browser.test: SKIPPED, ${CHROMIUM} is missing (apt-get install chromium; .ci/run does it)`)

describe.skipIf(!haveChromium)('Swagger UI in headless Chromium', () => {
  const tmp = tempDir('highperf-browser-')
  let srv: RunningServer
  let context: BrowserContext

  beforeAll(async () => {
    srv = await startServer(
      testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 1 }),
      { log: silentLogger() },
    )
    context = await launchChromium(join(tmp.dir, 'profile'))
    // Chromium's first start on a fresh machine (font caches) or a loaded one takes seconds: give
    // the hook the launch's own 20 s, not bun's 5 s default (a fresh-clone CI run timed out here).
  }, 30_000)

  afterAll(async () => {
    await context?.close().catch(() => {})
    await srv?.shutdown()
    tmp.remove()
  })

  test('lists every documented operation and executes GET /healthz through "Try it out", all offline', async () => {
    const origin = new URL(srv.url).host
    const foreign: string[] = []
    const failed: string[] = []
    context.on('request', (r) => { if (!r.url().startsWith('data:') && new URL(r.url()).host !== origin) foreign.push(r.url()) })
    const page = await context.newPage()
    page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`))
    page.on('pageerror', (e) => failed.push(`page error: ${e.message}`))
    page.setDefaultTimeout(10_000)
    // The page's strict CSP (src/routes/docs) must block nothing the UI needs: a violation is a
    // broken page somewhere (a style, an icon, the document's fetch).
    const violations: string[] = []
    await page.exposeFunction('reportCspViolation', (v: string) => { violations.push(v) })
    // A string, not a function: the test's TypeScript has no DOM types.
    await page.addInitScript({
      content: "document.addEventListener('securitypolicyviolation', (e) => window.reportCspViolation(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sample))",
    })

    const res = await page.goto(`${srv.url}swagger`)
    expect(res?.status()).toBe(200)
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self';")
    expect(res?.headers()['x-frame-options']).toBe('DENY')
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'highperf' }).waitFor()

    // Every path of the document is on the page (the users, tasks... routes as other parts land them).
    const doc = (await (await fetch(`${srv.url}swagger/json`)).json()) as { paths: Record<string, unknown> }
    const documented = Object.keys(doc.paths).sort()
    expect(documented).toContain('/healthz')
    await page.locator('.opblock-summary-path[data-path="/healthz"]').waitFor()
    const shown = await page.locator('.opblock-summary-path').evaluateAll((els) => els.map((e) => e.getAttribute('data-path') ?? ''))
    expect([...new Set(shown)].sort()).toEqual(documented)

    // Expand GET /healthz, "Try it out", "Execute": the live response is 200 "ok".
    const op = page.locator('.opblock-get').filter({ has: page.locator('.opblock-summary-path[data-path="/healthz"]') })
    await op.locator('.opblock-summary').click()
    await op.getByRole('button', { name: 'Try it out' }).click()
    await op.getByRole('button', { name: 'Execute' }).click()
    const live = op.locator('.live-responses-table')
    const status = live.locator('tr.response .response-col_status').first()
    await status.waitFor()
    expect((await status.textContent())?.trim()).toBe('200')
    const body = live.locator('tr.response .response-col_description pre.microlight').first()
    await body.waitFor()
    expect((await body.textContent())?.trim()).toBe('ok')

    expect(foreign).toEqual([])
    expect(violations).toEqual([])
    // A 404 (e.g. a favicon) is a response; "failed" means an asset was blocked or broken.
    expect(failed).toEqual([])
  }, 30_000)
})
