/**
 * The `curl` examples of README.md and docs/*.md run as written against the app, in the order a
 * reader would type them (one fresh server per document, so `POST /users` then `GET /users/1`
 * holds), and answer what the text around them says:
 * - a `# HTTP/1.1 NNN` line after the command: that status;
 * - a `# {"error":{"code":"…"` answer: that code and its status (src/errors.ts);
 * - a `# {…}` answer that is complete JSON: exactly that body;
 * - otherwise: a 2xx.
 * Not run: commands with a placeholder (`<id>`), a literal job id (ids are made at submit),
 * streams (`curl -N`), stdin bodies (`@-`), files (they need files in FILES_DIR), shell variables
 * (`$API_TOKEN`) and hosts other than localhost:3000. `/messages` runs against a local fake of the LLM upstream.
 *
 * The pipeline of docs/jobs.md is submitted too and must succeed with the result shown under it, and the task that docs/tasks.md
 * shows how to add runs on a real worker pool.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { Glob } from 'bun'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createApp } from '../../src/app.ts'
import { ERRORS, type ErrorCode } from '../../src/errors.ts'
import { WorkerPool } from '../../src/pool/pool.ts'
import { tempDir, testDeps } from '../support/deps.ts'
import { startFakeLlm } from '../support/fake-llm.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DOCS = ['README.md', ...[...new Glob('docs/*.md').scanSync(ROOT)].sort()]

/** One runnable example: the request and what the document says it answers. */
interface Example {
  line: number
  command: string
  method: string
  path: string
  headers: Record<string, string>
  body: string | undefined
  expect: { status: number } | { code: ErrorCode } | { json: unknown } | { ok: true }
}

/** Why a curl command is not run, or undefined when it is. */
function skipReason(command: string): string | undefined {
  if (!command.includes('localhost:3000')) return 'another host'
  if (/<\w+>/.test(command)) return 'placeholder'
  if (/[0-9a-f]{8}-[0-9a-f]{4}-/.test(command)) return 'a literal job id'
  if (/\s-N\s/.test(command)) return 'stream'
  if (command.includes('@-')) return 'stdin body'
  if (command.includes('/files/')) return 'files'
  if (/\$[A-Z_]+/.test(command)) return 'a shell variable (e.g. $API_TOKEN: the servers here run without one)'
  return undefined
}

/** The curl examples of one markdown document, in order. */
function examplesOf(markdown: string): Example[] {
  const lines = markdown.split('\n')
  const out: Example[] = []
  for (let i = 0; i < lines.length; i++) {
    // A command line of a shell block starts with `curl` (one fed from a pipe reads stdin: skipped).
    if (!(lines[i] as string).startsWith('curl ')) continue
    let command = lines[i] as string
    const at = i
    while (command.trimEnd().endsWith('\\') && i + 1 < lines.length) command = `${command.trimEnd().slice(0, -1)} ${(lines[++i] as string).trim()}`
    const comment = /\s#\s(.*)$/.exec(command.replace(/'[^']*'/g, (q) => q.replaceAll('#', '\u0000')))
    command = command.split(' | ')[0] as string
    if (skipReason(command) !== undefined) continue
    const quoted = (flag: string) => [...command.matchAll(new RegExp(`${flag} '([^']*)'`, 'g'))].map((m) => m[1] as string)
    const body = quoted('-d')[0]
    const url = /'?localhost:3000(\/[^'\s]*)'?/.exec(command)?.[1] as string
    const headers: Record<string, string> = {}
    for (const h of quoted('-H')) headers[h.slice(0, h.indexOf(':')).trim().toLowerCase()] = h.slice(h.indexOf(':') + 1).trim()
    const method = /-X (\w+)/.exec(command)?.[1] ?? (body !== undefined ? 'POST' : /-\w*I/.test(command) ? 'HEAD' : 'GET')
    // What the document says it answers: a trailing comment, or the comment lines just after.
    const said = [comment?.[1]?.replaceAll('\u0000', '#') ?? '']
    for (let j = i + 1; j < lines.length && (lines[j] as string).startsWith('#'); j++) said.push((lines[j] as string).slice(1).trim())
    const text = said.join(' ').trim()
    const status = /HTTP\/1\.1 (\d{3})/.exec(text)?.[1]
    const code = /"error":\{"code":"(\w+)"/.exec(text)?.[1]
    let expectation: Example['expect'] = { ok: true }
    if (status !== undefined) expectation = { status: Number(status) }
    else if (code !== undefined) expectation = { code: code as ErrorCode }
    else if (text.startsWith('{')) {
      try {
        expectation = { json: JSON.parse(text) }
      } catch {
        // An abbreviated answer (`…`, `...`): only its success is checked.
      }
    }
    out.push({ line: at + 1, command, method, path: url, headers, body, expect: expectation })
  }
  return out
}

const fake = startFakeLlm()
afterAll(() => fake.stop())

describe('the curl examples of the docs run as written', () => {
  test('the docs have examples to run (or the loop below would check nothing)', () => {
    const all = DOCS.flatMap((d) => examplesOf(readFileSync(join(ROOT, d), 'utf8')))
    expect(all.length).toBeGreaterThan(15)
    expect(all.filter((e) => 'json' in e.expect).length).toBeGreaterThan(0)
    expect(all.filter((e) => 'code' in e.expect).length).toBeGreaterThan(0)
  })

  test.each(DOCS)('%s', async (doc) => {
    const examples = examplesOf(readFileSync(join(ROOT, doc), 'utf8'))
    if (examples.length === 0) return
    const t = await testDeps({ requestTimeout: 30_000, llmBaseUrl: fake.url, llmApiKey: 'sk-test' })
    try {
      const app = createApp(t.deps)
      const wrong: string[] = []
      for (const e of examples) {
        const res = await app.handle(new Request(`http://localhost:3000${e.path}`, { method: e.method, headers: e.headers, body: e.body ?? null }))
        const text = await res.text()
        const got = `${res.status} ${text.slice(0, 200)}`
        const ok = 'status' in e.expect ? res.status === e.expect.status
          : 'code' in e.expect ? res.status === ERRORS[e.expect.code].status && text.includes(`"code":"${e.expect.code}"`)
          : 'json' in e.expect ? res.status < 300 && Bun.deepEquals(JSON.parse(text), e.expect.json)
          : res.status >= 200 && res.status < 300
        if (!ok) wrong.push(`${doc}:${e.line} ${e.command}\n  expected ${JSON.stringify(e.expect)}, got ${got}`)
      }
      expect(wrong).toEqual([])
    } finally {
      await t.close()
    }
  })
})

describe('the JSON examples of docs/jobs.md', () => {
  test('its pipeline example succeeds', async () => {
    const jobsMd = readFileSync(join(ROOT, 'docs/jobs.md'), 'utf8')
    const block = /```json\n(\{"pipeline"[^\n]*)\n```/.exec(jobsMd)?.[1]
    expect(block).toBeDefined()
    const t = await testDeps({ requestTimeout: 30_000 })
    try {
      const app = createApp(t.deps)
      const res = await app.handle(new Request('http://localhost/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: block as string }))
      expect(res.status).toBe(202)
      const { id } = (await res.json()) as { id: string }
      let job: { state: string; error?: unknown } = { state: 'queued' }
      for (let i = 0; i < 200 && (job.state === 'queued' || job.state === 'running'); i++) {
        await Bun.sleep(50)
        job = (await (await app.handle(new Request(`http://localhost/jobs/${id}`))).json()) as typeof job
      }
      expect(job).toMatchObject({ state: 'succeeded' })
      // The result the text shows under the block is the one the pipeline gives.
      const shown = /```json\n\{"pipeline"[^\n]*\n```\n\nResult: `([^`]+)`/.exec(jobsMd)?.[1]
      expect(shown).toBeDefined()
      const result = await app.handle(new Request(`http://localhost/jobs/${id}/result`))
      expect(await result.json()).toEqual(JSON.parse(shown as string))
    } finally {
      await t.close()
    }
  })
})

describe('the task example of docs/tasks.md ("Adding a task")', () => {
  test('runs on a real pool as written and answers what its handler says', async () => {
    const tasksMd = readFileSync(join(ROOT, 'docs/tasks.md'), 'utf8')
    const section = tasksMd.slice(tasksMd.indexOf('## Adding a task'))
    const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1]?.replaceAll(/^ {3}/gm, '')
    expect(code).toContain('defineTask(')
    const name = /export const (\w+) = defineTask/.exec(code as string)?.[1] as string
    // The file as written, loaded from a temporary directory: its two imports point at the real
    // modules, and a TASKS list hands it to the pool's workers (the `extraTasks` option).
    const module = (code as string)
      .replace("from './types.ts'", `from '${join(ROOT, 'src/tasks/types.ts')}'`)
      .replace("from '@sinclair/typebox'", `from '${Bun.resolveSync('@sinclair/typebox', ROOT)}'`)
    const dir = tempDir('highperf-task-example-')
    const file = join(dir.dir, `${name}.ts`)
    await Bun.write(file, `${module}\nexport const TASKS = [${name}]\n`)
    const pool = new WorkerPool({ workers: 1, queueLimit: 16, extraTasks: Bun.pathToFileURL(file) })
    try {
      const out = await pool.run(name, '{"text":"hello"}', { timeoutMs: 10_000 })
      expect(JSON.parse(new TextDecoder().decode(out))).toEqual({ text: 'HELLO' })
      expect(pool.catalog().map((t) => t.name)).toContain(name)
    } finally {
      await pool.close(5_000)
      dir.remove()
    }
  })
})
