// Pipeline stages with a `map`: the path grammar, what a map can and cannot reach, and the whole
// thing over a real server (422 at submit, invalid_input without retries at run time).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors.ts'
import { MAX_MAPPED_RESULT_BYTES, applyMap, mapProblem } from '../../src/jobs/stage-map.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { testConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { tempDir } from '../support/deps.ts'

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (err) {
    return err instanceof AppError ? `${err.code}: ${err.message}` : String(err)
  }
  return undefined
}

describe('applyMap', () => {
  test('picks fields, array items and whole values onto the constant fields of the stage input', () => {
    const prev = '{"a":{"b":[10,{"c":"x"}]},"n":null,"list":[1,2]}'
    expect(JSON.parse(applyMap(prev, { x: '$.a.b[1].c', y: '$.a.b[0]', n: '$.n', all: '$.list', root: '$' }, '{"k":true,"x":"overwritten"}'))).toEqual({
      k: true, x: 'x', y: 10, n: null, all: [1, 2], root: JSON.parse(prev),
    })
    expect(applyMap(new TextEncoder().encode('{"d":"h"}'), { text: '$.d' })).toBe('{"text":"h"}')
  })

  test('a path the result lacks is invalid_input naming the field, whether a key, an index or a step into a scalar', () => {
    for (const path of ['$.missing', '$.a[5]', '$.a[0].x', '$.s.length', '$.o.toString', '$.o.__proto__', '$.a.length']) {
      expect(codeOf(() => applyMap('{"a":[1],"s":"str","o":{}}', { f: path }))).toBe(`invalid_input: map /f: ${path} is not in the previous result`)
    }
  })

  test('__proto__ is an ordinary key of the built input, never its prototype', () => {
    const out = applyMap('{"p":{"polluted":true}}', { __proto__x: '$.p' }, '{"__proto__":{"polluted":true}}')
    expect(JSON.parse(out)).toEqual({ __proto__x: { polluted: true } , ['__proto__']: { polluted: true } })
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  test('a result that is not JSON, or larger than the map reads, is invalid_input', () => {
    expect(codeOf(() => applyMap('not json', { f: '$' }))).toBe('invalid_input: map: the previous result is not JSON')
    const big = `{"s":"${'x'.repeat(MAX_MAPPED_RESULT_BYTES)}"}`
    expect(codeOf(() => applyMap(big, { f: '$.s' }))).toStartWith('invalid_input: map: the previous result is')
  })
})

describe('mapProblem', () => {
  test('accepts plain paths and refuses everything else', () => {
    expect(mapProblem({ text: '$.digest', first: '$.items[0].id', all: '$' })).toBeUndefined()
    for (const bad of ['digest', '$..x', '$.a[*]', '$[-1]', '$.a[01]', "$['a']", '$.a.', '$.1a', '$.a b', '$.a[1000000]', `$${'.a'.repeat(17)}`]) {
      expect(mapProblem({ f: bad })).toBeString()
    }
    expect(mapProblem({})).toBeString()
    expect(mapProblem({ 'a-b': '$' })).toBeString()
    expect(mapProblem(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`f${i}`, '$'])))).toBeString()
  })
})

describe('pipelines with a map over a real server', () => {
  let srv: RunningServer
  let dir: { dir: string; remove(): void }
  beforeAll(async () => {
    dir = tempDir()
    srv = await startServer(testConfig({ port: 0, host: '127.0.0.1', workers: 1, dataDir: dir.dir, rateLimitRps: 0, requestTimeout: 30_000 }), { log: silentLogger() })
  }, 30_000)
  afterAll(async () => {
    await srv.shutdown()
    dir.remove()
  }, 30_000)
  const submit = (pipeline: unknown[]) =>
    fetch(`${srv.url}jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pipeline, maxAttempts: 3 }) })
  async function settled(id: string): Promise<{ state: string; attempts: number; error?: { code: string; message: string } }> {
    for (let i = 0; i < 1200; i++) {
      const job = (await (await fetch(`${srv.url}jobs/${id}`)).json()) as { state: string; attempts: number; error?: { code: string; message: string } }
      if (job.state !== 'queued' && job.state !== 'running') return job
      await Bun.sleep(25)
    }
    throw new Error('job did not finish')
  }

  test('a bad map, a map on stage 1, or an input on a later stage without a map is a 422 naming the stage', async () => {
    const cases: Array<[unknown[], string]> = [
      [[{ task: 'hash', input: { text: 'a' } }, { task: 'hash', map: { text: 'digest' } }], '/pipeline/1/map'],
      [[{ task: 'hash', input: { text: 'a' } }, { task: 'hash', map: { text: '$.x[*]' } }], '/pipeline/1/map'],
      [[{ task: 'hash', input: { text: 'a' }, map: { text: '$' } }], '/pipeline/0/map'],
      [[{ task: 'hash', input: { text: 'a' } }, { task: 'hash', input: { text: 'b' } }], '/pipeline/1/input'],
      [[{ task: 'hash', input: { text: 'a' } }, { task: 'hash', input: 'text', map: { text: '$.digest' } }], '/pipeline/1/input'],
    ]
    for (const [pipeline, path] of cases) {
      const res = await submit(pipeline)
      expect(res.status).toBe(422)
      const body = (await res.json()) as { error: { code: string; details?: Array<{ path: string }> } }
      expect(body.error.code).toBe('validation_failed')
      expect(JSON.stringify(body.error.details)).toContain(path)
    }
  }, 20_000)

  test('a map picks the previous result into the next input, and the job view shows it', async () => {
    const res = await submit([{ task: 'hash', input: { text: 'hello' } }, { task: 'hash', input: { algorithm: 'sha512' }, map: { text: '$.digest' } }])
    expect(res.status).toBe(202)
    const { id, pipeline } = (await res.json()) as { id: string; pipeline: unknown[] }
    expect(pipeline[1]).toEqual({ task: 'hash', input: { algorithm: 'sha512' }, map: { text: '$.digest' } })
    expect((await settled(id)).state).toBe('succeeded')
    const first = new Bun.CryptoHasher('sha256').update('hello').digest('hex')
    const result = (await (await fetch(`${srv.url}jobs/${id}/result`)).json()) as { digest: string }
    expect(result.digest).toBe(new Bun.CryptoHasher('sha512').update(first).digest('hex'))
  }, 40_000)

  test('a path the previous result lacks fails the job invalid_input at once, without retries', async () => {
    const res = await submit([{ task: 'hash', input: { text: 'hello' } }, { task: 'hash', map: { text: '$.nope' } }])
    const { id } = (await res.json()) as { id: string }
    const job = await settled(id)
    expect(job.state).toBe('failed')
    expect(job.attempts).toBe(1)
    expect(job.error?.code).toBe('invalid_input')
    expect(job.error?.message).toBe('stage 2/2 (hash) failed: map /text: $.nope is not in the previous result')
  }, 40_000)
})
