/**
 * Headless Chromium for the browser tests: Debian's `/usr/bin/chromium` (installed by `.ci/run`)
 * driven by playwright-core, with the flags this machine needs (no sandbox as root; no background
 * networking, whose connections the closed network refuses) and a fresh profile of the test's own.
 *
 * @example
 * ```ts
 * if (!HAVE_CHROMIUM) console.warn('skipped')
 * const context = await launchChromium(join(tmp.dir, 'profile'), { colorScheme: 'dark' })
 * ```
 */
import { existsSync } from 'node:fs'
import { chromium, type BrowserContext } from 'playwright-core'

/** Debian's Chromium. */
export const CHROMIUM = '/usr/bin/chromium'

/** True when {@link CHROMIUM} is installed. */
export const HAVE_CHROMIUM = existsSync(CHROMIUM)

/** Extra launch options a test may set (viewport, colour scheme). */
export interface LaunchOptions {
  viewport?: { width: number; height: number }
  colorScheme?: 'light' | 'dark'
}

/**
 * A persistent context on `profileDir` (how playwright takes a fresh --user-data-dir of our
 * choosing). The launch gets 20 s: Chromium's first start on a fresh or loaded machine (font
 * caches) takes seconds, so a hook that calls this needs a timeout above bun's 5 s default.
 *
 * @example const context = await launchChromium('/tmp/profile')
 */
export function launchChromium(profileDir: string, options: LaunchOptions = {}): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20_000,
    ...options,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  })
}
