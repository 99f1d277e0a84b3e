/**
 * The status page in a real browser: Debian's headless Chromium, driven by playwright-core, opens
 * /status on a real server, sees it go live, then sees the charts and figures move while tasks
 * and jobs run: the "tasks done" tile, the HTTP rate and the drawn lines change. The page breaks
 * no rule of its CSP and asks for nothing off its own host. A screenshot is taken at the end; with
 * `UPDATE_SCREENSHOTS=1` it is written to docs/status.png (the README shows it), otherwise to a
 * temporary directory.
 *
 * Skipped (with a message) only when /usr/bin/chromium is missing; `.ci/run` installs it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join, resolve } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from '../support/browser.ts'

const haveChromium = HAVE_CHROMIUM
if (!haveChromium) console.warn(`status.browser.test: SKIPPED, ${CHROMIUM} is missing (apt-get install chromium; .ci/run does it)`)
const SCREENSHOT = process.env.UPDATE_SCREENSHOTS === '1' ? resolve(import.meta.dir, '../../docs/status.png') : null

describe.skipIf(!haveChromium)('status page in headless Chromium', () => {
  const tmp = tempDir('highperf-status-browser-')
  let srv: RunningServer
  let context: BrowserContext

  beforeAll(async () => {
    srv = await startServer(
      testConfig({ port: 0, host: '127.0.0.1', dataDir: join(tmp.dir, 'data'), filesDir: join(tmp.dir, 'files'), workers: 2, rateLimitRps: 0 }),
      { log: silentLogger() },
    )
    context = await launchChromium(join(tmp.dir, 'profile'), { viewport: { width: 1200, height: 700 }, colorScheme: 'dark' })
    // Chromium's first start on a loaded machine takes seconds: the launch's own 20 s, not bun's 5 s.
  }, 30_000)

  afterAll(async () => {
    await context?.close().catch(() => {})
    await srv?.shutdown()
    tmp.remove()
  })

  const attr = (page: Page, selector: string, name: string) => page.locator(selector).getAttribute(name)
  const num = async (page: Page, selector: string, name: string) => Number((await attr(page, selector, name)) ?? NaN)
  /**
   * Waits until `data-<key>` of element `id`, as a number, exceeds `above`. A function, not a
   * string: the page's CSP refuses eval. This file has no DOM typings, hence the narrow cast.
   */
  const dataAbove = (page: Page, id: string, key: string, above: number) =>
    page.waitForFunction(([id, key, above]) => {
      const doc = (globalThis as unknown as { document: { getElementById(id: string): { dataset: Record<string, string | undefined> } | null } }).document
      return Number(doc.getElementById(id)?.dataset[key]) > above
    }, [id, key, above] as const)

  /** Work for the charts: bursts of primes on both workers, a failing task, a few 404s, jobs. */
  async function load(base: string, seconds: number): Promise<void> {
    const until = Date.now() + seconds * 1000
    const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    let round = 0
    while (Date.now() < until) {
      round++
      const burst = 4 + (round % 5) * 3
      await Promise.all([
        ...Array.from({ length: burst }, (_, i) => post('/tasks/primes', { n: 150_000 + i * 20_000 })),
        post('/tasks/primes', { n: -1 }),
        fetch(`${base}/nope-${round}`),
        ...(round % 3 === 0 ? [post('/jobs', { task: 'sleep', input: { ms: 1500, steps: 3 } })] : []),
      ])
      await Bun.sleep(150)
    }
  }

  test('goes live, and its charts and figures move while tasks run, within its CSP and offline', async () => {
    const origin = new URL(srv.url).host
    const foreign: string[] = []
    const problems: string[] = []
    context.on('request', (r) => { if (!r.url().startsWith('data:') && new URL(r.url()).host !== origin) foreign.push(r.url()) })
    const page = await context.newPage()
    page.on('requestfailed', (r) => problems.push(`${r.url()} ${r.failure()?.errorText}`))
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
    // A CSP violation (an inline style or script the policy refuses) is reported on the console.
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`) })
    page.setDefaultTimeout(15_000)

    const res = await page.goto(`${srv.url}status`)
    expect(res?.status()).toBe(200)
    await page.locator('#conn[data-state="live"]').waitFor()
    // Two polls so rates exist, all idle: nothing done yet.
    await dataAbove(page, 'chart-http', 'points', 1)
    expect(await num(page, '#t-tasks', 'data-value')).toBe(0)
    const idleLine = await page.locator('#chart-tasks path.line').first().getAttribute('d')
    // Dark mode is honoured: the page background is the dark palette's.
    expect(await page.evaluate(() => {
      const g = globalThis as unknown as { document: { body: unknown }; getComputedStyle(e: unknown): { backgroundColor: string } }
      return g.getComputedStyle(g.document.body).backgroundColor
    })).toBe('rgb(13, 17, 23)')

    await load(srv.url.replace(/\/$/, ''), 6)

    // The figures follow: tasks done, the tasks/s and HTTP req/s lines have risen, and the lines redrew.
    await dataAbove(page, 't-tasks', 'value', 20)
    await dataAbove(page, 'chart-tasks', 'max', 0)
    await dataAbove(page, 'chart-http', 'max', 0)
    expect(await page.locator('#chart-tasks path.line').first().getAttribute('d')).not.toBe(idleLine)
    // The worker bars show the time spent running, and the task table has primes with its percentiles.
    const bars = await page.locator('#worker-bars li .fill').evaluateAll((els) => els.map((e) => parseFloat(e.getAttribute('style')?.match(/width:\s*([\d.]+)%/)?.[1] ?? '0')))
    expect(bars).toHaveLength(2)
    expect(bars.some((w) => w > 0)).toBe(true)
    const row = page.locator('#tasks-table tbody tr').filter({ hasText: 'primes' })
    expect(Number(await row.locator('td').nth(1).textContent())).toBeGreaterThan(20)
    // Every chart has its axes: three y labels and three time labels.
    for (const chart of ['workers', 'queue', 'latency', 'tasks', 'http', 'jobs']) {
      const labels = await page.locator(`#chart-${chart} svg text.axis`).allTextContents()
      expect({ chart, labels: labels.slice(3) }).toEqual({ chart, labels: ['−60s', '−30s', 'now'] })
    }

    const shot = await page.screenshot({ path: SCREENSHOT ?? join(tmp.dir, 'status.png'), fullPage: true })
    expect(shot.subarray(1, 4).toString()).toBe('PNG')

    expect(foreign).toEqual([])
    expect(problems).toEqual([])
  }, 60_000)
})
