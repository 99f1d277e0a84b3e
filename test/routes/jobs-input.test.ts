/**
 * A job's input over HTTP, stored once and answered as the JSON text that was submitted
 * (src/jobs/view.ts), including rows an earlier version wrote into an existing jobs.sqlite: a
 * pipeline's first input stored twice, and an input nested deeper than request bodies may be now.
 * Real server on port 0, jobs.sqlite prepared in its data directory before it starts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { testConfig } from '../../src/config.ts'
import { openSqliteJobStore } from '../../src/jobs/sqlite-store.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { tempDir } from '../support/deps.ts'

const tmp = tempDir('highperf-jobs-input-')
const dataDir = join(tmp.dir, 'data')
const dbPath = join(dataDir, 'jobs.sqlite')
// Recent: the retention sweep (JOB_TTL) deletes older finished jobs at start.
const T = Date.now()
// UUIDv7-shaped ids, as the server issues.
const OLD_PIPELINE = '019a3f00-0000-7000-8000-000000000001'
const OLD_DEEP = '019a3f00-0000-7000-8000-000000000002'
const DEPTH = 50_000
const deep = '['.repeat(DEPTH) + ']'.repeat(DEPTH)

let srv: RunningServer

/** Writes rows the way the route of earlier versions did, straight into the file. */
async function writeEarlierRows(): Promise<void> {
  mkdirSync(dataDir, { recursive: true })
  await openSqliteJobStore(dbPath).close() // the current schema (unchanged since)
  const db = new Database(dbPath)
  const insert = db.prepare(`INSERT INTO jobs (id, task, input, pipeline, state, priority, run_at, attempts, max_attempts, timeout_ms,
    progress, progress_message, result, idem_key, created_at, updated_at, started_at, finished_at)
    VALUES (?1, ?2, ?3, ?4, 'succeeded', 0, ?5, 1, 3, 30000, 100, '', ?6, ?7, ?5, ?5, ?5, ?5)`)
  // The first input twice: in `input` and in the first stage.
  insert.run(OLD_PIPELINE, 'pipeline', '{"text":"hello"}', JSON.stringify([{ task: 'echo', input: '{"text":"hello"}' }, { task: 'hash' }]), T, new TextEncoder().encode('{"digest":"x"}'), 'old-key')
  // Stored before bodies had a depth limit: far deeper than any JSON value may be walked recursively.
  insert.run(OLD_DEEP, 'echo', deep, null, T, new TextEncoder().encode(deep), null)
  insert.finalize()
  db.close()
}

beforeAll(async () => {
  await writeEarlierRows()
  srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', workers: 1, rateLimitRps: 0, requestTimeout: 10_000, dataDir, filesDir: join(tmp.dir, 'files') }))
})
afterAll(async () => {
  await srv.shutdown()
  tmp.remove()
})

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${srv.url}jobs`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

/** The raw row, read from the file while the server runs (WAL lets a reader in). */
function row(id: string): { input: string; pipeline: string | null } {
  const db = new Database(dbPath, { readonly: true })
  try {
    return db.query<{ input: string; pipeline: string | null }, [string]>('SELECT input, pipeline FROM jobs WHERE id = ?1').get(id)!
  } finally {
    db.close()
  }
}

describe('a job input is stored once and answered as submitted', () => {
  test("a pipeline's first input is stored in its first stage only, and still shown as the job's input", async () => {
    const res = await post({ pipeline: [{ task: 'echo', input: { text: 'hi', n: [1, 2] } }, { task: 'hash' }] })
    expect(res.status).toBe(202)
    const job = (await res.json()) as { id: string; input: unknown; pipeline: unknown }
    expect(job.input).toEqual({ text: 'hi', n: [1, 2] })
    expect(job.pipeline).toEqual([{ task: 'echo', input: { text: 'hi', n: [1, 2] } }, { task: 'hash' }])
    const stored = row(job.id)
    expect(stored.input).toBe('')
    expect(stored.pipeline!.split('\\"text\\"')).toHaveLength(2) // the input's text once
  })

  test('the input is the submitted JSON text, spliced into every view: GET, list, events', async () => {
    const res = await post({ task: 'echo', input: { b: 'é', a: [1.5, null, { c: true }] } })
    const { id } = (await res.json()) as { id: string }
    const text = '"input":{"b":"é","a":[1.5,null,{"c":true}]}'
    expect(await (await fetch(`${srv.url}jobs/${id}`)).text()).toContain(text)
    expect(await (await fetch(`${srv.url}jobs?task=echo&limit=1000`)).text()).toContain(text)
    expect(await (await fetch(`${srv.url}jobs/${id}/events`)).text()).toContain(text)
  })
})

describe('input text that is not JSON (only a direct caller of the runner can store it)', () => {
  test('the job fails with invalid_json, and it and every list holding it stay readable JSON', async () => {
    const { job } = await srv.deps.jobs.submit({ task: 'echo', input: '{"a":1', maxAttempts: 3 })
    let view: { state: string; input: unknown; error?: { code: string } } | undefined
    for (let i = 0; i < 500 && view?.state !== 'failed'; i++) {
      view = (await (await fetch(`${srv.url}jobs/${job.id}`)).json()) as typeof view
      await Bun.sleep(10)
    }
    expect(view).toMatchObject({ state: 'failed', input: '{"a":1', error: { code: 'invalid_json' } })
    const list = (await (await fetch(`${srv.url}jobs?task=echo&limit=1000`)).json()) as { jobs: Array<{ id: string }> }
    expect(list.jobs.map((j) => j.id)).toContain(job.id)
  })
})

describe('rows an earlier version wrote', () => {
  test('a pipeline stored with its first input twice reads as before', async () => {
    const res = await fetch(`${srv.url}jobs/${OLD_PIPELINE}`)
    expect(res.status).toBe(200)
    const job = (await res.json()) as Record<string, unknown>
    expect(job.input).toEqual({ text: 'hello' })
    expect(job.pipeline).toEqual([{ task: 'echo', input: { text: 'hello' } }, { task: 'hash' }])
    expect(job.state).toBe('succeeded')
  })

  test('repeating its submit with its Idempotency-Key finds it; another request under that key is 409', async () => {
    const same = await post({ pipeline: [{ task: 'echo', input: { text: 'hello' } }, { task: 'hash' }] }, { 'idempotency-key': 'old-key' })
    expect(same.status).toBe(202)
    expect(same.headers.get('idempotent-replayed')).toBe('true')
    expect(((await same.json()) as { id: string }).id).toBe(OLD_PIPELINE)
    const other = await post({ pipeline: [{ task: 'echo', input: { text: 'bye' } }, { task: 'hash' }] }, { 'idempotency-key': 'old-key' })
    expect(other.status).toBe(409)
  })

  test(`an input nested ${DEPTH} deep is answered as stored, quickly, in every view; the event loop stays free`, async () => {
    const t0 = performance.now()
    const res = await fetch(`${srv.url}jobs/${OLD_DEEP}`)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).toContain(`"input":${deep},"state":"succeeded"`)
    const list = await fetch(`${srv.url}jobs?task=echo&limit=1000`)
    expect(list.status).toBe(200)
    expect(await list.text()).toContain(deep)
    const events = await (await fetch(`${srv.url}jobs/${OLD_DEEP}/events`)).text()
    expect(events).toContain(`event: state\ndata: {"id":"${OLD_DEEP}","task":"echo","input":${deep}`)
    // Generous: one linear splice each; a recursive parse and re-serialisation of 50 000 levels
    // is what must not happen (it failed or took seconds).
    expect(performance.now() - t0).toBeLessThan(3000)
    expect((await fetch(`${srv.url}healthz`)).status).toBe(200)
  })
})
